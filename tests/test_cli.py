"""The `keel` command line, as a person or a script uses it.

Most tests drive the Typer app in-process (CliRunner: stdin is not a terminal, so output
is plain); the ones about processes — the installed entry point, sessions surviving from
one `keel run` to the next, apps found from the current directory — run the real command.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from typer.testing import CliRunner, Result

import keel
from keel.cli import cli

ROOT = Path(__file__).resolve().parents[1]
APP = "tests.cli_app:app"
MARK = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"  # between speaker and words
NEW_SESSION = re.compile(r"new session ([0-9a-f]{12})")


@pytest.fixture(autouse=True)
def _fresh_test_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The app object caches its session store, whose database is in this test's KEEL_HOME.
    monkeypatch.delitem(sys.modules, "tests.cli_app", raising=False)
    yield


def keel_cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def keel_process(
    *args: str, input: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("keel")  # the console script pyproject declares
    assert script.exists(), f"the `keel` entry point is not installed next to {sys.executable}"
    return subprocess.run(
        [str(script), *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),  # KEEL_HOME: this test's directory
        timeout=60,
        check=False,
    )


def succeeded(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def session_of(output: str) -> str:
    found = NEW_SESSION.findall(output)
    assert found, output
    return found[-1]


# -- version ---------------------------------------------------------------------------


def test_the_installed_command_prints_the_version() -> None:
    done = keel_process("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"keel {keel.__version__}"


def test_help_lists_the_commands() -> None:
    output = succeeded(keel_cli("--help"))
    for command in ("chat", "run", "models", "sessions"):
        assert command in output


# -- run -------------------------------------------------------------------------------


def test_run_prints_the_answer_and_only_the_answer() -> None:
    result = keel_cli("run", "hello", "--app", APP)
    assert result.exit_code == 0, result.output
    assert result.stdout == "You said 'hello'; user messages so far: 1.\n"


def test_run_json_reports_output_usage_and_ids() -> None:
    data = json.loads(succeeded(keel_cli("run", "hello", "--app", APP, "--json")))
    assert data["output"] == "You said 'hello'; user messages so far: 1."
    assert data["usage"]["requests"] == 1
    assert (
        data["usage"]["total_tokens"]
        == data["usage"]["input_tokens"] + data["usage"]["output_tokens"]
    )
    assert re.fullmatch(r"[0-9a-f]{12}", data["session_id"])
    assert data["run_id"] and data["agent"] == "support"


def test_run_with_tools_answers_after_the_tool_result() -> None:
    data = json.loads(succeeded(keel_cli("run", "my order?", "--app", APP, "--json")))
    assert data["output"] == 'The tool said: {"order_id":"A1001","status":"shipped"}'
    assert data["usage"]["tool_calls"] == 1 and data["steps"] == 2


def test_a_session_continues_across_two_processes() -> None:
    first = keel_process("run", "hello", "--app", APP, "--json")
    assert first.returncode == 0, first.stderr
    session = json.loads(first.stdout)["session_id"]
    second = keel_process("run", "and again", "--app", APP, "--session", session, "--json")
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["session_id"] == session
    assert data["output"] == "You said 'and again'; user messages so far: 2."


def run_in_terminal(*args: str, timeout: float = 30.0) -> str:
    """Run `keel` with a pseudo-terminal as stdout and stderr; what a person would see."""
    primary, secondary = pty.openpty()
    script = Path(sys.executable).with_name("keel")
    process = subprocess.Popen(
        [str(script), *args], stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, cwd=ROOT
    )
    os.close(secondary)
    seen, deadline = b"", time.monotonic() + timeout
    while select.select([primary], [], [], max(deadline - time.monotonic(), 0))[0]:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        seen += chunk
    os.close(primary)
    assert process.wait(timeout=5) == 0, seen
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", seen.decode())


def test_run_in_a_terminal_streams_tool_calls_and_the_answer() -> None:
    screen = run_in_terminal("run", "track my parcel", "--app", APP)
    assert "Let me check." in screen
    assert '→ lookup_order(order_id="A1001")' in screen
    assert 'The tool said: {"order_id":"A1001","status":"shipped"}' in screen
    assert "continue with: keel run --app tests.cli_app:app --session" in screen


def test_run_reads_the_question_from_stdin() -> None:
    result = keel_cli("run", "-", "--app", APP, input="from a pipe\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "You said 'from a pipe'; user messages so far: 1.\n"


def test_apps_are_found_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "myagents.py").write_text(
        "from keel import Agent\nbot = Agent(name='bot', model='test:echo')\n"
    )
    done = keel_process("run", "ping", "--app", "myagents:bot", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo: ping\n"


def test_a_failing_run_prints_one_red_line_and_exits_1() -> None:
    result = keel_cli("run", "please fail", "--app", APP)
    assert result.exit_code == 1
    assert result.stderr == "error: the model is unreachable\n"
    assert result.stdout == ""


def test_run_prepares_the_model_before_the_first_request() -> None:
    result = keel_cli("run", "hi", "--app", APP, "--agent", "preparing")
    assert result.exit_code == 0, result.output
    assert result.stdout == "prepared before the first request: True\n"
    assert "assembling model…" in result.stderr and "loading model…" in result.stderr


@dataclass(frozen=True)
class BadInput:
    args: tuple[str, ...]
    message: str
    stdin: str | None = None


BAD_INPUTS = {
    "unknown app module": BadInput(("--app", "nowhere.near:app"), "cannot import 'nowhere.near'"),
    "malformed app path": BadInput(("--app", "tests.cli_app"), "must look like"),
    "app attribute missing": BadInput(("--app", "tests.cli_app:nope"), "found nothing"),
    "unknown agent": BadInput(("--app", APP, "--agent", "ghost"), "no agent named 'ghost'"),
    "unknown model": BadInput(
        ("--app", APP, "--agent", "misconfigured"), "unknown model provider 'nope'"
    ),
    "unknown session": BadInput(
        ("--app", APP, "--session", "abc123"),
        "no session 'abc123'",
    ),
    "invalid session id": BadInput(("--app", APP, "--session", "no spaces!"), "invalid session"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
@pytest.mark.parametrize("command", ["run", "chat"])
def test_bad_input_is_a_usage_error_with_a_precise_message(command: str, case: BadInput) -> None:
    args = (command, "hello", *case.args) if command == "run" else (command, *case.args)
    result = keel_cli(*args, input="hello\n/exit\n")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and case.message in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
    assert "You said" not in result.output  # nothing ran


def test_an_unknown_session_names_how_to_list_sessions() -> None:
    result = keel_cli("chat", "--app", APP, "--session", "abc123")
    assert result.exit_code == 2
    assert "keel sessions --app tests.cli_app:app" in result.stderr


@pytest.mark.parametrize(("question", "stdin"), [("  ", None), ("-", ""), ("-", " \n")])
def test_an_empty_question_is_a_usage_error(question: str, stdin: str | None) -> None:
    result = keel_cli("run", question, "--app", APP, input=stdin)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "empty" in result.stderr


# -- chat ------------------------------------------------------------------------------


def test_chat_streams_the_answer_and_names_the_session() -> None:
    output = succeeded(keel_cli("chat", "--app", APP, input="hello\n/exit\n"))
    assert f"support {MARK} You said 'hello'; user messages so far: 1." in output
    session = session_of(output)
    assert output.splitlines()[-1] == (
        f"resume with: keel chat --app tests.cli_app:app --session {session}"
    )
    assert succeeded(keel_cli("sessions", "--app", APP)).split() == [session]


def test_no_resume_hint_when_nothing_was_saved() -> None:
    output = succeeded(keel_cli("chat", "--app", APP, input="please fail\n/exit\n"))
    assert "resume with" not in output
    assert keel_cli("sessions", "--app", APP).stdout == ""


def test_chat_shows_tool_calls_and_their_results() -> None:
    output = succeeded(keel_cli("chat", "--app", APP, input="track my parcel\n/exit\n"))
    lines = output.splitlines()
    start = lines.index(f"you {MARK} track my parcel")
    assert lines[start + 1 : start + 5] == [
        f"support {MARK} Let me check.",
        '  → lookup_order(order_id="A1001")',
        '  ← {"order_id":"A1001","status":"shipped"}',
        'The tool said: {"order_id":"A1001","status":"shipped"}',
    ]


def test_chat_shows_a_failed_tool_call() -> None:
    output = succeeded(keel_cli("chat", "--app", APP, input="boom\n/exit\n"))
    assert "  → explode()" in output
    assert "  ✗ tool 'explode' failed: RuntimeError: the warehouse is on fire" in output


def test_a_run_error_is_one_line_and_the_chat_goes_on_without_saving_it() -> None:
    result = keel_cli("chat", "--app", APP, input="please fail\nhello\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.stderr == "error: the model is unreachable\n"
    assert "user messages so far: 1." in result.stdout  # the failed turn was not saved


def test_chat_resumes_a_session_where_it_stopped() -> None:
    session = json.loads(succeeded(keel_cli("run", "first", "--app", APP, "--json")))
    output = succeeded(
        keel_cli("chat", "--app", APP, "--session", session["session_id"], input="next\n")
    )
    assert f"resumed session {session['session_id']}" in output
    assert f"you {MARK} first" in output  # a recap of where it stopped
    assert "You said 'next'; user messages so far: 2." in output


def _read_until(stream: IO[bytes], marker: bytes, timeout: float = 20.0) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([stream], [], [], max(deadline - time.monotonic(), 0))
        assert ready, f"waited {timeout} s for {marker!r}; got {seen!r}"
        seen += os.read(stream.fileno(), 4096)
    return seen


def test_ctrl_c_stops_the_answer_and_the_chat_goes_on() -> None:
    script = Path(sys.executable).with_name("keel")
    chat = subprocess.Popen(
        [str(script), "chat", "--app", APP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert chat.stdin and chat.stdout
    chat.stdin.write(b"tell me a story\n")
    chat.stdin.flush()
    _read_until(chat.stdout, b"Once upon a time (2)")  # it is streaming
    chat.send_signal(signal.SIGINT)
    out, err = chat.communicate(b"hello\n/exit\n", timeout=20)
    assert chat.returncode == 0, err
    assert "interrupted: this turn was not saved" in err.decode()
    assert "You said 'hello'; user messages so far: 1." in out.decode()  # story not saved


def test_slash_new_starts_a_fresh_session() -> None:
    output = succeeded(keel_cli("chat", "--app", APP, input="hi\n/new\nhi\n/exit\n"))
    assert output.count("user messages so far: 1.") == 2
    assert len(set(NEW_SESSION.findall(output))) == 2


def test_slash_help_and_unknown_commands() -> None:
    result = keel_cli("chat", "--app", APP, input="/help\n/frobnicate\n/exit\n")
    assert result.exit_code == 0
    for command in ("/help", "/new", "/exit"):
        assert command in result.stdout
    assert "error: unknown command /frobnicate; /help lists the commands" in result.stderr


def test_end_of_input_leaves_the_chat_cleanly() -> None:
    result = keel_cli("chat", "--app", APP, input="hello\n")
    assert result.exit_code == 0 and result.exception is None
    assert "user messages so far: 1." in result.output


def test_chat_prepares_the_model_before_the_first_message() -> None:
    result = keel_cli("chat", "--app", APP, "--agent", "preparing", input="hi\n/exit\n")
    assert result.exit_code == 0, result.output
    assert "assembling model…" in result.stderr and "loading model…" in result.stderr
    assert f"preparing {MARK} prepared before the first request: True" in result.stdout


# -- models ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeLocalModel:
    alias: str
    description: str
    path: Path
    ready: bool


def test_models_lists_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keel.models.local", None)  # the module is optional
    output = succeeded(keel_cli("models"))
    assert "providers: local, test" in output
    assert "local models: unavailable" in output


def test_models_lists_the_local_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.ModuleType("keel.models.local")
    entries = [FakeLocalModel("qwen2.5-0.5b", "small and quick", tmp_path / "q.gguf", True)]
    fake.catalog = lambda: entries  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keel.models.local", fake)
    output = succeeded(keel_cli("models"))
    assert "local:qwen2.5-0.5b (default)" in output
    assert "small and quick" in output and "yes" in output


# -- sessions --------------------------------------------------------------------------


def _new_session(question: str) -> str:
    return json.loads(succeeded(keel_cli("run", question, "--app", APP, "--json")))["session_id"]


def test_sessions_lists_the_most_recent_first_and_honours_the_limit() -> None:
    older, newer = _new_session("one"), _new_session("two")
    assert succeeded(keel_cli("sessions", "--app", APP)).split() == [newer, older]
    assert succeeded(keel_cli("sessions", "--app", APP, "--limit", "1")).split() == [newer]


def test_sessions_when_there_are_none() -> None:
    result = keel_cli("sessions", "--app", APP)
    assert result.exit_code == 0 and result.stdout == ""
    assert "no sessions yet" in result.stderr


def test_sessions_clear_deletes_one_session() -> None:
    session = _new_session("one")
    assert succeeded(keel_cli("sessions", "--app", APP, "--clear", session)).strip() == (
        f"cleared session {session}"
    )
    assert keel_cli("sessions", "--app", APP).stdout == ""
    again = keel_cli("run", "hi", "--app", APP, "--session", session)
    assert again.exit_code == 2


def test_clearing_an_unknown_session_is_a_usage_error() -> None:
    result = keel_cli("sessions", "--app", APP, "--clear", "abc123")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no session with id 'abc123'")
