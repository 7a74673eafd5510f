"""The tool gateway in real runs: validate, authorize, approve, execute, audit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keel import Approve, Principal, RunContext, Runner, tool
from keel.exceptions import DecisionError
from keel.policy import PolicySet, allow, approvers, deny, require_approval
from keel.ratelimit import TokenBucket
from keel.resilience import ManualClock
from keel.tickets import InMemoryTicketSink
from keel.tools import SchemaTool
from keel.tools.gateway import Authorize, Execute, GatewayStore, ToolGateway, ToolUnavailableError
from tests.gateway.support import call_once, resumer, run_store, tool_result

CALLS: list[str] = []
CUSTOMER = Principal("alice", "acme", frozenset({"customer"}))
MANAGER = Principal("carol", "acme", frozenset({"manager"}))


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    CALLS.clear()


@tool
def refund(order_id: str, amount: int, ctx: RunContext) -> str:
    """Refund an order."""
    CALLS.append(f"refund {order_id} {amount} {ctx.idempotency_key}")
    return f"refunded {amount} on {order_id}"


@tool(read_only=True)
def lookup_order(order_id: str) -> dict[str, str]:
    """Look up an order."""
    CALLS.append(f"lookup {order_id}")
    return {"order_id": order_id, "status": "shipped"}


POLICY = PolicySet(
    [
        deny(tools=["refund"], when=lambda r: r.arguments["amount"] > 500, reason="over 500"),
        require_approval(
            tools=["refund"],
            when=lambda r: r.arguments["amount"] > 0,
            reason="refunds need a person",
        ),
    ]
)


def gateway(tmp_path: Path, **kw: object) -> ToolGateway:
    return ToolGateway(POLICY, database=tmp_path / "gw.db", **kw)  # type: ignore[arg-type]


async def test_an_allowed_call_runs_and_is_audited(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    result, model = await call_once(
        gw, [lookup_order], "lookup_order", {"order_id": "A1"}, principal=CUSTOMER
    )
    assert result.output == "done"
    assert tool_result(model).content == '{"order_id":"A1","status":"shipped"}'
    [entry] = gw.store.entries()
    assert (entry.entry.tool, entry.entry.decision, entry.entry.user_id) == (
        "lookup_order",
        "allowed",
        "alice",
    )
    assert entry.entry.tenant_id == "acme" and entry.entry.roles == "customer"
    assert entry.entry.agent == "desk" and '"A1"' in entry.entry.arguments
    assert "shipped" in entry.entry.result


async def test_a_denial_reaches_the_model_with_its_reason_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    gw = gateway(tmp_path)
    result, model = await call_once(gw, [refund], "refund", {"order_id": "A1", "amount": 900})
    assert result.status == "completed" and result.output == "done"
    seen = tool_result(model)
    assert seen.is_error and seen.content == "not allowed: over 500"
    assert CALLS == []
    [entry] = gw.store.entries()
    assert (entry.entry.decision, entry.entry.reason) == ("denied", "over 500")


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"order_id": "A1", "amount": "lots"}, "amount: Input should be a valid integer"),
        ({"order_id": "A1", "amount": 1, "note": "x"}, "note: Extra inputs are not permitted"),
        ({"order_id": "A1"}, "amount: Field required"),
    ],
)
async def test_bad_arguments_are_named_by_field_and_nothing_runs(
    tmp_path: Path, arguments: dict[str, object], problem: str
) -> None:
    gw = gateway(tmp_path)
    _, model = await call_once(gw, [refund], "refund", arguments)
    seen = tool_result(model)
    assert seen.is_error and problem in seen.content
    assert seen.content.startswith("invalid arguments for 'refund'")
    assert CALLS == []
    assert gw.store.entries()[0].entry.decision == "invalid"


async def test_ten_megabytes_of_arguments_are_refused_before_any_schema_work(
    tmp_path: Path,
) -> None:
    gw = gateway(tmp_path)
    huge = {"order_id": "x" * 10_000_000, "amount": 1}
    _, model = await call_once(gw, [refund], "refund", huge)
    seen = tool_result(model)
    assert seen.is_error and "over the 1,000,000-byte limit" in seen.content
    assert "10,000,0" in seen.content and CALLS == []
    assert len(gw.store.entries()[0].entry.arguments) <= 4000  # the audit keeps a bounded cut


async def test_an_unknown_tool_is_told_the_real_names_and_audited(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    _, model = await call_once(gw, [lookup_order], "lookup", {"order_id": "A1"})
    assert "unknown tool 'lookup'; available tools: lookup_order" in tool_result(model).content
    assert gw.store.entries()[0].entry.decision == "unknown_tool"


async def test_a_conditional_approval_suspends_with_the_validated_payload_then_runs_once(
    tmp_path: Path,
) -> None:
    gw = gateway(tmp_path)
    store = run_store(tmp_path / "runs.db")
    result, _ = await call_once(
        gw, [refund], "refund", {"order_id": "A1", "amount": 40}, principal=CUSTOMER, store=store
    )
    assert result.status == "suspended" and CALLS == []
    [pending] = result.pending
    assert (pending.tool_name, pending.arguments) == ("refund", {"order_id": "A1", "amount": 40})
    assert pending.reason == "refunds need a person"
    runner = resumer(store, gw, [refund])
    done = await runner.resume(
        result.run_id, decisions={pending.id: Approve()}, principal=Principal("carol", "acme")
    )
    assert done.status == "completed"
    assert len(CALLS) == 1
    newest, first = gw.store.entries()
    assert (first.entry.decision, newest.entry.decision) == ("approval_required", "approved")
    assert newest.entry.approver == "carol@acme"


async def test_a_zero_refund_needs_no_approval(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    result, _ = await call_once(gw, [refund], "refund", {"order_id": "A1", "amount": 0})
    assert result.status == "completed" and len(CALLS) == 1


APPROVERS = PolicySet([allow(kind="approve", names=["refund"], roles=["manager"])], default="deny")


async def test_who_may_approve_is_checked_when_deciding_and_again_before_running(
    tmp_path: Path,
) -> None:
    gw = gateway(tmp_path, approvers=APPROVERS)
    store = run_store(tmp_path / "runs.db")
    result, _ = await call_once(
        gw, [refund], "refund", {"order_id": "A1", "amount": 40}, principal=CUSTOMER, store=store
    )
    pending = result.pending[0].id
    strict = resumer(store, gw, [refund], can_decide=approvers(APPROVERS))
    with pytest.raises(DecisionError):
        await strict.resume(result.run_id, decisions={pending: Approve()}, principal=CUSTOMER)
    # A runner that lets anyone decide: the gateway still refuses the approval itself.
    lax = resumer(store, gw, [refund])
    done = await lax.resume(result.run_id, decisions={pending: Approve()}, principal=CUSTOMER)
    assert done.status == "completed" and CALLS == []
    assert gw.store.entries()[0].entry.reason.startswith("alice@acme may not approve 'refund'")


async def test_two_concurrent_approvals_of_one_call_execute_it_once(tmp_path: Path) -> None:
    gw = gateway(tmp_path)
    store = run_store(tmp_path / "runs.db")
    result, _ = await call_once(
        gw, [refund], "refund", {"order_id": "A1", "amount": 40}, store=store
    )
    pending = result.pending[0].id
    # Two "processes": separate stores and gateways on the same database files.
    runners = [
        resumer(run_store(tmp_path / "runs.db"), gateway(tmp_path), [refund]) for _ in range(2)
    ]
    outcomes = await asyncio.gather(
        *(r.resume(result.run_id, decisions={pending: Approve()}) for r in runners),
        return_exceptions=True,
    )
    completed = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(completed) == 1 and completed[0].status == "completed"
    assert len(CALLS) == 1


async def test_a_duplicate_delivery_of_one_call_replays_its_result(tmp_path: Path) -> None:
    from keel.messages import ToolCallPart
    from keel.middleware import ToolCall

    gw = gateway(tmp_path)
    ctx = RunContext(run_id="r1", agent_name="desk", step=1, tool_call_id="c1")
    part = ToolCallPart("refund", {"order_id": "A1", "amount": 0}, "c1")

    async def core(call: ToolCall) -> object:
        from keel._run.tool_calls import invoke_tool

        async def started(_: ToolCall) -> None:
            return None

        return await invoke_tool(call, {"refund": refund}, 10_000, started)

    calls = [ToolCall(context=ctx, call=part, tool=refund) for _ in range(3)]
    results = await asyncio.gather(*(gw.wrap_tool_call(c, core) for c in calls))  # type: ignore[arg-type]
    assert len(CALLS) == 1
    assert {r.content for r in results} == {"refunded 0 on A1"}
    decisions = sorted(e.entry.decision for e in gw.store.entries())
    assert decisions == ["allowed", "replayed", "replayed"]


async def test_rate_limits_and_per_run_caps_deny_with_the_reason(tmp_path: Path) -> None:
    authorize = Authorize(
        rate_limits={"lookup_*": TokenBucket(rate=0.001, burst=1)},
        max_calls_per_run={"refund": 1},
    )
    gw = ToolGateway(database=tmp_path / "gw.db", authorize=authorize)
    _, first = await call_once(gw, [lookup_order], "lookup_order", {"order_id": "A1"})
    _, second = await call_once(gw, [lookup_order], "lookup_order", {"order_id": "A2"})
    assert not tool_result(first).is_error
    assert "rate limit for 'lookup_order' reached; try again in" in tool_result(second).content
    from keel import Agent
    from keel.testing import ScriptedModel, tool_call

    model = ScriptedModel(
        [
            tool_call("refund", {"order_id": "A1", "amount": 0}),
            tool_call("refund", {"order_id": "A2", "amount": 0}),
            "done",
        ]
    )
    await Runner(middleware=[gw]).run(Agent(name="a", model=model, tools=[refund]), "go")
    assert (
        tool_result(model, 2).content
        == "not allowed: 'refund' may be called at most 1 times in one run"
    )
    assert len(CALLS) == 2  # one lookup, one refund


def _slow_tool(event: asyncio.Event, *, read_only: bool = False) -> SchemaTool:
    async def handler(args: dict[str, object], ctx: RunContext) -> str:
        CALLS.append("slow")
        await event.wait()
        return "late"

    from keel.tools import ToolAnnotations

    return SchemaTool(
        "slow",
        "Slow.",
        {"type": "object"},
        handler,
        annotations=ToolAnnotations(read_only=read_only),
    )


async def test_a_timeout_gives_a_structured_unavailable_result_and_a_ticket(tmp_path: Path) -> None:
    sink = InMemoryTicketSink()
    execute = Execute(timeout=0.05, tickets=sink, clock=ManualClock())
    gw = ToolGateway(database=tmp_path / "gw.db", execute=execute)
    _, model = await call_once(gw, [_slow_tool(asyncio.Event())], "slow", {})
    seen = tool_result(model)
    import json

    body = json.loads(seen.content)
    assert seen.is_error and body["error"] == "unavailable"
    assert body["reason"] == "it did not answer within 0.05s"
    assert "do not guess" in body["instruction"]
    assert body["ticket"] == sink.tickets[0].id and sink.tickets[0].kind == "tool_unavailable"
    assert CALLS == ["slow"]  # not read-only: never retried
    assert gw.store.entries()[0].entry.decision == "unavailable"


def _flaky(failures: int, *, idempotent: bool) -> SchemaTool:
    from keel.tools import ToolAnnotations

    def handler(args: dict[str, object], ctx: RunContext) -> str:
        CALLS.append("try")
        if len(CALLS) <= failures:
            raise ToolUnavailableError("backend down")
        return "ok"

    return SchemaTool(
        "flaky",
        "Flaky.",
        {"type": "object"},
        handler,
        annotations=ToolAnnotations(idempotent=idempotent),
    )


async def test_only_idempotent_tools_are_retried(tmp_path: Path) -> None:
    execute = Execute(retries=2, clock=ManualClock())
    gw = ToolGateway(database=tmp_path / "gw.db", execute=execute)
    _, model = await call_once(gw, [_flaky(2, idempotent=True)], "flaky", {})
    assert tool_result(model).content == "ok" and len(CALLS) == 3
    CALLS.clear()
    _, model = await call_once(gw, [_flaky(2, idempotent=False)], "flaky", {})
    assert '"error": "unavailable"' in tool_result(model).content and len(CALLS) == 1


async def test_an_open_breaker_answers_unavailable_without_calling_the_tool(
    tmp_path: Path,
) -> None:
    execute = Execute(retries=0, breaker_threshold=2, clock=ManualClock())
    gw = ToolGateway(database=tmp_path / "gw.db", execute=execute)
    down = _flaky(100, idempotent=True)
    for _ in range(2):
        await call_once(gw, [down], "flaky", {})
    _, model = await call_once(gw, [down], "flaky", {})
    assert len(CALLS) == 2
    assert "calls are paused" in tool_result(model).content


async def test_audit_redacts_named_fields_and_pii(tmp_path: Path) -> None:
    from keel.tools.gateway import Audit

    @tool
    def email_customer(address: str, secret_note: str) -> str:
        """Send an e-mail."""
        return f"sent to {address}"

    gw = ToolGateway(database=tmp_path / "gw.db", audit=Audit.redacting(["secret_note"]))
    await call_once(
        gw,
        [email_customer],
        "email_customer",
        {"address": "jane@example.com", "secret_note": "vip"},
    )
    entry = gw.store.entries()[0].entry
    assert "jane@example.com" not in entry.arguments + entry.result
    assert "[EMAIL]" in entry.arguments and '"secret_note":"[REDACTED]"' in entry.arguments


def test_the_store_is_the_app_database_by_default(tmp_path: Path) -> None:
    from keel.settings import data_dir

    gw = ToolGateway()
    assert Path(gw.store.db.path) == data_dir() / "keel.db"
    assert isinstance(gw.store, GatewayStore)


async def test_written_behind_results_replay_before_they_reach_the_disk(tmp_path: Path) -> None:
    """A duplicate arriving before the batch is written still replays, never reruns."""
    gw = gateway(tmp_path)
    store = gw.store
    store.claim("k1", "refund", "me")
    from keel.tools.gateway.audit import AuditEntry
    from keel.tools.gateway.store import LedgerResult

    entry = AuditEntry(
        at=0.0,
        tenant_id="t",
        user_id=None,
        roles="",
        agent="a",
        run_id="r",
        call_id="c",
        tool="refund",
        arguments="{}",
        result="ok",
        is_error=False,
        latency_ms=0.0,
        decision="allowed",
    )
    store.settle(entry, LedgerResult("k1", "ok", False))
    found = store.claim("k1", "refund", "someone-else")
    assert found is not None and (found.status, found.content) == ("finished", "ok")
    store.flush()
    stored = store.ledger_entry("k1")
    assert stored is not None and stored.status == "finished" and store.verify().ok


async def test_synchronous_settling_is_there_for_those_who_want_it(tmp_path: Path) -> None:
    store = GatewayStore(tmp_path / "sync.db", write_behind=False)
    gw = ToolGateway(store=store)
    await call_once(gw, [lookup_order], "lookup_order", {"order_id": "A1"})
    import sqlite3

    rows = sqlite3.connect(tmp_path / "sync.db").execute("SELECT count(*) FROM audit_log")
    assert rows.fetchone()[0] == 1  # on disk when the call returned, no flush needed


async def test_a_call_another_live_process_is_running_is_not_run_twice(tmp_path: Path) -> None:
    import os
    import socket

    from keel.messages import ToolCallPart
    from keel.middleware import ToolCall

    gw = gateway(tmp_path)
    ctx = RunContext(run_id="r1", agent_name="desk", step=1, tool_call_id="c1")
    # Another process (our parent: alive) claimed this very call and is still running it.
    other = f"{socket.gethostname()}:{os.getppid()}:feedbeef"
    assert gw.store.claim("r1/1/c1", "refund", other) is None
    part = ToolCallPart("refund", {"order_id": "A1", "amount": 0}, "c1")

    async def core(call: ToolCall) -> object:
        from keel._run.tool_calls import invoke_tool

        async def started(_: ToolCall) -> None:
            return None

        return await invoke_tool(call, {"refund": refund}, 10_000, started)

    result = await gw.wrap_tool_call(ToolCall(context=ctx, call=part, tool=refund), core)  # type: ignore[arg-type]
    assert result.is_error and "being executed by another process" in result.content
    assert CALLS == []


async def test_a_tool_that_answers_with_its_own_error_closes_a_half_open_breaker(
    tmp_path: Path,
) -> None:
    from keel.resilience import breaker_for
    from keel.tools import ToolAnnotations

    clock = ManualClock()
    execute = Execute(retries=0, breaker_threshold=2, breaker_reset=30, clock=clock)
    gw = ToolGateway(database=tmp_path / "gw.db", execute=execute)
    answers: list[BaseException] = [
        ConnectionError("down"),
        ConnectionError("down"),
        ValueError("no such order"),
    ]

    def handler(args: dict[str, object], ctx: RunContext) -> str:
        if answers:
            raise answers.pop(0)
        return "ok"

    picky = SchemaTool(
        "picky", "Picky.", {"type": "object"}, handler, annotations=ToolAnnotations(idempotent=True)
    )
    for _ in range(2):
        await call_once(gw, [picky], "picky", {})
    assert breaker_for("tool:picky").state == "open"
    clock.advance(31)
    _, model = await call_once(gw, [picky], "picky", {})  # the probe: the tool's own error
    assert "ValueError: no such order" in tool_result(model).content
    assert breaker_for("tool:picky").state == "closed"
    _, model = await call_once(gw, [picky], "picky", {})
    assert tool_result(model).content == "ok"
