"""From errors to exit codes: one red line, never a traceback, for anything Keel reports.

Every command runs inside `reported`, and the exit status follows one rule:

    status  meaning                          raised as
    ------  -------------------------------  --------------------------------------------
    0       done
    1       the run or the environment       ModelError, RunError, MissingExtraError (an
            failed: trying again, or fixing  extra to install), OSError and sqlite3.Error
            the machine, can succeed         (e.g. an unwritable KEEL_HOME), any other
                                             KeelError, CliError by default (e.g. an app
                                             module that raised while importing)
    2       what the user typed is wrong:    ConfigurationError (app path, agent name,
            the same command fails again     model string), SessionNotFoundError,
                                             InvalidSessionIdError, RunNotFoundError,
                                             DecisionError (an unknown or decided pending
                                             action), RunConflictError (a run finished or
                                             busy), CliError(code=2) (an unknown session,
                                             an empty question), and typer's own usage
                                             errors (bad options)
    130     interrupted (Ctrl-C)             KeyboardInterrupt
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from keel import (
    ConfigurationError,
    DecisionError,
    InvalidSessionIdError,
    KeelError,
    MissingExtraError,
    RunConflictError,
    RunNotFoundError,
    SessionNotFoundError,
)
from keel._cli.ui import print_error
from keel.settings import data_dir, variable_for

__all__ = ["FAILED", "INTERRUPTED", "USAGE_ERROR", "CliError", "exit_code_for", "reported"]

FAILED = 1
USAGE_ERROR = 2
INTERRUPTED = 130

# First match wins: MissingExtraError is a ConfigurationError, but the install is at
# fault, not the input.
_EXIT_CODES: tuple[tuple[type[KeelError], int], ...] = (
    (MissingExtraError, FAILED),
    (ConfigurationError, USAGE_ERROR),
    (SessionNotFoundError, USAGE_ERROR),
    (InvalidSessionIdError, USAGE_ERROR),
    # `keel runs` input: an unknown run or pending id, a decision already taken, a run
    # that is finished or busy. RunStateError (a state that cannot be read) stays 1.
    (RunNotFoundError, USAGE_ERROR),
    (DecisionError, USAGE_ERROR),
    (RunConflictError, USAGE_ERROR),
)


class CliError(Exception):
    """A problem found by the CLI itself; `code` is the exit status it ends with."""

    def __init__(self, message: str, *, code: int = FAILED) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(error: KeelError) -> int:
    return next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), FAILED)


@contextmanager
def reported(console: Console) -> Generator[None]:
    """Turn Keel's errors, the machine's and Ctrl-C into a message on `console` and an
    exit status (see the module's table)."""
    try:
        yield
    except CliError as error:
        _exit(console, str(error), error.code)
    except KeelError as error:
        _exit(console, str(error), exit_code_for(error))
    except sqlite3.Error as error:
        _exit(console, _describe_database_error(error), FAILED)
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise  # a reader that left early (`keel sessions | head`): typer exits quietly
        _exit(console, _describe_os_error(error), FAILED)
    except KeyboardInterrupt:
        console.print("interrupted", style="yellow")
        raise typer.Exit(INTERRUPTED) from None


def _exit(console: Console, message: str, code: int) -> NoReturn:
    print_error(console, message)
    raise typer.Exit(code) from None


def _describe_os_error(error: OSError) -> str:
    """What failed, on which path, and the fix when the path is one of Keel's folders."""
    what = error.strerror or str(error)
    if error.filename is None:  # a socket or a pipe: no path, and no fix to guess
        return f"{what} ({type(error).__name__})"
    path = Path(error.filename)
    variable = variable_for(path)
    fix = (
        f"set {variable} to a writable folder"
        if variable
        else "check that the path exists and is writable"
    )
    return f"cannot use {path}: {what}; {fix}"


def _describe_database_error(error: sqlite3.Error) -> str:
    # sqlite3 errors carry no path: name the default database, where the fix usually is.
    return (
        f"the session database failed: {error} (the default database is "
        f"{data_dir() / 'keel.db'}); set KEEL_HOME to a writable folder"
    )
