"""SIGKILL between an approval and the execution: the call runs exactly once after resume.

Real processes on a real SQLite file (the test's KEEL_HOME), as in
`tests/runs/test_crash_recovery.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from keel.cli import cli
from keel.settings import data_dir
from keel.tools.gateway import GatewayStore
from tests.runs.test_crash_recovery import ROOT, _wait_until_hung

WORKER = "tests.gateway.gateway_worker"


def _env(effects: Path, hang: str | None) -> dict[str, str]:
    env = {**os.environ, "KEEL_TEST_EFFECTS": str(effects)}
    env.pop("KEEL_TEST_HANG", None)
    if hang:
        env["KEEL_TEST_HANG"] = hang
    return env


def _worker(effects: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", WORKER, *args],
        cwd=ROOT,
        env=_env(effects, None),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _kill_while(effects: Path, hang: str, *args: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", WORKER, *args],
        cwd=ROOT,
        env=_env(effects, hang),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_until_hung(effects, process)
    finally:
        process.kill()  # SIGKILL: no cleanup runs
        process.wait()


def _effects(effects: Path) -> list[str]:
    return effects.read_text().splitlines() if effects.exists() else []


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    return tmp_path / "effects.txt"


def test_killed_after_approval_before_execution_runs_once_on_resume(effects: Path) -> None:
    first = _worker(effects, "run", "run-a")
    assert first == {"status": "suspended", "output": None, "pending": ["s1c1"]}
    _kill_while(effects, "approved", "resume", "run-a", "s1c1")
    assert _effects(effects) == []
    done = _worker(effects, "resume", "run-a")
    assert done["status"] == "completed"
    assert done["output"] == "done: refunded 40 on A1"
    assert len(_effects(effects)) == 1
    decisions = [e.entry.decision for e in GatewayStore(data_dir() / "keel.db").entries()]
    assert decisions == ["approved", "approval_required"]
    assert CliRunner().invoke(cli, ["audit", "verify"]).exit_code == 0


def test_killed_inside_the_call_asks_a_person_and_runs_once_more_only_if_approved(
    effects: Path,
) -> None:
    _worker(effects, "run", "run-b")
    _kill_while(effects, "claimed", "resume", "run-b", "s1c1")
    assert _effects(effects) == []  # killed after the ledger claim, before the effect
    attention = _worker(effects, "resume", "run-b")
    assert attention["status"] == "needs_attention" and attention["pending"] == ["s1c1a1"]
    done = _worker(effects, "resume", "run-b", "s1c1a1")
    assert done["status"] == "completed"
    assert len(_effects(effects)) == 1
    ledger = GatewayStore(data_dir() / "keel.db").ledger_entry(_effects(effects)[0].split()[1])
    assert ledger is not None and ledger.status == "finished"


def test_two_processes_approving_one_call_at_once_execute_it_once(effects: Path) -> None:
    _worker(effects, "run", "run-c")
    approvers = [
        subprocess.Popen(
            [sys.executable, "-m", WORKER, "resume", "run-c", "s1c1"],
            cwd=ROOT,
            env=_env(effects, None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in approvers]
    completed = [out for code, out, _ in outcomes if code == 0]
    refused = [err for code, _, err in outcomes if code != 0]
    assert len(_effects(effects)) == 1
    assert len(completed) + len(refused) == 2 and completed
    assert json.loads(completed[0])["status"] == "completed"
    for err in refused:  # the loser is told why, by name
        assert "already decided" in err or "RunConflictError" in err
