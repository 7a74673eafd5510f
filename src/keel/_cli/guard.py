"""`keel guard check`: run input guardrails on messages and show what each decided.

The group is registered in `keel.cli` with one line; the guardrails (and the embedding
model behind the second injection tier) load only when a command runs.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from keel.guardrails.base import CheckReport, Guardrail

__all__ = ["guard_app"]

guard_app = typer.Typer(
    help="Test guardrails on messages: what each decides, its score and latency.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@guard_app.command("check")
def guard_check(
    text: Annotated[str | None, typer.Argument(help="A message to check.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", metavar="PATH", help='A JSONL file: one {"text": ...} a line.'),
    ] = None,
    app: Annotated[
        str | None,
        typer.Option(
            "--app",
            metavar="MODULE:ATTR",
            help="Run this app's input guardrails. Default: built-in.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="One JSON object per message, in order.")
    ] = False,
) -> None:
    """Run input guardrails on TEXT or on every line of --file; exit 0 whatever they decide."""
    from keel._cli.errors import CliError, reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        if (text is None) == (file is None):
            raise CliError("give a message or --file PATH (one of them)", code=2)
        messages = [text] if text is not None else _read_jsonl(file)  # type: ignore[arg-type]
        guardrails = _guardrails(app)
        reports = asyncio.run(_check(guardrails, messages))
    for report in reports:
        typer.echo(json.dumps(_as_json(report)) if as_json else _as_text(report))


def _read_jsonl(path: Path) -> list[str]:
    from keel._cli.errors import CliError

    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", code=2) from None
    messages: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path}:{number}: not JSON ({exc.msg})", code=2) from None
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):  # pyright: ignore[reportUnknownMemberType]
            raise CliError(f'{path}:{number}: expected {{"text": "..."}}', code=2)
        messages.append(str(item["text"]))  # pyright: ignore[reportUnknownArgumentType]
    return messages


def _guardrails(app_path: str | None) -> list[Guardrail]:
    from keel.guardrails.builtin import default_input_guardrails

    if app_path is None:
        return default_input_guardrails()
    from keel._cli.errors import CliError
    from keel.app import load_app
    from keel.guardrails.middleware import Guardrails

    app = load_app(app_path)
    layers = [*app.middleware, *(m for a in app.agents for m in a.middleware)]
    found = [g for m in layers if isinstance(m, Guardrails) for g in (*m.input, *m.parallel)]
    if not found:
        raise CliError(f"app {app_path!r} has no input guardrails (Guardrails(input=...))", code=2)
    return found


async def _check(guardrails: list[Guardrail], messages: list[str]) -> list[CheckReport]:
    from keel.guardrails.base import CheckReport, run_one

    reports: list[CheckReport] = []
    for message in messages:
        report = CheckReport(message)
        for guardrail in guardrails:  # every guardrail runs, so each one's score is shown
            result = await run_one(guardrail, report.text, None)
            report.results.append(result)
            if result.verdict.action == "modify" and result.verdict.text is not None:
                report.text = result.verdict.text
        reports.append(report)
    return reports


def _as_json(report: CheckReport) -> dict[str, Any]:
    return {
        "action": report.action,
        "guardrails": [
            {
                "name": r.guardrail,
                "action": r.verdict.action,
                "score": r.verdict.score,
                "latency_ms": round(r.latency_s * 1000, 3),
                "reason": r.verdict.reason,
                **({"error": r.error} if r.error else {}),
            }
            for r in report.results
        ],
    }


def _as_text(report: CheckReport) -> str:
    parts = [
        f"{r.guardrail}={r.verdict.action}({r.verdict.score:.2f}, {r.latency_s * 1000:.2f} ms)"
        for r in report.results
    ]
    return f"{report.action.upper():6} " + "  ".join(parts)
