"""The `keel` command line, as a person or a script uses it.

Most tests drive the Typer app in-process (CliRunner: stdin is not a terminal, so output
is plain); the ones about processes — the installed entry point, sessions surviving from
one `keel run` to the next, apps found from the current directory — run the real command.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner, Result

import keel
from keel import (
    AppLoadError,
    ConfigurationError,
    InvalidSessionIdError,
    MaxStepsExceeded,
    MissingExtraError,
    ModelAssetError,
    ModelError,
    RunError,
    SessionNotFoundError,
    UnknownModelError,
)
from keel._cli.errors import CliError, reported
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


def test_help_shows_version_as_a_plain_flag() -> None:
    (line,) = [line for line in keel_cli("--help").output.splitlines() if "--version" in line]
    assert "Print the version" in line
    assert "<" not in line and "bool" not in line.lower()  # a flag takes no value


@pytest.mark.parametrize("command", [("run",), ("runs",), ("runs", "approve"), ("sessions",)])
def test_no_flag_in_any_help_claims_a_value(command: tuple[str, ...]) -> None:
    output = succeeded(keel_cli(*command, "--help"))
    flags = [line for line in output.splitlines() if line.strip().startswith(("--json", "--help"))]
    assert flags and all("<bool>" not in line for line in flags)


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


@pytest.mark.parametrize(
    "args", [("run",), ("run", "hi", "--nope"), ("sessions", "--limit", "0"), ("frobnicate",)]
)
def test_malformed_command_lines_are_usage_errors(args: tuple[str, ...]) -> None:
    assert keel_cli(*args).exit_code == 2


# -- exit codes and the environment ----------------------------------------------------

EXIT_CODES: dict[str, tuple[BaseException, int]] = {
    "unknown model": (UnknownModelError("x"), 2),
    "bad app path": (AppLoadError("x"), 2),
    "unknown agent": (ConfigurationError("x"), 2),
    "unknown session": (SessionNotFoundError("abc"), 2),
    "bad session id": (InvalidSessionIdError("x"), 2),
    "cli usage": (CliError("x", code=2), 2),
    "missing extra": (MissingExtraError("the local model", "local"), 1),
    "model failed": (ModelError("x"), 1),
    "model file": (ModelAssetError("x"), 1),
    "run failed": (RunError("x"), 1),
    "limit hit": (MaxStepsExceeded("x", limit="max_steps"), 1),
    "cli failure": (CliError("x"), 1),
    "file system": (NotADirectoryError(20, "Not a directory", "/a/b"), 1),
    "database": (sqlite3.OperationalError("unable to open database file"), 1),
    "ctrl-c": (KeyboardInterrupt(), 130),
}


@pytest.mark.parametrize(("error", "code"), EXIT_CODES.values(), ids=EXIT_CODES.keys())
def test_each_error_has_one_exit_code(error: BaseException, code: int) -> None:
    console = Console(file=io.StringIO(), width=200)
    with pytest.raises(typer.Exit) as exited, reported(console):
        raise error
    assert exited.value.exit_code == code
    assert "Traceback" not in console.file.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def unusable_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A KEEL_HOME that cannot be created: its parent is a regular file."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    home = blocker / "keel"
    monkeypatch.setenv("KEEL_HOME", str(home))
    return home


@pytest.mark.parametrize("args", [("sessions",), ("run", "hello"), ("chat",)])
def test_an_uncreatable_home_is_one_line_naming_it_and_the_fix(
    unusable_home: Path, args: tuple[str, ...]
) -> None:
    result = keel_cli(*args, "--app", APP, input="hello\n/exit\n")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()  # no traceback
    assert line.startswith("error: cannot use ")
    assert str(unusable_home.parent) in line and "set KEEL_HOME to a writable folder" in line


def test_the_installed_command_reports_an_uncreatable_home_without_a_traceback(
    unusable_home: Path,
) -> None:
    done = keel_process("run", "hello", "--app", APP)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "set KEEL_HOME to a writable folder" in done.stderr


def test_a_database_that_cannot_be_opened_names_keel_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_HOME", str(tmp_path))
    (tmp_path / "keel.db").mkdir()  # SQLite cannot open a folder as its file
    result = keel_cli("sessions", "--app", APP)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the session database failed")
    assert str(tmp_path / "keel.db") in result.stderr and "KEEL_HOME" in result.stderr


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
    status: str


def test_models_lists_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keel.models.local", None)  # the module is optional
    output = succeeded(keel_cli("models"))
    assert "providers: anthropic, azure, local, openai, test" in output
    assert "local models: unavailable" in output


def row_of(output: str, model: str) -> str:
    (row,) = [line for line in output.splitlines() if model in line]
    return row


def test_models_shows_each_status_and_how_to_get_missing_parts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = types.ModuleType("keel.models.local")
    entries = [
        FakeLocalModel("qwen2.5-coder-0.5b", "small and quick", tmp_path / "q.gguf", "ready"),
        FakeLocalModel("later", "built when used", tmp_path / "l.gguf", "first use"),
        FakeLocalModel("absent", "not installed", tmp_path / "a.gguf", "missing parts"),
    ]
    fake.catalog = lambda: entries  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keel.models.local", fake)
    output = succeeded(keel_cli("models"))
    assert "ready" in row_of(output, "local:qwen2.5-coder-0.5b (default)")
    assert "first use" in row_of(output, "local:later")
    assert "missing parts" in row_of(output, "local:absent")
    assert "pip install 'keel[local]'" in output


def test_models_says_ready_only_for_a_verified_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KEEL_CACHE", str(tmp_path))
    model = tmp_path / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF, but never verified")
    output = succeeded(keel_cli("models"))
    row = row_of(output, "local:qwen2.5-coder-0.5b (default)")
    assert "ready" not in row and ("first use" in row or "missing parts" in row)
    assert "local:qwen2.5-0.5b" not in output  # the former alias is a synonym, not a model


def test_models_names_the_extra_when_parts_are_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keel.models.local import _assets

    monkeypatch.setenv("KEEL_CACHE", str(tmp_path))
    gone = _assets.ModelPart("no_such_part_package", "data/part01.bin", "no-such-part")
    default = dataclasses.replace(_assets.CATALOG[_assets.DEFAULT_ALIAS], parts=(gone,))
    monkeypatch.setattr(_assets, "CATALOG", {default.alias: default})
    output = succeeded(keel_cli("models"))
    assert "missing parts" in row_of(output, "local:qwen2.5-coder-0.5b (default)")
    assert "pip install 'keel[local]'" in output


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
