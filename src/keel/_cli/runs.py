"""`keel runs`: list stored runs, show one, and approve, reject or resume what waits.

Runs live in the app's database, so any process can decide a run another one suspended.
Every command acts as the anonymous principal of the default tenant: the CLI is the
operator's view of its own runs, not a multi-tenant front end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, cast, get_args

import typer
from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table
from rich.text import Text

from keel import App, Message, Runner, RunNotFoundError, RunResult, RunState, ToolResultPart
from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.loop import TurnLoop
from keel._cli.oneshot import (
    describe_pending,
    pending_json,
    print_decide_hints,
    print_result,
    render_output,
    runs_command,
    usage_json,
)
from keel._cli.render import EventPrinter, format_call
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import one_line, print_note, stderr_console, stdout_console
from keel.runs.pending import Decision, DecisionRecord, Reject, RunStatus

__all__ = ["decide_run", "resume_run", "show_run", "show_runs"]

STATUSES: tuple[str, ...] = get_args(RunStatus)
_STATUS_STYLES = {
    "running": "cyan",
    "suspended": "yellow",
    "needs_attention": "bold yellow",
    "completed": "green",
    "failed": "red",
}
_WAITING = ("suspended", "needs_attention")


# -- list ------------------------------------------------------------------------------


def show_runs(
    app_path: str | None,
    *,
    status: str | None,
    session_id: str | None,
    limit: int,
    as_json: bool,
) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        wanted = _check_status(status)
        app = load_app_from_cwd(app_path)
        store = app.runner.run_store
        states = loop.run(store.list_runs(status=wanted, session_id=session_id, limit=limit))
    if as_json:
        _echo_json([_summary_json(s) for s in states])
    elif not states:
        which = f"{status} runs" if status else "runs"
        print_note(err, f"no {which} in {app.database_path}")
    elif not out.is_terminal:  # for scripts: one run a line, tab-separated
        for state in states:
            typer.echo("\t".join(_summary_row(state)))
    else:
        out.print(_runs_table(states))
        print_note(err, f"see one with: {runs_command(app_path, 'show', 'ID')}")


def _check_status(status: str | None) -> RunStatus | None:
    if status is None or status in STATUSES:
        return cast("RunStatus | None", status)
    raise CliError(
        f"unknown run status {status!r}; use one of {', '.join(STATUSES)}", code=USAGE_ERROR
    )


def _summary_row(state: RunState) -> list[str]:
    return [
        state.run_id,
        state.agent_name,
        state.status,
        state.session_id or "-",
        str(state.step),
        str(len(state.undecided)),
        _local_time(state.updated_at),
    ]


def _runs_table(states: list[RunState]) -> Table:
    table = Table(box=None)
    for name in ("run", "agent", "status", "session", "steps", "pending", "updated"):
        numeric = name in ("steps", "pending")
        table.add_column(name, no_wrap=True, justify="right" if numeric else "left")
    for state in states:
        row: list[str | Text] = list(_summary_row(state))
        row[2] = Text(state.status, style=_STATUS_STYLES.get(state.status, ""))
        table.add_row(*row)
    return table


# -- show ------------------------------------------------------------------------------


def show_run(app_path: str | None, run_id: str, *, as_json: bool) -> None:
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        app = load_app_from_cwd(app_path)
        state = loop.run(_load(app, run_id, app_path))
    if as_json:
        _echo_json(_run_json(state))
        return
    _print_run(out, state)
    if state.status in _WAITING:
        print_decide_hints(err, state.run_id, state.undecided, app_path)
    elif state.status == "running":
        resume = runs_command(app_path, "resume", state.run_id)
        print_note(err, f"if the process running it stopped, continue it with: {resume}")


def _print_run(out: Console, state: RunState) -> None:
    for label, value in _run_fields(state):
        out.print(Text.assemble((f"{label:<10} ", "bold"), value), soft_wrap=True)
    _print_section(out, "pending", [describe_pending(p) for p in state.undecided])
    _print_section(out, "decisions", [_describe_decision(d) for d in state.decisions])
    _print_section(out, "messages", [_message_line(m) for m in state.new_messages])


def _run_fields(state: RunState) -> list[tuple[str, str | Text]]:
    usage = state.usage
    fields: list[tuple[str, str | Text]] = [
        ("run", state.run_id),
        ("status", Text(state.status, style=_STATUS_STYLES.get(state.status, ""))),
        ("agent", state.agent_name),
        ("session", state.session_id or "-"),
        ("principal", state.principal.label),
        ("steps", str(state.step)),
        (
            "usage",
            f"{usage.requests} requests, {usage.input_tokens} input + "
            f"{usage.output_tokens} output tokens, {usage.tool_calls} tool calls",
        ),
        ("updated", _local_time(state.updated_at)),
    ]
    if state.status == "completed":
        fields.append(("output", render_output(state.output)))
    if state.error:
        fields.append(("error", Text(state.error, style="red")))
    return fields


def _print_section(out: Console, title: str, lines: list[str]) -> None:
    if not lines:
        return
    out.print(Text(f"{title}:", style="bold"))
    for line in lines:
        out.print(Text(f"  {line}", no_wrap=True, overflow="ellipsis"))


def _describe_decision(record: DecisionRecord) -> str:
    decision = record.decision
    what = f"rejected ({decision.reason})" if isinstance(decision, Reject) else "approved"
    return f"{record.pending_id}  {what} by {record.decided_by.label}, {_local_time(record.at)}"


def _message_line(message: Message) -> str:
    calls = [f"→ {format_call(c)}" for c in message.tool_calls]
    results = [
        f"{'✗' if p.is_error else '←'} {p.tool_name}: {p.content}"
        for p in message.parts
        if isinstance(p, ToolResultPart)
    ]
    words = [message.text] if message.text else []
    return one_line(f"{message.role}: {' '.join([*words, *calls, *results])}")


# -- approve, reject, resume -----------------------------------------------------------


def decide_run(
    app_path: str | None,
    run_id: str,
    pending_id: str | None,
    decision: Decision,
    *,
    as_json: bool,
) -> None:
    """Record `decision` on one pending action (or every undecided one), then let the
    run go on if nothing is left undecided."""
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        app = load_app_from_cwd(app_path)
        state = loop.run(_load(app, run_id, app_path))
        decisions = _decisions(state, pending_id, decision, app_path)
        printer = EventPrinter(out) if out.is_terminal and not as_json else None
        result = loop.run(_continue(app.runner, run_id, decisions, printer))
    print_result(result, as_json=as_json, streamed=printer is not None, app_path=app_path)


def resume_run(app_path: str | None, run_id: str, *, as_json: bool) -> None:
    """Continue a run with the decisions it has: one whose process stopped, or one whose
    decisions were all recorded before it could go on."""
    out, err = stdout_console(), stderr_console()
    with reported(err), TurnLoop() as loop:
        app = load_app_from_cwd(app_path)
        state = loop.run(_load(app, run_id, app_path))
        if state.status in _WAITING and state.undecided:
            raise CliError(_undecided_message(state, app_path), code=USAGE_ERROR)
        printer = EventPrinter(out) if out.is_terminal and not as_json else None
        result = loop.run(_continue(app.runner, run_id, {}, printer))
    print_result(result, as_json=as_json, streamed=printer is not None, app_path=app_path)


def _decisions(
    state: RunState, pending_id: str | None, decision: Decision, app_path: str | None
) -> dict[str, Decision]:
    verb = decision.kind
    if state.status not in _WAITING:
        raise CliError(_not_waiting_message(state, verb, app_path), code=USAGE_ERROR)
    if pending_id is not None:  # the store checks that it exists and is undecided
        return {pending_id: decision}
    if not state.undecided:
        resume = runs_command(app_path, "resume", state.run_id)
        raise CliError(
            f"every pending action of run {state.run_id!r} is decided already, so there is "
            f"nothing to {verb}; continue the run with `{resume}`",
            code=USAGE_ERROR,
        )
    return {p.id: decision for p in state.undecided}


def _not_waiting_message(state: RunState, verb: str, app_path: str | None) -> str:
    run_id = state.run_id
    if state.status == "running":
        resume = runs_command(app_path, "resume", run_id)
        return (
            f"run {run_id!r} is running, so there is nothing to {verb}; if the process "
            f"running it stopped, continue it with `{resume}`"
        )
    show = runs_command(app_path, "show", run_id)
    return (
        f"run {run_id!r} is already {state.status}, so there is nothing to {verb}; "
        f"see it with `{show}`"
    )


def _undecided_message(state: RunState, app_path: str | None) -> str:
    commands = [runs_command(app_path, "approve", state.run_id, p.id) for p in state.undecided]
    return (
        f"run {state.run_id!r} still waits on a decision for "
        f"{', '.join(p.id for p in state.undecided)}; decide first, e.g. `{commands[0]}` "
        "(or `keel runs reject … --reason TEXT`)"
    )


async def _continue(
    runner: Runner,
    run_id: str,
    decisions: Mapping[str, Decision],
    printer: EventPrinter | None,
) -> RunResult[Any]:
    if printer is None:
        return await runner.resume(run_id, decisions=decisions)
    return await printer.consume(runner.stream_resume(run_id, decisions=decisions))


async def _load(app: App, run_id: str, app_path: str | None) -> RunState:
    """The stored run; a usage error naming `keel runs` if it is unknown."""
    try:
        return await app.runner.get_run(run_id)
    except RunNotFoundError:
        raise CliError(
            f"no run {run_id!r} in {app.database_path}; list the runs with "
            f"`{runs_command(app_path)}`",
            code=USAGE_ERROR,
        ) from None


# -- JSON ------------------------------------------------------------------------------


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _summary_json(state: RunState) -> dict[str, Any]:
    return {
        "run_id": state.run_id,
        "agent": state.agent_name,
        "status": state.status,
        "session_id": state.session_id,
        "steps": state.step,
        "pending": [pending_json(p) for p in state.undecided],
        "created_at": _iso_time(state.created_at),
        "updated_at": _iso_time(state.updated_at),
    }


def _run_json(state: RunState) -> dict[str, Any]:
    principal = state.principal
    return {
        **_summary_json(state),
        "principal": {"user_id": principal.user_id, "tenant_id": principal.tenant_id},
        "parent_run_id": state.parent_run_id,
        "usage": usage_json(state.usage),
        "decisions": [_decision_json(d) for d in state.decisions],
        "output": to_jsonable_python(state.output),
        "error": state.error,
        "new_messages": to_jsonable_python(state.new_messages),
    }


def _decision_json(record: DecisionRecord) -> dict[str, Any]:
    decision = record.decision
    return {
        "pending_id": record.pending_id,
        "decision": decision.kind,
        "reason": decision.reason if isinstance(decision, Reject) else None,
        "decided_by": record.decided_by.label,
        "at": _iso_time(record.at),
    }


def _local_time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def _iso_time(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
