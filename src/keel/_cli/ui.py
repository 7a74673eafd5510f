"""Consoles and the one-line messages every command prints the same way."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

__all__ = ["MARK", "one_line", "print_error", "print_note", "stderr_console", "stdout_console"]

MARK = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
"""Between a speaker and their words, as in a chat transcript."""


def stdout_console() -> Console:
    """Answers and listings: what a script piping `keel` would want to read."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """Errors, progress and hints: never mixed into what a script reads."""
    return Console(stderr=True, highlight=False)


def one_line(text: str) -> str:
    return " ".join(text.split())


def print_error(console: Console, message: str) -> None:
    line = Text.assemble(("error: ", "bold red"), (one_line(message), "red"))
    _print_line(console, line)


def print_note(console: Console, message: str) -> None:
    _print_line(console, Text(message, style="dim"))


def _print_line(console: Console, line: Text) -> None:
    # Word-wrapped on a terminal; one physical line for a pipe or a log to grep.
    console.print(line, soft_wrap=not console.is_terminal)
