"""A model's slow one-time setup, shown as it happens (`SupportsPrepare`).

Any model may implement `prepare`; the CLI never asks which provider it is.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from keel import Model
from keel.models.base import SupportsPrepare

__all__ = ["prepare_model"]


def prepare_model(model: Model, console: Console) -> None:
    """Call `model.prepare` with a progress bar (stage lines when not a terminal)."""
    if not isinstance(model, SupportsPrepare):
        return
    started = time.monotonic()
    if console.is_terminal:
        _prepare_with_bar(model, console)
    else:
        model.prepare(_StageLog(console))
    elapsed = time.monotonic() - started
    if elapsed >= 1.0:
        console.print(Text(f"model ready ({elapsed:.1f} s)", style="dim"))


def _prepare_with_bar(model: SupportsPrepare, console: Console) -> None:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        model.prepare(_StageBar(progress))


class _StageBar:
    """A progress callback: one bar per stage, a pulsing one while the fraction is unknown."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._stage: str | None = None
        self._task: TaskID | None = None

    def __call__(self, stage: str, fraction: float | None) -> None:
        if stage != self._stage or self._task is None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(stage, total=None)
            self._stage = stage
        if fraction is not None:
            self._progress.update(self._task, total=1.0, completed=fraction)


class _StageLog:
    """A progress callback for logs and pipes: each stage once, as a line."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._stage: str | None = None

    def __call__(self, stage: str, fraction: float | None) -> None:
        if stage != self._stage:
            self._stage = stage
            self._console.print(Text(stage, style="dim"), soft_wrap=True)
