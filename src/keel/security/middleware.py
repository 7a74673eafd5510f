"""Limits as middleware: rate limits on input, cost budgets around each model call, and
a stop for runaway tool loops.

- `RateLimit` takes one token per run from each bucket that applies (user, tenant, and
  the API key id a server puts in `ctx.metadata["api_key_id"]`); refused, the run ends
  with a polite reply (`RateLimited`, a `RunBlocked`).
- `CostBudget` reserves `estimate(call)` before each model call and settles the real
  cost (`cost(response)`) after; a failed call releases its reservation.
- `LoopGuard` denies a tool call repeated with the same arguments more than `max_repeats`
  times in one run (the model is told, so it can stop), and fails the run past
  `max_denials` such refusals.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from keel.context import RunContext
from keel.exceptions import LimitExceeded, RunBlocked
from keel.messages import Message, ModelResponse, ToolResultPart
from keel.middleware.base import Middleware, ModelCall, ModelHandler, Respond, ToolCall, ToolHandler
from keel.ratelimit import RateLimiter
from keel.security.budgets import BudgetStore

__all__ = ["CostBudget", "LoopGuard", "RateLimit", "RateLimited"]

RATE_REPLY = "You're sending messages a little too fast. Please wait {seconds} s and try again."


class RateLimited(RunBlocked):
    def __init__(self, message: str, *, key: str, retry_after: float) -> None:
        super().__init__(message, reply=RATE_REPLY.format(seconds=max(1, round(retry_after))))
        self.key, self.retry_after = key, retry_after


class RateLimit(Middleware):
    def __init__(
        self, limiter: RateLimiter, *, per: tuple[str, ...] = ("api_key", "user", "tenant")
    ) -> None:
        self.limiter, self.per = limiter, per

    def keys(self, ctx: RunContext) -> list[str]:
        p = ctx.principal
        found = {
            "api_key": ctx.metadata.get("api_key_id"),
            "user": p.user_id and f"{p.tenant_id}/{p.user_id}",
            "tenant": p.tenant_id,
        }
        return [f"{kind}:{found[kind]}" for kind in self.per if found.get(kind)]

    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        for key in self.keys(ctx):
            decision = await self.limiter.acquire(key)
            if not decision.allowed:
                raise RateLimited(
                    f"rate limit for {key}", key=key, retry_after=decision.retry_after
                )
        return messages


def per_token_cost(input_per_1k: float, output_per_1k: float) -> Callable[[ModelResponse], float]:
    def cost(response: ModelResponse) -> float:
        usage = response.usage
        return usage.input_tokens / 1000 * input_per_1k + usage.output_tokens / 1000 * output_per_1k

    return cost


class CostBudget(Middleware):
    def __init__(
        self,
        store: BudgetStore,
        *,
        estimate: Callable[[ModelCall], float] | None = None,
        cost: Callable[[ModelResponse], float] | None = None,
    ) -> None:
        """`estimate` is what to reserve before a call (default: its worst case priced by
        `keel.models.profiles`); `cost` what it cost (default: the usage's reported cost)."""
        self.store = store
        self.estimate = estimate or _worst_case
        self.cost = cost or _reported_cost

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        reservation = await self.store.reserve(call.context.principal, self.estimate(call))
        try:
            response = await call_next(call)
        except BaseException:
            await self.store.settle(reservation, 0.0)  # nothing was spent: give it back
            raise
        await self.store.settle(reservation, self.cost(response))
        return response


def _worst_case(call: ModelCall) -> float:
    from keel.models.budget import worst_case_cost

    return worst_case_cost(call.model, call.request)


def _reported_cost(response: ModelResponse) -> float:
    return response.usage.cost


class LoopGuard(Middleware):
    def __init__(self, *, max_repeats: int = 3, max_denials: int = 3) -> None:
        self.max_repeats, self.max_denials = max_repeats, max_denials
        self._seen: dict[str, dict[str, int]] = {}

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        run = self._seen.setdefault(call.context.run_id, {})
        signature = call.call.tool_name + json.dumps(call.arguments, sort_keys=True, default=str)
        run[signature] = count = run.get(signature, 0) + 1
        if count > self.max_repeats:
            run["#denials"] = denials = run.get("#denials", 0) + 1
            if denials > self.max_denials:
                self._seen.pop(call.context.run_id, None)
                raise LimitExceeded(
                    f"runaway loop: {call.call.tool_name!r} repeated with the same arguments "
                    f"after {self.max_denials} refusals",
                    limit="loop_guard",
                )
            return call.deny(
                f"this exact call already ran {self.max_repeats} times; stop repeating it"
            )
        return await call_next(call)

    async def on_output(self, ctx: RunContext, message: Message) -> Message:
        self._seen.pop(ctx.run_id, None)
        return message


def fixed_estimate(amount: float) -> Callable[[Any], float]:
    return lambda _call: amount
