"""`keel replay RUN_ID`: run a recorded run again and show what differs.

Without `--model`/`--instructions-file` the replay is exact (recorded answers, recorded
tool results) and exits 1 if it does not reproduce. With them the model is live and the
tools answer from the recording. `--save-test PATH` writes the run as a test-case file.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from keel._cli.errors import FAILED, USAGE_ERROR, CliError, reported
from keel._cli.loop import TurnLoop
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import print_note, stderr_console

if TYPE_CHECKING:
    from keel.observability.replay import ReplayReport

__all__ = ["replay_command"]


def replay_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run to replay.")],
    *,
    model: Annotated[
        str | None, typer.Option("--model", metavar="MODEL", help="Replay under this model.")
    ] = None,
    instructions_file: Annotated[
        Path | None,
        typer.Option("--instructions-file", metavar="PATH", help="New instructions (a file)."),
    ] = None,
    save_test: Annotated[
        Path | None,
        typer.Option("--save-test", metavar="PATH", help="Write the run as a test-case file."),
    ] = None,
    app: Annotated[
        str | None, typer.Option("--app", metavar="PATH", help="The app, as module:attribute.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")] = False,
) -> None:
    """Replay a recorded run exactly, or under a new model or prompt, and diff it."""
    err = stderr_console()
    with reported(err), TurnLoop() as loop:
        from keel.observability.replay import ReplayError, load_recording, replay

        instructions = _instructions(instructions_file)
        target = load_app_from_cwd(app)
        try:
            recording = loop.run(
                load_recording(
                    target.run_store, target.session_store, run_id, traces=target.trace_store
                )
            )
            agent = target.agent(recording.agent_name)
            if save_test is not None:
                recording.save(save_test)
                print_note(err, f"test case written to {save_test}")
            report = loop.run(replay(recording, agent, model=model, instructions=instructions))
        except ReplayError as exc:
            raise CliError(str(exc), code=USAGE_ERROR) from exc
    _print(report, as_json)
    if report.mode == "exact" and not report.identical:
        raise typer.Exit(FAILED)


def _instructions(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--instructions-file {path}: {exc.strerror}", code=USAGE_ERROR) from exc


def _print(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
        return
    if report.identical:
        typer.echo(f"run {report.run_id}: replayed ({report.mode}), no differences")
        return
    typer.echo(f"run {report.run_id}: replayed ({report.mode}), differences:")
    for difference in report.differences:
        typer.echo(f"\n{difference.field}:")
        before, after = difference.recorded, difference.replayed
        if isinstance(before, list) and isinstance(after, list):
            old, new = cast("list[str]", before), cast("list[str]", after)
            lines = difflib.unified_diff(old, new, "recorded", "replayed", lineterm="")
            typer.echo("\n".join(lines))
        else:
            typer.echo(f"- recorded: {before!r}\n+ replayed: {after!r}")
