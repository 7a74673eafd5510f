"""The execute stage: the tool runs under a timeout, its breaker and the idempotency
ledger; only tools declared idempotent or read-only are retried.

It runs *innermost*, as the tool itself: the gateway hands the core a `GuardedTool` in
the tool's place, so the ledger row is claimed after the run has checkpointed that the
call started, right before the side effect. A call the ledger finished is replayed, never
run again; one another live process owns is refused; one whose owner died is taken over
(the run has already decided a rerun is safe, or a person approved it).

A tool that is down (raises `ToolUnavailableError`, `ConnectionError`), times out, or
whose breaker is open gives the model a structured "unavailable" result telling it to
say so rather than guess — and, with a ticket sink, opens a ticket for a person.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.context import RunContext
from keel.exceptions import KeelError
from keel.models.base import ToolDefinition
from keel.resilience import SYSTEM_CLOCK, Backoff, CircuitBreaker, Clock, breaker_for
from keel.runs.lease import owner_alive, this_owner
from keel.tools.base import Tool, ToolAnnotations
from keel.tools.gateway.call import GatewayCall
from keel.tools.gateway.deadline import Deadline
from keel.tools.gateway.store import GatewayStore

if TYPE_CHECKING:
    from keel.tickets import TicketSink

__all__ = ["Execute", "GuardedTool", "ToolUnavailableError", "unavailable_content"]

OUTAGES: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


class ToolUnavailableError(KeelError):
    """Raised by a tool (an MCP client, an HTTP tool) whose backend cannot be reached."""


class _Stop(Exception):
    """Ends the tool call early; the gateway answers from `GatewayCall` instead."""


@dataclass(slots=True, kw_only=True)
class Execute:
    """Timeouts (seconds; per tool in `timeouts`), retries for retryable tools with
    `backoff`, a breaker per tool (`breakers=False` turns them off), the ledger in `store`
    (None: no ledger) and an optional ticket sink for outages."""

    timeout: float = 30.0
    timeouts: Mapping[str, float] = field(default_factory=dict[str, float])
    retries: int = 2
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.2, max_delay=2.0))
    breakers: bool = True
    breaker_threshold: int = 5
    breaker_reset: float = 30.0
    clock: Clock = SYSTEM_CLOCK
    tickets: TicketSink | None = None
    store: GatewayStore | None = None

    async def run(self, g: GatewayCall, arguments: dict[str, Any], ctx: RunContext) -> Any:
        if self.store is not None and not g.tool.annotations.read_only:
            self._claim(g, self.store, ctx)
            if g.replayed is not None:
                raise _Stop
        breaker = self._breaker(g.name)
        if breaker is not None and not breaker.allow():
            await self._unavailable(g, "it failed repeatedly, so calls are paused for a while")
        return await self._attempts(g, arguments, ctx, breaker)

    def _claim(self, g: GatewayCall, store: GatewayStore, ctx: RunContext) -> None:
        key = ctx.idempotency_key
        if key is None:
            return
        owner = this_owner()
        found = store.claim(key, g.name, owner)
        if found is None:
            g.ledger_key = key
        elif found.status == "finished":
            g.replayed, g.decision = found, "replayed"
        elif found.owner == owner or not owner_alive(found.owner, None, time.time()):
            if store.take_over(key, owner, found.owner):
                g.ledger_key = key
                return
            self._busy(g)
        else:
            self._busy(g)

    @staticmethod
    def _busy(g: GatewayCall) -> None:
        g.decision = "error"
        g.reason = (
            f"this call of {g.name!r} is being executed by another process right now; "
            "it is not run a second time"
        )
        raise _Stop

    def _breaker(self, name: str) -> CircuitBreaker | None:
        if not self.breakers:
            return None
        return breaker_for(
            f"tool:{name}",
            failure_threshold=self.breaker_threshold,
            reset_timeout=self.breaker_reset,
            clock=self.clock,
        )

    async def _attempts(
        self,
        g: GatewayCall,
        arguments: dict[str, Any],
        ctx: RunContext,
        breaker: CircuitBreaker | None,
    ) -> Any:
        tries = 1 + (self.retries if g.tool.annotations.retryable else 0)
        limit = self.timeouts.get(g.name, self.timeout)
        for attempt in range(1, tries + 1):
            try:
                return await _once(g, arguments, ctx, breaker, limit)
            except (*OUTAGES, ToolUnavailableError) as exc:
                if breaker is not None:
                    breaker.record_failure(_describe(exc, limit))
                if attempt == tries:
                    await self._unavailable(g, _describe(exc, limit))
                await self.clock.sleep(self.backoff.delay(attempt) or 0.0)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _unavailable(self, g: GatewayCall, reason: str) -> None:
        g.decision, g.unavailable, g.reason = "unavailable", reason, reason
        if self.tickets is not None:
            g.ticket_id = await _open_ticket(self.tickets, g, reason)
        raise _Stop


async def _once(
    g: GatewayCall,
    arguments: dict[str, Any],
    ctx: RunContext,
    breaker: CircuitBreaker | None,
    limit: float,
) -> Any:
    """One attempt under the timeout. An outage is the caller's to record; any answer —
    even the tool's own error — tells the breaker the tool is up (so a half-open probe
    closes it); a cancellation tells it nothing and frees the probe slot it held."""
    try:
        value = await _within(limit, g.tool.invoke(arguments, ctx))
    except (*OUTAGES, ToolUnavailableError):
        raise
    except Exception:
        if breaker is not None:
            breaker.record_success()
        raise
    except asyncio.CancelledError:
        if breaker is not None:
            breaker.release()
        raise
    if breaker is not None:
        breaker.record_success()
    return value


async def _within(seconds: float, work: Awaitable[Any]) -> Any:
    """`await work` under `asyncio.timeout(seconds)` semantics, at half its cost."""
    deadline = Deadline(seconds)
    try:
        value = await work
    except BaseException as exc:
        deadline.stop(exc)
        raise
    deadline.stop()
    return value


def _describe(exc: BaseException, limit: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"it did not answer within {limit:g}s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _open_ticket(sink: TicketSink, g: GatewayCall, reason: str) -> str:
    from keel.tickets import Ticket

    ctx = g.context
    ticket = Ticket.for_principal(
        "tool_unavailable",
        f"tool {g.name!r} was unavailable: {reason}",
        ctx.principal,
        run_id=ctx.run_id,
        session_id=ctx.session_id,
        detail={"tool": g.name, "call_id": ctx.tool_call_id, "agent": ctx.agent_name},
    )
    return (await sink.open(ticket)).id


def unavailable_content(g: GatewayCall) -> str:
    """What the model reads for an unavailable tool: structured, and plain about it."""
    body: dict[str, Any] = {
        "error": "unavailable",
        "tool": g.name,
        "reason": g.unavailable,
        "instruction": (
            "This tool cannot be used right now. Tell the user plainly that you cannot do "
            "this at the moment; do not guess or invent its result."
        ),
    }
    if g.ticket_id is not None:
        body["ticket"] = g.ticket_id
        body["instruction"] += f" A person will follow up (ticket {g.ticket_id})."
    return json.dumps(body)


@dataclass(frozen=True, slots=True, eq=False)
class GuardedTool:
    """Stands in for the tool during one call: arguments are already validated, and
    invoking goes through `Execute`."""

    inner: Tool
    gateway_call: GatewayCall
    execute: Execute

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def parameters(self) -> dict[str, Any]:
        return self.inner.parameters

    @property
    def annotations(self) -> ToolAnnotations:
        return self.inner.annotations

    @property
    def definition(self) -> ToolDefinition:
        return self.inner.definition

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return self.gateway_call.arguments  # validated by the gateway a moment ago

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> Any:
        return await self.execute.run(self.gateway_call, arguments, ctx)
