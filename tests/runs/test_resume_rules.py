"""Resume rules and bad input: the store owns the state; decisions are bound and single-use."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from keel import (
    Agent,
    Approve,
    DecisionError,
    Message,
    Middleware,
    PendingAction,
    Principal,
    Reject,
    RunConflictError,
    RunContext,
    Runner,
    RunNotFoundError,
    RunStateError,
    SessionBusyError,
    SQLiteRunStore,
    SQLiteSessionStore,
)
from keel.runs.state import RunState
from keel.testing import ScriptedModel, tool_call
from tests.runs.support import REFUNDS, durable_runner, raw_sql, refund

pytestmark = pytest.mark.usefixtures("store_backend")


def _desk(*replies: object) -> Agent:
    return Agent(name="desk", model=ScriptedModel(list(replies)), tools=[refund])  # type: ignore[arg-type]


def _runner(tmp_path: Path, *agents: Agent, **options: object) -> Runner:
    return durable_runner(tmp_path / "keel.db", *agents, **options)


async def test_pending_actions_round_trip_as_the_same_typed_objects(tmp_path: Path) -> None:
    agent = _desk(tool_call("refund", {"order_id": "A1"}), "ok")
    first = await _runner(tmp_path, agent).run(agent, "refund A1")
    fresh = _runner(tmp_path, agent)  # another process would build its own
    state = await fresh.get_run(first.run_id)
    assert state.pending == list(first.pending)
    assert all(isinstance(p, PendingAction) for p in state.pending)


async def test_approvals_work_again_in_later_runs_of_the_conversation(tmp_path: Path) -> None:
    replies = []
    for order in ("A1", "A2", "A3"):
        replies += [tool_call("refund", {"order_id": order}), f"done {order}"]
    agent = _desk(*replies)
    runner = _runner(tmp_path, agent)
    for order in ("A1", "A2", "A3"):
        result = await runner.run(agent, f"refund {order}", session_id="s")
        assert result.status == "suspended"
        done = await runner.resume(result.run_id, decisions={result.pending[0].id: Approve()})
        assert done.output == f"done {order}"
    assert REFUNDS == ["A1", "A2", "A3"]
    history = await runner.session_store.load("s")  # type: ignore[union-attr]
    assert [m.text for m in history if m.role == "user"] == [
        "refund A1",
        "refund A2",
        "refund A3",
    ]


async def test_a_rejection_reaches_the_model_through_input_middleware(tmp_path: Path) -> None:
    class RedactCards(Middleware):
        async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message]:
            return [Message.user(re.sub(r"\d{16}", "<CARD>", m.text)) for m in messages]

    model = ScriptedModel([tool_call("refund", {"order_id": "A1"}), "understood"])
    agent = Agent(name="desk", model=model, tools=[refund], middleware=[RedactCards()])
    runner = _runner(tmp_path, agent)
    first = await runner.run(agent, "refund A1")
    reason = Reject("charge card 4111111111111111 instead")
    await runner.resume(first.run_id, decisions={first.pending[0].id: reason})
    told = model.requests[-1].messages[-1].parts[0]
    assert "rejected" in told.content and "<CARD>" in told.content  # type: ignore[union-attr]
    assert "4111111111111111" not in told.content  # type: ignore[union-attr]
    assert REFUNDS == []


async def test_resume_of_an_unknown_run_or_a_completed_one_is_refused(tmp_path: Path) -> None:
    agent = _desk("hello")
    runner = _runner(tmp_path, agent)
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        await runner.resume("nope")
    done = await runner.run(agent, "hi")
    with pytest.raises(RunConflictError, match="already completed"):
        await runner.resume(done.run_id)


async def test_a_decision_for_an_unknown_pending_id_changes_nothing(tmp_path: Path) -> None:
    agent = _desk(tool_call("refund", {"order_id": "A1"}), "ok")
    runner = _runner(tmp_path, agent)
    first = await runner.run(agent, "refund A1")
    with pytest.raises(DecisionError, match=r"no pending action 'x9'.*pending: s1c1"):
        await runner.resume(first.run_id, decisions={"x9": Approve()})
    assert (await runner.get_run(first.run_id)).decisions == []


async def test_racing_resumes_exactly_one_wins(tmp_path: Path) -> None:
    agent = _desk(tool_call("refund", {"order_id": "A1"}), "ok", "ok")
    runner = _runner(tmp_path, agent)
    first = await runner.run(agent, "refund A1")
    decision = {first.pending[0].id: Approve()}
    outcomes = await asyncio.gather(
        runner.resume(first.run_id, decisions=decision),
        runner.resume(first.run_id, decisions=decision),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], DecisionError | RunConflictError)
    assert REFUNDS == ["A1"]


async def test_another_tenant_can_neither_see_nor_approve_a_run(tmp_path: Path) -> None:
    agent = _desk(tool_call("refund", {"order_id": "A1"}), "ok")
    runner = _runner(tmp_path, agent)
    acme = Principal(user_id="ann", tenant_id="acme")
    first = await runner.run(agent, "refund A1", principal=acme)
    other = Principal(user_id="eve", tenant_id="globex", roles=frozenset({"approver"}))
    with pytest.raises(RunNotFoundError):
        await runner.resume(first.run_id, decisions={"s1c1": Approve()}, principal=other)
    assert REFUNDS == []


async def test_who_may_decide_is_a_policy(tmp_path: Path) -> None:
    agent = _desk(tool_call("refund", {"order_id": "A1"}), "ok")
    runner = _runner(tmp_path, agent, can_decide=lambda who, *_: who.has_role("approver"))
    first = await runner.run(agent, "refund A1")
    clerk = Principal(user_id="carl")
    with pytest.raises(DecisionError, match="carl@default may not decide 's1c1'"):
        await runner.resume(first.run_id, decisions={"s1c1": Approve()}, principal=clerk)
    boss = Principal(user_id="bea", roles=frozenset({"approver"}))
    done = await runner.resume(first.run_id, decisions={"s1c1": Approve()}, principal=boss)
    assert done.status == "completed"
    state = await runner.get_run(first.run_id)
    assert state.decisions[0].decided_by == boss


async def test_malformed_stored_state_is_a_clear_error_and_nothing_changes(
    tmp_path: Path,
) -> None:
    agent = _desk(tool_call("refund", {"order_id": "A1"}), "ok")
    runner = _runner(tmp_path, agent)
    first = await runner.run(agent, "refund A1")
    await raw_sql(runner, "UPDATE runs SET state = ? WHERE id = ?", ('{"run_id": 1}', first.run_id))
    with pytest.raises(RunStateError, match=r"cannot read.*nothing was changed"):
        await runner.resume(first.run_id, decisions={"s1c1": Approve()})
    [(state,)] = await raw_sql(runner, "SELECT state FROM runs WHERE id = ?", (first.run_id,))
    assert state == '{"run_id": 1}'
    assert REFUNDS == []


async def test_an_unstorable_value_fails_when_written_naming_the_field(tmp_path: Path) -> None:
    class Remember(Middleware):
        async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message]:
            ctx.metadata["socket"] = object()
            return messages

    agent = Agent(name="desk", model=ScriptedModel(["ok"]), middleware=[Remember()])
    with pytest.raises(RunStateError, match=r"metadata\['socket'\]"):
        await _runner(tmp_path, agent).run(agent, "hi")


async def test_a_session_held_by_a_live_run_elsewhere_is_busy(tmp_path: Path) -> None:
    agent = _desk("ok")
    runner = _runner(tmp_path, agent)
    elsewhere = RunState(run_id="other", agent_name="desk", session_id="s")
    await runner.run_store.start(elsewhere)
    owner = f"{os.uname().nodename}:{os.getppid()}:feedbeef"  # a live process, not this one
    await raw_sql(runner, "UPDATE runs SET owner = ?, lease_until = ?", (owner, time.time() + 60))
    with pytest.raises(SessionBusyError, match="busy with run 'other'"):
        await runner.run(agent, "hi", session_id="s")


async def test_a_caller_run_id_makes_a_retried_request_return_the_same_run(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(["only once"])
    agent = Agent(name="desk", model=model)
    runner = _runner(tmp_path, agent)
    first = await runner.run(agent, "hi", run_id="req-1", session_id="s")
    again = await runner.run(agent, "hi", run_id="req-1", session_id="s")
    assert again.output == first.output == "only once"
    assert len(model.requests) == 1
    assert len(await runner.session_store.load("s")) == 2  # type: ignore[union-attr]


async def test_a_decision_is_single_use(tmp_path: Path) -> None:
    both = [tool_call("refund", {"order_id": "A1"}), tool_call("refund", {"order_id": "A2"})]
    agent = _desk(both, "ok")
    runner = _runner(tmp_path, agent)
    first = await runner.run(agent, "refund both")
    waiting = await runner.resume(first.run_id, decisions={"s1c1": Approve()})
    assert waiting.status == "suspended" and [p.id for p in waiting.pending] == ["s1c2"]
    with pytest.raises(DecisionError, match=r"'s1c1' .* was already decided"):
        await runner.resume(first.run_id, decisions={"s1c1": Reject("changed my mind")})
    assert REFUNDS == []  # nothing ran while s1c2 waits
    done = await runner.resume(first.run_id, decisions={"s1c2": Approve()})
    assert done.status == "completed" and sorted(REFUNDS) == ["A1", "A2"]  # run concurrently


async def test_a_run_is_completed_only_together_with_its_stored_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keel.storage import postgres_runs
    from keel.storage.sqlite_sessions import Turn

    def broken_append(*args: object) -> None:
        raise OSError("disk I/O error")

    agent = Agent(name="desk", model=ScriptedModel(["hello"]))
    runner = _runner(tmp_path, agent)
    monkeypatch.setattr(Turn, "append", broken_append)  # SQLite writes turns here
    monkeypatch.setattr(postgres_runs, "append_turn", broken_append)  # PostgreSQL here
    with pytest.raises(OSError, match="disk I/O"):
        await runner.run(agent, "hi", run_id="r-1", session_id="s")
    state = await runner.get_run("r-1")
    assert state.status == "failed"  # never "completed" without its turn
    assert not await runner.session_store.exists("s")  # type: ignore[union-attr]


async def test_sessions_in_another_database_still_get_the_turn(tmp_path: Path) -> None:
    agent = Agent(name="desk", model=ScriptedModel(["hello"]))
    sessions = SQLiteSessionStore(tmp_path / "sessions.db")
    runner = Runner(session_store=sessions, run_store=SQLiteRunStore(tmp_path / "runs.db"))
    result = await runner.run(agent, "hi", session_id="s")
    assert (await runner.get_run(result.run_id)).status == "completed"
    assert [m.text for m in await sessions.load("s")] == ["hi", "hello"]
