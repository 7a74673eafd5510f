"""SIGKILL a process mid-run and resume in another: side effects happen 0 or 1 times.

Each case runs `tests.runs.durable_worker` as a real process on a real SQLite file (in
the test's KEEL_HOME), kills it at a chosen point, and resumes the run from a new process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKER = "tests.runs.durable_worker"


def _env(effects: Path, hang: str | None = None) -> dict[str, str]:
    env = {**os.environ, "KEEL_TEST_EFFECTS": str(effects)}
    env.pop("KEEL_TEST_HANG", None)
    if hang:
        env["KEEL_TEST_HANG"] = hang
    return env


def _call_worker(effects: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", WORKER, *args],
        cwd=ROOT,
        env=_env(effects),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _worker(effects: Path, *args: str) -> dict[str, Any]:
    done = _call_worker(effects, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _run_and_kill(effects: Path, hang: str, text: str, run_id: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", WORKER, "run", run_id, text],
        cwd=ROOT,
        env=_env(effects, hang),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_until_hung(effects, process)
    process.kill()
    process.wait()  # reaped: its pid is gone, so the run's owner is dead


def _wait_until_hung(effects: Path, process: subprocess.Popen[bytes]) -> None:
    """Poll for the worker's marker (up to 2,400 polls: a bound on waiting, not a timing)."""
    marker = Path(str(effects) + ".hung")
    for _ in range(2_400):
        if marker.exists():
            return
        if process.poll() is not None:
            pytest.fail(
                f"the worker exited early: {process.stderr.read() if process.stderr else ''}"
            )
        time.sleep(0.05)
    pytest.fail("the worker never reached the hang point")


def _effect_lines(effects: Path) -> list[str]:
    return effects.read_text().split() if effects.exists() else []


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    return tmp_path / "effects.txt"


def test_killed_after_the_model_asked_runs_the_tool_once_on_resume(effects: Path) -> None:
    _run_and_kill(effects, "before", "charge it", "run-a")
    assert _effect_lines(effects) == []  # the tool never started
    result = _worker(effects, "resume", "run-a")
    assert result["status"] == "completed"
    assert result["output"] == "done: charged A1"
    assert _effect_lines(effects).count("charge") == 1


def test_killed_inside_a_non_idempotent_tool_needs_attention(effects: Path) -> None:
    _run_and_kill(effects, "during", "charge it", "run-b")
    assert _effect_lines(effects).count("charge") == 1
    result = _worker(effects, "resume", "run-b")
    assert result["status"] == "needs_attention"
    [pending] = result["pending"]
    assert pending["tool"] == "charge" and "not declared idempotent" in pending["reason"]
    assert _effect_lines(effects).count("charge") == 1  # never guessed
    rejected = _worker(effects, "resume", "run-b", pending["id"], "reject")
    assert rejected["status"] == "completed"
    assert "rejected" in rejected["output"] and "no, thanks" in rejected["output"]
    assert _effect_lines(effects).count("charge") == 1


def test_killed_inside_an_idempotent_tool_reruns_it_with_the_same_key(effects: Path) -> None:
    _run_and_kill(effects, "during", "ship it", "run-c")
    result = _worker(effects, "resume", "run-c")
    assert result["status"] == "completed"
    assert result["output"] == "done: shipped A1"
    lines = effects.read_text().splitlines()
    assert len(lines) == 1  # the same idempotency key both times: shipped once
    assert lines[0].startswith("ship run-c/1/")


def test_a_run_whose_process_is_alive_cannot_be_taken_over(effects: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", WORKER, "run", "run-d", "charge it"],
        cwd=ROOT,
        env=_env(effects, "before"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_hung(effects, process)
        done = _call_worker(effects, "resume", "run-d")
        assert done.returncode != 0
        assert "RunConflictError" in done.stderr and "running in another process" in done.stderr
    finally:
        process.kill()
        process.wait()


def test_suspend_in_one_process_approve_in_another_finish_in_a_third(effects: Path) -> None:
    first = _worker(effects, "run", "run-e", "refund both")
    assert first["status"] == "suspended"
    assert [p["id"] for p in first["pending"]] == ["s1c1", "s1c2"]
    second = _worker(effects, "resume", "run-e", "s1c1", "approve")
    assert second["status"] == "suspended"  # s1c2 still waits: nothing ran yet
    assert [p["id"] for p in second["pending"]] == ["s1c2"]
    assert _effect_lines(effects) == []
    third = _worker(effects, "resume", "run-e", "s1c2", "approve")
    assert third["status"] == "completed"
    assert third["output"] == "done: refunded A1; refunded A2"
    assert _effect_lines(effects).count("refund") == 2
    assert _worker(effects, "show", "run-e") == {"status": "completed", "decisions": 2}
