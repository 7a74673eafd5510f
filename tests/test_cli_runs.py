"""`keel runs` and the suspended side of `keel run`: a run that waits for a person is
decided from another process, exactly once.

The flows run the real command, one process per step, sharing the test's KEEL_HOME (and
so its database); the refund tool writes a line to `$KEEL_TEST_REFUNDS` each time it
runs, which is how a test counts side effects across processes. Error cases drive the
Typer app in-process.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner, Result

from keel import (
    DecisionError,
    MiddlewareDecision,
    RunConflictError,
    RunContext,
    RunNotFoundError,
    RunResumed,
    RunStateError,
    RunSuspended,
)
from keel._cli.errors import reported
from keel._cli.render import EventPrinter
from keel.cli import cli

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.cli_app:app"


@pytest.fixture(autouse=True)
def _fresh_test_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The app object caches its stores, whose database is in this test's KEEL_HOME.
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)
    yield


@pytest.fixture(autouse=True)
def refunds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ledger = tmp_path / "refunds.txt"
    monkeypatch.setenv("KEEL_TEST_REFUNDS", str(ledger))
    return ledger


def keel_process(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("keel")  # the console script pyproject declares
    assert script.exists(), f"the `keel` entry point is not installed next to {sys.executable}"
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),  # KEEL_HOME and KEEL_TEST_REFUNDS: this test's
        timeout=60,
        check=False,
    )


def keel_json(*args: str) -> Any:
    done = keel_process(*args, "--app", APP, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def keel_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def refund_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def suspend_refund(run_id: str | None = None) -> dict[str, Any]:
    """Ask the `approvals` agent for a refund: it stops before the tool runs."""
    extra = ("--run-id", run_id) if run_id else ()
    data = keel_json("run", "--agent", "approvals", "refund A1 5", *extra)
    assert data["status"] == "suspended", data
    return data


# -- the whole flow, one process per step ----------------------------------------------


def test_a_suspended_run_is_approved_from_another_process_exactly_once(refunds: Path) -> None:
    data = suspend_refund()
    run_id = data["run_id"]
    (pending,) = data["pending"]
    assert data["output"] is None
    assert pending["tool"] == "refund"
    assert pending["arguments"] == {"order_id": "A1", "amount": 5.0}
    assert refund_lines(refunds) == []  # nothing happened before the approval

    listed = keel_json("runs", "--status", "suspended")
    assert [r["run_id"] for r in listed] == [run_id]
    assert len(listed[0]["pending"]) == 1

    shown = keel_json("runs", "show", run_id)
    assert shown["status"] == "suspended"
    assert shown["principal"] == {"user_id": None, "tenant_id": "default"}
    assert shown["pending"][0]["id"] == pending["id"]

    approved = keel_process("runs", "approve", run_id, "--app", APP)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout == "Done: refunded 5 on order A1\n"
    assert refund_lines(refunds) == ["A1 5.0"]

    again = keel_process("runs", "approve", run_id, pending["id"], "--app", APP)
    assert again.returncode == 2
    assert "already completed" in again.stderr and f"keel runs show {run_id}" in again.stderr
    assert "Traceback" not in again.stderr
    assert refund_lines(refunds) == ["A1 5.0"]  # the refund ran once

    assert keel_json("runs", "--status", "suspended") == []
    done = keel_json("runs", "show", run_id)
    assert done["status"] == "completed" and done["output"] == "Done: refunded 5 on order A1"
    assert [d["decision"] for d in done["decisions"]] == ["approve"]


def test_a_rejection_reaches_the_model_and_nothing_runs(refunds: Path) -> None:
    run_id = suspend_refund()["run_id"]
    data = keel_json("runs", "reject", run_id, "--reason", "over the daily limit")
    assert data["status"] == "completed"
    assert "over the daily limit" in data["output"]
    assert data["pending"] == []
    assert refund_lines(refunds) == []
    shown = keel_json("runs", "show", run_id)
    assert shown["decisions"][0]["reason"] == "over the daily limit"


def test_run_names_what_it_waits_on_and_the_command_that_approves_it() -> None:
    done = keel_process(
        "run", "--agent", "approvals", "refund A1 5", "--app", APP, "--run-id", "r1"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no answer yet: a script reading stdout gets nothing
    assert "run r1 is suspended" in done.stderr
    assert 'refund(order_id="A1", amount=5.0)' in done.stderr
    assert f"keel runs approve r1 s1c1 --app {APP}" in done.stderr


def test_a_run_id_that_exists_returns_its_outcome_without_running_again(refunds: Path) -> None:
    suspend_refund("r1")
    assert keel_json("runs", "approve", "r1")["status"] == "completed"
    repeated = keel_json("run", "--agent", "approvals", "refund A1 5", "--run-id", "r1")
    assert repeated["status"] == "completed" and repeated["run_id"] == "r1"
    assert refund_lines(refunds) == ["A1 5.0"]


# -- in-process: listing, options, errors ----------------------------------------------


def suspend_in_process(run_id: str) -> None:
    args = ("--agent", "approvals", "refund B2 7", "--app", APP, "--run-id", run_id)
    result = keel_cli("run", *args)
    assert result.exit_code == 0, result.output


def test_runs_lists_the_most_recent_first_one_a_line_for_scripts() -> None:
    suspend_in_process("r1")
    suspend_in_process("r2")
    assert keel_cli("runs", "approve", "r1", "--app", APP).exit_code == 0
    result = keel_cli("runs", "--app", APP)
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[:3] for row in rows] == [  # most recently started first
        ["r2", "approvals", "suspended"],
        ["r1", "approvals", "completed"],
    ]
    assert [row[4:6] for row in rows] == [["1", "1"], ["2", "0"]]  # steps, pending
    limited = keel_cli("runs", "--app", APP, "--limit", "1", "--status", "suspended")
    assert [line.split("\t")[0] for line in limited.stdout.splitlines()] == ["r2"]


def test_options_before_the_subcommand_count_too() -> None:
    suspend_in_process("r1")
    result = keel_cli("runs", "--app", APP, "--json", "show", "r1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run_id"] == "r1"


def test_show_lists_pending_actions_and_messages() -> None:
    suspend_in_process("r1")
    result = keel_cli("runs", "show", "r1", "--app", APP)
    assert result.exit_code == 0, result.output
    assert "suspended" in result.stdout
    assert 's1c1  refund(order_id="B2", amount=7.0)' in result.stdout
    assert "user: refund B2 7" in result.stdout
    assert f"keel runs approve r1 s1c1 --app {APP}" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("show",), ("approve",), ("reject", "--reason", "no"), ("resume",)],
    ids=lambda c: c[0],
)
def test_an_unknown_run_is_a_usage_error_naming_keel_runs(command: tuple[str, ...]) -> None:
    result = keel_cli("runs", command[0], "nope", *command[1:], "--app", APP)
    assert result.exit_code == 2, result.output
    assert "no run 'nope'" in result.stderr and f"keel runs --app {APP}" in result.stderr


def test_an_unknown_status_names_the_valid_ones() -> None:
    result = keel_cli("runs", "--status", "bogus", "--app", APP)
    assert result.exit_code == 2
    assert "running, suspended, needs_attention, completed, failed" in result.stderr


def test_an_unknown_pending_action_is_a_usage_error() -> None:
    suspend_in_process("r1")
    result = keel_cli("runs", "approve", "r1", "s9c9", "--app", APP)
    assert result.exit_code == 2
    assert "no pending action 's9c9'" in result.stderr and "s1c1" in result.stderr


def test_resuming_an_undecided_run_names_the_approve_command() -> None:
    suspend_in_process("r1")
    result = keel_cli("runs", "resume", "r1", "--app", APP)
    assert result.exit_code == 2
    assert f"keel runs approve r1 s1c1 --app {APP}" in result.stderr


def test_reject_requires_a_reason() -> None:
    suspend_in_process("r1")
    assert keel_cli("runs", "reject", "r1", "--app", APP).exit_code == 2


EXIT_CODES: dict[str, tuple[BaseException, int]] = {
    "unknown run": (RunNotFoundError("r1"), 2),
    "bad decision": (DecisionError("x"), 2),
    "run finished or busy": (RunConflictError("x"), 2),
    "unreadable state": (RunStateError("x"), 1),
}


@pytest.mark.parametrize(("error", "code"), EXIT_CODES.values(), ids=EXIT_CODES.keys())
def test_run_errors_have_one_exit_code(error: BaseException, code: int) -> None:
    console = Console(file=io.StringIO(), width=200)
    with pytest.raises(typer.Exit) as exited, reported(console):
        raise error
    assert exited.value.exit_code == code


# -- the terminal printer and the new events -------------------------------------------


def test_the_printer_shows_a_denial_and_ignores_other_run_events() -> None:
    file = io.StringIO()
    printer = EventPrinter(Console(file=file, width=200))
    ctx = RunContext("r1", "support")
    printer.show(MiddlewareDecision(ctx, "Policy", "deny", "no refunds on Sundays", "call_1"))
    printer.show(MiddlewareDecision(ctx, "Policy", "transform", "redacted a card number"))
    printer.show(RunSuspended(ctx, (), "suspended"))
    printer.show(RunResumed(ctx, {}))
    assert file.getvalue() == "  ⊘ Policy: no refunds on Sundays\n"
