"""Plans: validated before anything runs, confirmed, executed with checkpoints, failed
steps compensated in reverse, a killed process resumed at the right step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from keel.workflows import Compensation, Plan, PlanError, PlanStep
from tests.orchestration.plan_worker import executor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.txt"
    monkeypatch.setenv("KEEL_TEST_EFFECTS", str(path))
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _order(amount: float = 20.0, order_id: str = "A1") -> Plan:
    return Plan(
        goal="fulfil order",
        steps=[
            PlanStep(tool="reserve", arguments={"item": "lamp"},
                     compensate=Compensation(tool="release", arguments={"item": "lamp"})),
            PlanStep(tool="charge", arguments={"amount": amount},
                     compensate=Compensation(tool="refund", arguments={"amount": amount})),
            PlanStep(tool="ship", arguments={"order_id": order_id}),
        ],
    )  # fmt: skip


def test_unknown_tools_and_invalid_arguments_are_rejected_before_anything_runs(
    tmp_path: Path, effects: Path
) -> None:
    bad = Plan(
        steps=[
            PlanStep(tool="reserve", arguments={"item": "lamp"}),
            PlanStep(tool="teleport", arguments={}),
            PlanStep(tool="charge", arguments={"amount": "lots"}),
        ]
    )
    with pytest.raises(PlanError) as caught:
        executor(tmp_path / "k.db").propose(bad)
    assert "step 2: unknown tool 'teleport'" in str(caught.value)
    assert "step 3: invalid arguments for 'charge': amount" in str(caught.value)
    assert _lines(effects) == []


async def test_a_plan_runs_only_once_confirmed_and_then_completes(
    tmp_path: Path, effects: Path
) -> None:
    plans = executor(tmp_path / "k.db")
    record = plans.propose(_order())
    assert record.status == "awaiting_confirmation"
    with pytest.raises(PlanError, match="awaiting_confirmation"):
        await plans.execute(record.id)
    plans.confirm(record.id, "ana")
    done = await plans.execute(record.id)
    assert done.status == "completed"
    assert _lines(effects) == ["reserve lamp", "charge 20.0", "ship A1"]


def test_duplicate_confirmations_take_effect_once(tmp_path: Path) -> None:
    plans = executor(tmp_path / "k.db")
    record = plans.propose(_order())
    outcomes: list[object] = []

    def confirm() -> None:
        try:
            outcomes.append(plans.confirm(record.id, "ana"))
        except PlanError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=confirm) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not isinstance(o, PlanError) for o in outcomes) == 1


async def test_a_failed_third_step_compensates_steps_two_and_one_in_reverse(
    tmp_path: Path, effects: Path
) -> None:
    plans = executor(tmp_path / "k.db")
    record = plans.propose(_order(order_id="BAD"))
    plans.confirm(record.id, "ana")
    done = await plans.execute(record.id)
    assert done.status == "failed"
    assert _lines(effects) == ["reserve lamp", "charge 20.0", "refund 20.0", "release lamp"]
    assert done.report is not None
    assert done.report.startswith("step 3 (ship) failed: RuntimeError: courier rejected")


async def test_a_policy_can_confirm(tmp_path: Path, effects: Path) -> None:
    from keel.storage.sqlite import SQLiteDatabase
    from keel.workflows import PlanExecutor, PlanStore
    from tests.orchestration.plan_worker import TOOLS

    small = PlanExecutor(TOOLS, PlanStore(SQLiteDatabase(tmp_path / "k.db")),
                         confirm_policy=lambda p: len(p.steps) <= 3)  # fmt: skip
    record = small.propose(_order())
    assert (record.status, record.confirmed_by) == ("confirmed", "policy")
    assert (await small.execute(record.id)).status == "completed"


def _worker(db: Path, plan_id: str, crash_at: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEEL_TEST_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-m", "tests.orchestration.plan_worker", str(db), plan_id],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_a_process_killed_mid_plan_resumes_at_the_right_step(
    tmp_path: Path, effects: Path
) -> None:
    db = tmp_path / "k.db"
    plans = executor(db)
    record = plans.propose(_order())
    plans.confirm(record.id, "ana")
    killed = _worker(db, record.id, crash_at="ship")
    assert killed.returncode == 9, killed.stderr
    assert _lines(effects) == ["reserve lamp", "charge 20.0"]
    done = await executor(db).execute(record.id)  # another process takes over
    assert done.status == "completed"
    assert _lines(effects) == ["reserve lamp", "charge 20.0", "ship A1"]
    assert [s.attempts for s in done.steps] == [1, 1, 2]


async def test_an_interrupted_step_that_is_not_idempotent_waits_for_a_person(
    tmp_path: Path, effects: Path
) -> None:
    db = tmp_path / "k.db"
    plans = executor(db)
    record = plans.propose(Plan(steps=[PlanStep(tool="email", arguments={"text": "hi"})]))
    plans.confirm(record.id, "ana")
    assert _worker(db, record.id, crash_at="email").returncode == 9
    after = await executor(db).execute(record.id)
    assert after.status == "needs_attention" and "email" in (after.error or "")
    assert _lines(effects) == []


# -- a plan proposed inside a run: confirmed through `keel runs`, from other processes ---

PLAN_APP = "tests.orchestration.plan_app:app"


def _keel(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("keel")
    return subprocess.run(
        [str(script), *args, "--app", PLAN_APP],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _keel_json(*args: str) -> Any:
    done = _keel(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _propose_in_a_run(order: str = "A1") -> tuple[str, dict[str, Any]]:
    data = _keel_json("run", "--agent", "planner", f"plan {order}")
    assert data["status"] == "suspended", data
    (pending,) = data["pending"]
    assert pending["tool"] == "run_plan" and "waits for confirmation" in pending["reason"]
    (plan,) = _keel_json("plans")
    assert (plan["status"], plan["run_id"]) == ("awaiting_confirmation", data["run_id"])
    return data["run_id"], plan


def test_keel_runs_approve_confirms_a_plan_and_it_executes(effects: Path) -> None:
    run_id, plan = _propose_in_a_run()
    assert _lines(effects) == []  # nothing runs before the confirmation
    approved = _keel("runs", "approve", run_id)
    assert approved.returncode == 0, approved.stderr
    assert '"status":"completed"' in approved.stdout.replace(" ", "")
    assert _lines(effects) == ["reserve lamp", "charge 20.0", "ship A1"]
    shown = _keel_json("plans", "show", plan["id"])
    assert shown["status"] == "completed" and shown["run_id"] == run_id
    assert [s["status"] for s in shown["steps"]] == ["finished"] * 3
    again = _keel("runs", "approve", run_id)
    assert again.returncode == 2 and "already completed" in again.stderr
    assert _lines(effects) == ["reserve lamp", "charge 20.0", "ship A1"]  # once
    assert _keel_json("runs", "show", run_id)["status"] == "completed"


def test_keel_runs_reject_rejects_the_plan_and_nothing_runs(effects: Path) -> None:
    run_id, plan = _propose_in_a_run()
    data = _keel_json("runs", "reject", run_id, "--reason", "too expensive")
    assert data["status"] == "completed" and "too expensive" in data["output"]
    shown = _keel_json("plans", "show", plan["id"])
    assert shown["status"] == "rejected"
    assert _lines(effects) == []
    assert _keel_json("plans", "--status", "rejected")[0]["id"] == plan["id"]


def test_a_plan_that_waits_on_a_run_is_not_confirmed_behind_its_back(
    tmp_path: Path, effects: Path
) -> None:
    run_id, plan = _propose_in_a_run()
    from keel.settings import data_dir

    with pytest.raises(PlanError, match=f"keel runs approve {run_id}"):
        executor(data_dir() / "keel.db").confirm(plan["id"], "mallory")


def test_a_failed_step_in_a_confirmed_plan_reports_its_compensations(effects: Path) -> None:
    run_id, plan = _propose_in_a_run("BAD")
    _keel("runs", "approve", run_id)
    assert _lines(effects) == ["reserve lamp", "charge 20.0", "refund 20.0", "release lamp"]
    shown = _keel("plans", "show", plan["id"])
    assert shown.returncode == 0 and "failed" in shown.stdout and "courier" in shown.stdout


def test_keel_plans_names_unknown_plans_and_statuses() -> None:
    unknown = _keel("plans", "show", "p-nope")
    assert unknown.returncode == 2 and "no plan 'p-nope'" in unknown.stderr
    bad = _keel("plans", "--status", "sleeping")
    assert bad.returncode == 2 and "--status must be one of" in bad.stderr
    assert _keel_json("plans") == []


def test_the_plan_tool_refuses_a_plan_naming_unknown_tools_before_anything_is_stored(
    tmp_path: Path, effects: Path
) -> None:
    from keel.exceptions import ToolArgumentsError

    plans = executor(tmp_path / "k.db")
    run_plan = plans.as_tool()
    bad = {"steps": [{"tool": "teleport"}, {"tool": "charge", "arguments": {"amount": "x"}}]}
    with pytest.raises(ToolArgumentsError, match="unknown tool 'teleport'") as caught:
        run_plan.validate(bad)
    assert "step 2: invalid arguments for 'charge'" in str(caught.value)
    with pytest.raises(ToolArgumentsError, match="steps"):
        run_plan.validate({"goal": "nothing to do", "steps": []})
    assert plans.store.list() == []
    assert run_plan.validate(_order().model_dump())["steps"][2]["tool"] == "ship"
