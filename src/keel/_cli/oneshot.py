"""`keel run`: one question, one answer — streamed to a terminal, plain or JSON otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console

from keel import Agent, Runner, RunResult
from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.loop import TurnLoop
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

__all__ = ["run_once"]


def run_once(
    question: str,
    *,
    app_path: str | None,
    agent_name: str | None,
    session_id: str | None,
    as_json: bool,
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
        result = loop.run(_answer(target.app.runner, agent, text, session_id, printer))
    if as_json:
        typer.echo(json.dumps(json_result(result), ensure_ascii=False, indent=2))
        return
    if printer is None:  # not streamed: print it now
        typer.echo(render_output(result.output))
    if err.is_terminal:
        _hint_continue(err, target, session_id)


def read_question(question: str) -> str:
    """The question argument, or standard input for `-`; empty is a usage error."""
    text = sys.stdin.read() if question == "-" else question
    if not text.strip():
        where = "standard input was empty" if question == "-" else "the question is empty"
        raise CliError(f"{where}: give the agent something to answer", code=USAGE_ERROR)
    return text.strip()


async def _answer(
    runner: Runner, agent: Agent[Any], text: str, session_id: str, printer: EventPrinter | None
) -> RunResult[Any]:
    if printer is None:
        return await runner.run(agent, text, session_id=session_id)
    return await printer.consume(runner.stream(agent, text, session_id=session_id))


def render_output(output: Any) -> str:
    """Text as is; structured output (an `output_type`) as JSON."""
    if isinstance(output, str):
        return output
    return json.dumps(to_jsonable_python(output), ensure_ascii=False, indent=2)


def json_result(result: RunResult[Any]) -> dict[str, Any]:
    usage = result.usage
    return {
        "output": to_jsonable_python(result.output),
        "session_id": result.session_id,
        "run_id": result.run_id,
        "agent": result.agent_name,
        "steps": result.steps,
        "usage": {
            "requests": usage.requests,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "tool_calls": usage.tool_calls,
        },
    }


def _hint_continue(err: Console, target: Target, session_id: str) -> None:
    command = target.command("run", "--session", session_id)
    print_note(err, f"continue with: {command} QUESTION")
