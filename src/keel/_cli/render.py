"""`EventPrinter`: a streamed run on the terminal, text as it arrives, tools as dim lines.

The agent's name leads its answer; each tool call is a dim line `→ name(arg="value")`,
its result a dim `← …` line (a red `✗ …` when it failed), cut to the terminal's width.
A middleware that denied a call adds a dim `⊘ …` line; the other decisions, suspensions
and resumptions are the caller's to report (`keel run` names what a run waits on).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from rich.console import Console
from rich.status import Status
from rich.text import Text

from keel import (
    MiddlewareDecision,
    ModelRequestStarted,
    RunError,
    RunEvent,
    RunFinished,
    RunResult,
    TextDelta,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
)
from keel._cli.ui import MARK, one_line

__all__ = ["EventPrinter", "format_call", "format_result"]


def format_call(call: ToolCallPart) -> str:
    args = ", ".join(
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in call.arguments.items()
    )
    return f"{call.tool_name}({args})"


def format_result(result: ToolResultPart, *, named: bool) -> Text:
    """One line: `← content`, or `✗ error` in red; `named` adds the tool's name."""
    prefix = f"{result.tool_name}: " if named else ""
    if result.is_error:
        return _line(f"  ✗ {prefix}{one_line(result.content)}", "red")
    return _line(f"  ← {prefix}{one_line(result.content)}", "dim")


def _line(text: str, style: str) -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class EventPrinter:
    """Prints one run's events; `label` (the agent's name) goes before its first words."""

    def __init__(self, console: Console, *, label: str | None = None) -> None:
        self._console = console
        self._label = label
        self._labelled = label is None
        self._mid_line = False  # the cursor is after text, not at a line's start
        self._fresh = True  # nothing written since the label or a tool line
        self._started = 0  # tool calls started / finished in the current batch
        self._finished = 0
        self._status: Status | None = None

    async def consume(self, events: AsyncIterator[RunEvent]) -> RunResult[Any]:
        """Print every event and return the run's result; errors propagate as raised."""
        result: RunResult[Any] | None = None
        try:
            async for event in events:
                self.show(event)
                if isinstance(event, RunFinished):
                    result = event.result
        finally:
            self._stop_spinner()
            self.end_line()
            if isinstance(events, AsyncGenerator):
                await events.aclose()
        if result is None:
            raise RunError("the run ended without a result")
        return result

    def show(self, event: RunEvent) -> None:
        match event:
            case ModelRequestStarted():
                self._start_spinner()
            case TextDelta(text=text):
                self._relabel(event.context.agent_name)  # a router or handoff moved the run
                self._text(text)
            case ToolCallStarted(call=call):
                self._call(call)
            case ToolCallFinished(result=result):
                self._result(result)
            case MiddlewareDecision(kind="deny"):
                self._denied(event)
            case _:
                self._stop_spinner()

    def end_line(self) -> None:
        if self._mid_line:
            self._console.out("")
            self._mid_line = False

    def _relabel(self, agent_name: str) -> None:
        if self._label is not None and agent_name != self._label:
            self._label, self._labelled = agent_name, False

    def _text(self, text: str) -> None:
        if self._fresh:
            text = text.lstrip()
        if not text:
            return
        self._stop_spinner()
        if not self._labelled:
            self.end_line()
            self._console.print(Text(f"{self._label} {MARK} ", style="bold green"), end="")
            self._labelled = True
        self._console.out(text, end="", highlight=False)
        self._fresh = False
        self._mid_line = not text.endswith("\n")

    def _call(self, call: ToolCallPart) -> None:
        self._stop_spinner()
        self.end_line()
        if self._finished:  # a new batch of calls from the next model response
            self._started = self._finished = 0
        self._started += 1
        self._console.print(_line(f"  → {format_call(call)}", "dim"))
        self._fresh = True

    def _result(self, result: ToolResultPart) -> None:
        self._finished += 1
        self._console.print(format_result(result, named=self._started > 1))
        self._fresh = True

    def _denied(self, decision: MiddlewareDecision) -> None:
        self._stop_spinner()
        self.end_line()
        self._console.print(_line(f"  ⊘ {decision.middleware}: {one_line(decision.detail)}", "dim"))
        self._fresh = True

    def _start_spinner(self) -> None:
        if self._console.is_terminal and self._status is None and not self._mid_line:
            self._status = self._console.status(
                Text("thinking…", style="dim"), spinner="dots", spinner_style="dim"
            )
            self._status.start()

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
