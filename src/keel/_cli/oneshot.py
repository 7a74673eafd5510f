"""`keel run`: one question, one answer — streamed to a terminal, plain or JSON otherwise.

A run that stops to wait for a person (a tool that requires approval) is not a failure:
it exits 0 and names what it waits on and the `keel runs approve` command that decides it.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.text import Text

from keel import Agent, PendingAction, Runner, RunResult, Usage
from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.loop import FLUSH_SECONDS, TurnLoop
from keel._cli.render import EventPrinter
from keel._cli.target import (
    Target,
    load_target,
    new_session_id,
    ready_agent,
    resolve_model,
    session_history,
)
from keel._cli.ui import print_note, stderr_console, stdout_console

__all__ = [
    "describe_pending",
    "json_result",
    "pending_json",
    "print_decide_hints",
    "print_result",
    "print_waiting",
    "render_output",
    "run_once",
    "runs_command",
    "usage_json",
]


def run_once(
    question: str,
    *,
    app_path: str | None,
    agent_name: str | None,
    session_id: str | None,
    as_json: bool,
    run_id: str | None = None,
) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        text = read_question(question)
        target = load_target(app_path, agent_name)
        if session_id:
            loop.run(session_history(target, session_id))
        session_id = session_id or new_session_id()
        agent = ready_agent(target.agent, resolve_model(target.agent), err)
        printer = EventPrinter(out) if out.is_terminal and not as_json else None
        answer = _answer(
            target.app.runner, agent, text, printer, session_id=session_id, run_id=run_id
        )
        result = loop.run(answer)
        loop.run(target.app.flush(FLUSH_SECONDS))  # after-turn work (fact extraction)
    print_result(result, as_json=as_json, streamed=printer is not None, app_path=app_path)
    if err.is_terminal and not as_json and result.status == "completed" and result.session_id:
        _hint_continue(err, target, result.session_id)


def print_result(
    result: RunResult[Any], *, as_json: bool, streamed: bool, app_path: str | None
) -> None:
    """The answer on stdout (unless `streamed` showed it), or, for a run that waits on
    people, what it waits on, on stderr; JSON carries both."""
    if as_json:
        typer.echo(json.dumps(json_result(result), ensure_ascii=False, indent=2))
    elif result.status != "completed":
        print_waiting(stderr_console(), result.run_id, result.status, result.pending, app_path)
    elif not streamed:
        typer.echo(render_output(result.output))


def read_question(question: str) -> str:
    """The question argument, or standard input for `-`; empty is a usage error."""
    text = sys.stdin.read() if question == "-" else question
    if not text.strip():
        where = "standard input was empty" if question == "-" else "the question is empty"
        raise CliError(f"{where}: give the agent something to answer", code=USAGE_ERROR)
    return text.strip()


async def _answer(
    runner: Runner,
    agent: Agent[Any],
    text: str,
    printer: EventPrinter | None,
    *,
    session_id: str,
    run_id: str | None,
) -> RunResult[Any]:
    if printer is None:
        return await runner.run(agent, text, session_id=session_id, run_id=run_id)
    return await printer.consume(runner.stream(agent, text, session_id=session_id, run_id=run_id))


def render_output(output: Any) -> str:
    """Text as is; structured output (an `output_type`) as JSON."""
    if isinstance(output, str):
        return output
    return json.dumps(to_jsonable_python(output), ensure_ascii=False, indent=2)


def json_result(result: RunResult[Any]) -> dict[str, Any]:
    return {
        "status": result.status,
        "output": to_jsonable_python(result.output),
        "pending": [pending_json(p) for p in result.pending],
        "session_id": result.session_id,
        "run_id": result.run_id,
        "agent": result.agent_name,
        "steps": result.steps,
        "usage": usage_json(result.usage),
    }


def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "tool_calls": usage.tool_calls,
    }


def pending_json(pending: PendingAction) -> dict[str, Any]:
    return {
        "id": pending.id,
        "kind": pending.kind,
        "tool": pending.tool_name,
        "arguments": to_jsonable_python(pending.arguments),
        "reason": pending.reason,
        "call_id": pending.call_id,
        "requested_by": pending.requested_by,
    }


def describe_pending(pending: PendingAction) -> str:
    """`s1c1  refund(order_id="A1", amount=5.0) — why`: what approving it lets happen."""
    if pending.tool_name is None:
        what = "the next model call"
    else:
        args = ", ".join(
            f"{name}={json.dumps(to_jsonable_python(value), ensure_ascii=False)}"
            for name, value in pending.arguments.items()
        )
        what = f"{pending.tool_name}({args})"
    return f"{pending.id}  {what} — {pending.reason}"


def print_waiting(
    console: Console,
    run_id: str,
    status: str,
    pending: Sequence[PendingAction],
    app_path: str | None,
) -> None:
    """What a stopped run waits on, and the commands that decide it."""
    state = "needs attention" if status == "needs_attention" else "is suspended"
    console.print(Text(f"run {run_id} {state}; it waits on:", style="yellow"), soft_wrap=True)
    for action in pending:
        console.print(Text(f"  {describe_pending(action)}"), soft_wrap=True)
    print_decide_hints(console, run_id, pending, app_path)


def print_decide_hints(
    console: Console, run_id: str, pending: Sequence[PendingAction], app_path: str | None
) -> None:
    for action in pending:
        print_note(console, f"approve with: {runs_command(app_path, 'approve', run_id, action.id)}")
    if pending:
        reject = runs_command(app_path, "reject", run_id, pending[0].id, "--reason", "TEXT")
        print_note(console, f"or reject with: {reject}")


def runs_command(app_path: str | None, *words: str) -> str:
    """`keel runs WORDS… [--app APP]`: the options after the words, where typer reads them."""
    return shlex.join(["keel", "runs", *words, *(["--app", app_path] if app_path else [])])


def _hint_continue(err: Console, target: Target, session_id: str) -> None:
    command = target.command("run", "--session", session_id)
    print_note(err, f"continue with: {command} QUESTION")
