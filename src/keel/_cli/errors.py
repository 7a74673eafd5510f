"""From errors to exit codes: one red line, never a traceback, for anything Keel reports.

Exit codes: 2 for what the user typed (app path, agent, model string, session id, an
empty question), 1 for a run or a model that failed, 130 for Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

import typer
from rich.console import Console

from keel import (
    ConfigurationError,
    InvalidSessionIdError,
    KeelError,
    MissingExtraError,
    SessionNotFoundError,
)
from keel._cli.ui import print_error

__all__ = ["USAGE_ERROR", "CliError", "exit_code_for", "reported"]

USAGE_ERROR = 2
INTERRUPTED = 130


class CliError(Exception):
    """A problem found by the CLI itself; `code` is the exit status it ends with."""

    def __init__(self, message: str, *, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(error: KeelError) -> int:
    if isinstance(error, MissingExtraError):  # the install is incomplete, not the input
        return 1
    usage = ConfigurationError | SessionNotFoundError | InvalidSessionIdError
    return USAGE_ERROR if isinstance(error, usage) else 1


@contextmanager
def reported(console: Console) -> Generator[None]:
    """Turn Keel's errors and Ctrl-C into a message on `console` and an exit status."""
    try:
        yield
    except CliError as error:
        print_error(console, str(error))
        raise typer.Exit(error.code) from None
    except KeelError as error:
        print_error(console, str(error))
        raise typer.Exit(exit_code_for(error)) from None
    except KeyboardInterrupt:
        console.print("interrupted", style="yellow")
        raise typer.Exit(INTERRUPTED) from None
