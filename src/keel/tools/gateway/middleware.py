"""`ToolGateway`: the one gateway every tool call passes, as tool-call middleware.

    validate → authorize → approve → execute → audit

Each stage is a small object you may replace (`ToolGateway(authorize=MyAuthorize())`).
A stage that stops a call (bad arguments, a denial, a rate limit) answers the model with
the reason and the run goes on; a call that needs a person suspends the run with the
validated payload. Every call that reaches the gateway — allowed, denied, invalid,
suspended, unavailable, replayed — leaves one entry in the audit chain, written in the
same transaction that finishes its ledger row.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from keel.messages import ToolResultPart
from keel.middleware import Middleware, SuspendRun, ToolCall, ToolHandler
from keel.policy import Policy
from keel.settings import data_dir
from keel.storage.sqlite import SQLiteDatabase
from keel.tools.gateway.audit_stage import Audit
from keel.tools.gateway.call import GatewayCall, Stage
from keel.tools.gateway.execute import Execute, GuardedTool, unavailable_content
from keel.tools.gateway.stages import Approve, Authorize, Validate
from keel.tools.gateway.store import GatewayStore, LedgerResult

__all__ = ["KeyLocks", "ToolGateway"]


class KeyLocks:
    """One asyncio lock per key while anyone holds or waits for it. Plain acquire /
    release rather than a context-manager generator: this is on every call's path."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def acquire(self, key: str) -> None:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting: no longer a user
            self._leave(key)
            raise

    def release(self, key: str) -> None:
        self._locks[key][0].release()
        self._leave(key)

    def _leave(self, key: str) -> None:
        lock, users = self._locks[key]
        if users == 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


class ToolGateway(Middleware):
    """The tool gateway. `policy` decides (see `keel.policy`); `approvers` says who may
    approve; `database` holds the ledger and audit chain (default: the app default
    `$KEEL_HOME/keel.db` — pass the same path as your `App(database=…)`: the gateway and
    the app's stores then share one connection, `SQLiteDatabase.shared`).
    Give any stage object to replace the default one built from these options."""

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        approvers: Policy | None = None,
        database: str | Path | SQLiteDatabase | None = None,
        store: GatewayStore | None = None,
        validate: Stage | None = None,
        authorize: Stage | None = None,
        approve: Stage | None = None,
        execute: Execute | None = None,
        audit: Audit | None = None,
    ) -> None:
        if store is None:
            if not isinstance(database, SQLiteDatabase):
                database = SQLiteDatabase.shared(database or data_dir() / "keel.db")
            store = GatewayStore(database)
        self.store = store
        self.validate = validate or Validate()
        self.authorize = authorize or Authorize(policy)
        self.approve = approve or Approve(approvers)
        self.execute = execute or Execute()
        if self.execute.store is None:
            self.execute.store = self.store
        self.audit = audit or Audit()
        self._calls = KeyLocks()

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        key = call.context.idempotency_key
        if key is None or call.tool is None or call.tool.annotations.read_only:
            return await self._handle(call, call_next)
        await self._calls.acquire(key)  # a duplicate in this process waits, then replays
        try:
            return await self._handle(call, call_next)
        finally:
            self._calls.release(key)

    async def _handle(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        g = GatewayCall(call=call, target=call.tool, started=time.perf_counter())
        try:
            result = await self._through(g, call_next)
        except SuspendRun as suspension:  # by the policy here, or by a layer inside
            g.decision, g.reason = "approval_required", suspension.reason
            self._settle(g, None)
            raise
        self._settle(g, result)
        return result

    async def _through(self, g: GatewayCall, call_next: ToolHandler) -> ToolResultPart:
        if g.target is None:
            g.decision = "unknown_tool"
            return await call_next(g.call)  # the core names the tools there are
        for stage in (self.validate, self.authorize, self.approve):
            stopped = await stage.check(g)
            if stopped is not None:
                return stopped
        return await self._execute(g, call_next)

    async def _execute(self, g: GatewayCall, call_next: ToolHandler) -> ToolResultPart:
        call = g.call
        call.tool = GuardedTool(g.tool, g, self.execute)
        try:
            result = await call_next(call)
        finally:
            call.tool = g.target
        if g.replayed is not None:
            return call.result(g.replayed.content or "", is_error=g.replayed.is_error)
        if g.unavailable is not None:
            return call.result(unavailable_content(g), is_error=True)
        if g.decision == "error":  # refused by the ledger: another process has it
            return call.result(g.reason, is_error=True)
        if result.is_error and g.decision in ("allowed", "approved"):
            g.decision = "error"
        return result

    async def on_tool_rejected(self, call: ToolCall, result: ToolResultPart) -> None:
        """A person rejected a call this gateway suspended: audited as `rejected`, with
        who rejected it (in the approver column) and the reason the model reads."""
        g = GatewayCall(call=call, target=call.tool, started=time.perf_counter())
        g.decision, g.reason = "rejected", result.content
        self._settle(g, result)

    def _settle(self, g: GatewayCall, result: ToolResultPart | None) -> None:
        row = self.audit.row(g, result, time.perf_counter())
        finished = None
        if g.ledger_key is not None and result is not None:
            finished = LedgerResult(g.ledger_key, result.content, result.is_error)
        self.store.settle(row, finished, self.audit.finish_row)
