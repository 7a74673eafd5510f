"""`ModelGateway`: a `Model` over an ordered chain of models, with retries, breakers,
timeouts, fallbacks and an honest last tier.

    from keel.models.gateway import ModelGateway
    model = ModelGateway(["openai:gpt-4o", "anthropic:claude-sonnet-4", "local:qwen2.5-coder-1.5b"])
    agent = Agent("support", model=model)

A `Model` like any other, so an agent, a tier router or another gateway takes it as is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from pathlib import Path

from keel.context import RunContext
from keel.exceptions import ConfigurationError, ModelError
from keel.messages import Message, ModelResponse, Usage
from keel.middleware.base import ModelCall, current_model_call
from keel.models._notes import note, set_span_attributes
from keel.models.base import Model, ModelRequest, ModelStreamEvent, TextDelta
from keel.models.budget import profile_of
from keel.models.errors import ModelUnavailableError
from keel.models.gateway._attempts import Attempts, label
from keel.models.gateway.policy import BreakerPolicy, LastResort, RetryPolicy
from keel.models.profiles import ModelProfile
from keel.models.registry import infer_model
from keel.principal import ANONYMOUS
from keel.resilience import SYSTEM_CLOCK, CircuitOpenError, Clock
from keel.tickets import Ticket, TicketSink

__all__ = ["ModelGateway"]

logger = logging.getLogger("keel.models.gateway")

DEFAULT_LAST_RESORT = LastResort()
START_KEY = "keel.gateway.start"
"""In `RunContext.metadata`: where in the chain this run starts (after escalations)."""
NOTED_KEY = "keel.gateway.start_noted"

_FAILURES = (ModelError, TimeoutError, CircuitOpenError)
"""What a try may fail with and the gateway handles; anything else is a bug, raised."""


class ModelGateway:
    """Tries `models` in order; see `RetryPolicy`, `BreakerPolicy` and `LastResort`.

    `last_resort=None` raises the last error instead of answering with an apology.
    """

    def __init__(
        self,
        models: Sequence[Model | str],
        *,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        last_resort: LastResort | None = DEFAULT_LAST_RESORT,
        clock: Clock = SYSTEM_CLOCK,
        name: str | None = None,
    ) -> None:
        if isinstance(models, str) or not models:
            raise ConfigurationError(
                "ModelGateway needs a list of models (objects or 'provider:model' strings), "
                f"got {models!r}"
            )
        self.models: tuple[Model, ...] = tuple(infer_model(m) for m in models)
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or BreakerPolicy()
        self.last_resort = last_resort
        self.clock = clock
        self._name = name or ",".join(label(m) for m in self.models)
        self.profile = _widest(self.models)
        """For budgets: the largest window, output cap and prices of the chain."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return "gateway"

    def _attempts(self, request: ModelRequest) -> Attempts:
        call = current_model_call.get()
        start = _start_of(call)
        if start and call is not None and call.context.metadata.get(NOTED_KEY) != start:
            call.context.metadata[NOTED_KEY] = start  # said once per escalation
            reason = "the output stayed invalid after repairs"
            note("fallback", f"this run moved to {label(self.models[start])}: {reason}")
        models = self.models[start:] or self.models[-1:]
        return Attempts(models, request, self.retry, self.breaker, self.clock)

    def escalate(self, context: RunContext) -> bool:
        """Serve the rest of this run from the next model of the chain (the loop asks
        when the output stays invalid after repairs); False at the end of the chain."""
        start = int(context.metadata.get(START_KEY, 0))
        if start + 1 >= len(self.models):
            return False
        context.metadata[START_KEY] = start + 1  # reported at the next call, as a decision
        return True

    async def request(self, request: ModelRequest) -> ModelResponse:
        attempts = self._attempts(request)
        for model, breaker in attempts:
            try:
                async with asyncio.timeout(attempts.timeout()):
                    response = await model.request(request)
            except _FAILURES as error:
                await attempts.failed(model, breaker, error)
                continue
            except BaseException:  # cancelled: no verdict on the endpoint
                breaker.release()
                raise
            attempts.succeeded(breaker)
            _answered(attempts, response)
            return response
        return await self._last_tier(request, attempts)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        attempts = self._attempts(request)
        for model, breaker in attempts:
            started = False
            try:
                async with aclosing(_first_timed(model, request, attempts.timeout())) as events:
                    async for event in events:
                        started = started or isinstance(event, TextDelta)
                        yield event
                        if isinstance(event, ModelResponse):
                            _answered(attempts, event)
            except _FAILURES as error:
                if started:  # the client saw text: a clean error now, never a second answer
                    raise attempts.broke_mid_stream(model, breaker, error) from error
                await attempts.failed(model, breaker, error)
                continue
            except BaseException:  # cancelled, or the client closed the stream
                breaker.release()
                raise
            attempts.succeeded(breaker)
            return
        response = await self._last_tier(request, attempts)
        yield TextDelta(response.message.text)
        yield response

    async def _last_tier(self, request: ModelRequest, attempts: Attempts) -> ModelResponse:
        last = attempts.errors[-1] if attempts.errors else None
        if self.last_resort is None:
            raise last if last is not None else ModelError(f"{self.name}: no model could be tried")
        ticket_id = await _open_ticket(self.last_resort, self.name, attempts)
        reply = self.last_resort.reply
        set_span_attributes(
            {"keel.gateway.last_resort": True, "keel.gateway.tries": attempts.tries}
        )
        if request.output_schema is not None:
            raise ModelUnavailableError(
                f"every model of {self.name} failed (last: {last}); the run's output is "
                "structured, so it ends with the apology instead of an invented output",
                reply=reply,
                ticket_id=ticket_id,
            )
        return ModelResponse(
            Message.assistant(reply),
            Usage(requests=0),
            model_name="last-resort",
            finish_reason="unavailable",
            provider="keel",
        )

    def __repr__(self) -> str:
        return f"ModelGateway([{', '.join(label(m) for m in self.models)}])"


