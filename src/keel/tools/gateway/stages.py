"""The checking stages: validate → authorize → approve. Each is a small object with
`check(call)`; replace any of them in `ToolGateway(validate=…, authorize=…, approve=…)`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TypeVar

from pydantic_core import to_json

from keel.exceptions import ToolArgumentsError
from keel.messages import ToolResultPart
from keel.policy import Policy, PolicyRequest
from keel.policy.approvers import approval_request
from keel.ratelimit import RateLimiter
from keel.runs.pending import PendingAction
from keel.tools.gateway.call import GatewayCall

__all__ = ["Approve", "Authorize", "Validate"]

_T = TypeVar("_T")

CALLS_KEY = "keel.tool_calls"
"""Run metadata: how many times each tool was let through in this run (per-run caps)."""


@dataclass(frozen=True, slots=True)
class Validate:
    """Arguments must fit the size limit and the tool's JSON schema; each problem is
    reported to the model by field, so it can correct the call."""

    max_argument_bytes: int = 1_000_000

    async def check(self, g: GatewayCall) -> ToolResultPart | None:
        raw = g.call.arguments
        if len(raw) > 0:
            size = len(to_json(raw))
            if size > self.max_argument_bytes:
                return g.stop("invalid", _too_big(g.name, size, self.max_argument_bytes))
        try:
            g.arguments = g.tool.validate(raw)
        except ToolArgumentsError as exc:
            return g.stop("invalid", str(exc))
        return None


def _too_big(name: str, size: int, limit: int) -> str:
    return (
        f"invalid arguments for {name!r}: the arguments are {size:,} bytes of JSON, over "
        f"the {limit:,}-byte limit; send a reference (an id, a URL) instead of the content"
    )


@dataclass(frozen=True, slots=True)
class Authorize:
    """The policy decides; then per-tool rate limits and per-run caps. A denial reaches
    the model with its reason and the run goes on.

    `rate_limits` and `max_calls_per_run` are keyed by tool name (`*` patterns allowed);
    a rate limit's bucket is per tenant and tool.
    """

    policy: Policy | None = None
    rate_limits: Mapping[str, RateLimiter] = field(default_factory=dict[str, RateLimiter])
    max_calls_per_run: Mapping[str, int] = field(default_factory=dict[str, int])

    async def check(self, g: GatewayCall) -> ToolResultPart | None:
        if self.policy is not None:
            verdict = await self.policy.evaluate(self._request(g))
            if verdict is not None:
                if verdict.effect == "deny":
                    return g.stop("denied", verdict.reason)
                g.verdict = verdict
        if g.call.approved:
            return None  # counted and limited when it was first asked for
        return await self._rate_limited(g) or self._capped(g)

    def _request(self, g: GatewayCall) -> PolicyRequest:
        ctx = g.context
        return PolicyRequest.for_tool(
            g.name,
            g.arguments,
            principal=ctx.principal,
            agent=ctx.agent_name,
            context=ctx,
            annotations=g.tool.annotations,
        )

    async def _rate_limited(self, g: GatewayCall) -> ToolResultPart | None:
        limiter = _lookup(self.rate_limits, g.name) if self.rate_limits else None
        if limiter is None:
            return None
        decision = await limiter.acquire(f"tool:{g.context.principal.tenant_id}:{g.name}")
        if decision.allowed:
            return None
        wait = f"{decision.retry_after:.1f}"
        return g.stop("denied", f"rate limit for {g.name!r} reached; try again in {wait}s")

    def _capped(self, g: GatewayCall) -> ToolResultPart | None:
        cap = _lookup(self.max_calls_per_run, g.name) if self.max_calls_per_run else None
        if cap is None:
            return None
        counts: dict[str, int] = g.context.metadata.setdefault(CALLS_KEY, {})
        used = counts.get(g.name, 0)
        if used >= cap:
            return g.stop("denied", f"{g.name!r} may be called at most {cap} times in one run")
        counts[g.name] = used + 1
        return None


def _lookup(table: Mapping[str, _T], name: str) -> _T | None:
    if name in table:
        return table[name]
    return next((v for k, v in table.items() if fnmatchcase(name, k)), None)


@dataclass(frozen=True, slots=True)
class Approve:
    """A `require_approval` verdict suspends the run with the validated payload; an
    approved call runs only if `approvers` (a policy on the action `approve`) allows the
    person who approved it."""

    approvers: Policy | None = None

    async def check(self, g: GatewayCall) -> ToolResultPart | None:
        if g.call.approved:
            return await self._approved(g)
        if g.verdict.effect == "require_approval":
            g.decision, g.reason = "approval_required", g.verdict.reason
            g.call.suspend(g.verdict.reason)  # raises SuspendRun; the gateway audits it
        return None

    async def _approved(self, g: GatewayCall) -> ToolResultPart | None:
        g.decision = "approved"
        approver = g.context.approved_by
        if self.approvers is None:
            return None
        if approver is None:
            return g.stop("denied", "the approval does not say who gave it, so it is not used")
        pending = PendingAction(
            id="", kind="tool_call", reason="", tool_name=g.name, arguments=g.arguments
        )
        request = approval_request(approver, pending, g.context.principal, g.context.agent_name)
        verdict = await self.approvers.evaluate(request)
        if verdict is not None and not verdict.allowed:
            reason = f"{approver.label} may not approve {g.name!r}: {verdict.reason}"
            return g.stop("denied", reason)
        return None
