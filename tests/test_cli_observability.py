"""`keel traces`, `keel traces show`, `keel replay` and `keel feedback` as a user runs
them: one process per command, sharing the test's KEEL_HOME (see conftest.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_runs import APP, keel_process, suspend_refund


@pytest.fixture(autouse=True)
def _fresh_test_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)
    yield


def keel_ok(*args: str) -> Any:
    done = keel_process(*args, "--app", APP, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_once(text: str) -> str:
    return keel_ok("run", text)["run_id"]


def test_traces_lists_searches_and_shows_a_run() -> None:
    order = run_once("where is my order")
    run_once("hello")
    listed = keel_ok("traces")
    assert [r["run_id"] for r in listed][1] == order
    (found,) = keel_ok("traces", "--tool", "lookup_order")
    assert found["run_id"] == order and found["steps"] == 2
    (shown,) = keel_ok("traces", "show", order)
    names = [s["name"] for s in shown["spans"]]
    assert names[0] == "invoke_agent support" and "execute_tool lookup_order" in names


def test_traces_show_has_both_segments_of_a_run_approved_in_another_process() -> None:
    run_id = suspend_refund()["run_id"]
    approved = keel_process("runs", "approve", run_id, "--app", APP)
    assert approved.returncode == 0, approved.stderr
    first, resumed = keel_ok("traces", "show", run_id)
    assert (first["status"], first["resumed"]) == ("suspended", False)
    assert (resumed["status"], resumed["resumed"]) == ("completed", True)
    assert resumed["trace_id"] == first["trace_id"]
    first_root = first["spans"][0]
    assert resumed["spans"][0]["links"] == [
        {"trace_id": first["trace_id"], "span_id": first_root["span_id"]}
    ]
    assert "execute_tool refund" in [s["name"] for s in resumed["spans"]]
    tree = keel_process("traces", "show", run_id, "--app", APP)
    assert tree.returncode == 0, tree.stderr
    assert f"resumed run {run_id}" in tree.stdout
    assert f"follows span {first_root['span_id']}" in tree.stdout


def test_a_bad_trace_filter_is_named_and_exits_2() -> None:
    done = keel_process("traces", "--status", "finished", "--app", APP)
    assert done.returncode == 2
    assert "'status'" in done.stderr and "traceback" not in done.stderr.lower()
    assert keel_process("traces", "show", "nope", "--app", APP).returncode == 2


def test_replay_reproduces_and_saves_a_test_case(tmp_path: Path) -> None:
    order = run_once("where is my order")
    case = tmp_path / "incident.json"
    report = keel_ok("replay", order, "--save-test", str(case))
    assert report["identical"] and report["mode"] == "exact"
    assert json.loads(case.read_text())["keel_replay_case"] == 1
    changed = tmp_path / "prompt.txt"
    changed.write_text("Answer in French.")
    done = keel_process(
        "replay",
        order,
        "--model",
        "test:echo",
        "--instructions-file",
        str(changed),
        "--app",
        APP,
        "--json",
    )
    assert done.returncode == 0, done.stderr
    fields = {d["field"] for d in json.loads(done.stdout)["differences"]}
    assert {"messages", "output", "tool_calls"} <= fields
    assert keel_process("replay", "nope", "--app", APP).returncode == 2


def test_feedback_is_linked_to_the_trace_and_summarised_per_agent_and_day() -> None:
    order = run_once("where is my order")
    other = run_once("hello")
    saved = keel_ok("feedback", "add", order, "--up", "--csat", "5", "--text", "quick")
    assert saved["agent_name"] == "support" and len(saved["trace_id"]) == 32
    keel_ok("feedback", "add", other, "--down", "--csat", "2")
    (day,) = keel_ok("feedback")
    assert (day["agent_name"], day["count"], day["thumbs_up"], day["thumbs_down"]) == (
        "support",
        2,
        1,
        1,
    )
    assert day["csat_mean"] == 3.5
    assert [f["run_id"] for f in keel_ok("feedback", "list", "--run", order)] == [order]


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--csat", "9"], "csat"), (["--up", "--down"], "--up"), ([], "at least one")],
)
def test_bad_feedback_is_refused_with_exit_2(args: list[str], named: str) -> None:
    order = run_once("hello")
    done = keel_process("feedback", "add", order, *args, "--app", APP)
    assert done.returncode == 2 and named in done.stderr
    assert keel_process("feedback", "add", "nope", "--up", "--app", APP).returncode == 2