async def _first_timed(
    model: Model, request: ModelRequest, timeout: float | None
) -> AsyncGenerator[ModelStreamEvent]:
    """The model's stream; its first event must come within `timeout` (time to first
    token — a stream may then take as long as its answer is)."""
    events = model.stream(request)
    try:
        try:
            async with asyncio.timeout(timeout):
                first = await anext(events)
        except StopAsyncIteration:
            return
        yield first
        async for event in events:
            yield event
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def _start_of(call: ModelCall | None) -> int:
    if call is None:
        return 0
    start = call.context.metadata.get(START_KEY, 0)
    return start if isinstance(start, int) and start > 0 else 0


def _answered(attempts: Attempts, response: ModelResponse) -> None:
    set_span_attributes(
        {
            "keel.gateway.answered_by": f"{response.provider}:{response.model_name}",
            "keel.gateway.tries": attempts.tries,
        }
    )


async def _open_ticket(policy: LastResort, chain: str, attempts: Attempts) -> str | None:
    """Open the support ticket; a sink that fails is logged, never raised to the user."""
    if not policy.open_ticket:
        return None
    call = current_model_call.get()
    context = call.context if call is not None else None
    ticket = Ticket.for_principal(
        "model_unavailable",
        f"every model of {chain} failed; the user got the last-resort reply",
        context.principal if context is not None else ANONYMOUS,
        run_id=context.run_id if context is not None else None,
        session_id=context.session_id if context is not None else None,
        detail={
            "chain": chain,
            "tries": attempts.tries,
            "errors": [_describe(e) for e in attempts.errors],
        },
    )
    try:
        sink = policy.tickets or _default_sink()
        return (await sink.open(ticket)).id
    except Exception:  # the user still gets the reply; the operator gets the log line
        logger.exception("could not open a support ticket for %s", chain)
        return None


def _describe(error: BaseException) -> dict[str, str]:
    return {"type": type(error).__name__, "kind": getattr(error, "kind", ""), "message": str(error)}


_sinks: dict[Path, TicketSink] = {}


def _default_sink() -> TicketSink:
    """The default app database's ticket store (`$KEEL_HOME/keel.db`), one per path."""
    from keel.settings import data_dir
    from keel.tickets import SQLiteTicketStore

    path = data_dir() / "keel.db"
    sink = _sinks.get(path)
    if sink is None:
        sink = _sinks[path] = SQLiteTicketStore(path)
    return sink


def _widest(models: Sequence[Model]) -> ModelProfile:
    profiles = [profile_of(m) for m in models]
    return ModelProfile(
        context_window=max(p.context_window for p in profiles),
        max_output_tokens=max(p.max_output_tokens for p in profiles),
        input_price=max(p.input_price for p in profiles),
        output_price=max(p.output_price for p in profiles),
        encoding=profiles[0].encoding,
    )
