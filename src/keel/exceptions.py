"""Every error Keel raises derives from :class:`KeelError`.

The tree::

    KeelError
    ├── ConfigurationError          wrong setup, found before or at definition time
    │   ├── UnknownModelError       a model string names no registered provider or model
    │   ├── ToolDefinitionError     a function cannot become a tool (names the parameter)
    │   ├── AppLoadError            `pkg.module:attr` could not be loaded
    │   └── MissingExtraError       an optional part is used without its extra installed
    ├── ModelError                  a model provider failed to answer
    │   └── ModelAssetError         a model file could not be assembled or verified
    ├── RunError                    a run started but could not finish
    │   ├── LimitExceeded           a bound of the loop was hit
    │   │   ├── MaxStepsExceeded
    │   │   └── UsageLimitExceeded
    │   ├── OutputValidationError   the model's output stayed invalid after repairs
    │   ├── RunBlocked              a middleware refused the run with a reply
    │   ├── RunNotFoundError        an unknown run id (or one of another tenant)
    │   ├── RunConflictError        the run or its session is busy, or not in a resumable state
    │   ├── DecisionError           a resume decision that does not fit the run's pending actions
    │   └── RunStateError           a run state that cannot be stored or read back
    ├── ToolArgumentsError          a tool's arguments failed validation (said to the model)
    └── SessionError
        ├── SessionNotFoundError    an unknown session id
        ├── InvalidSessionIdError   a session id that cannot be stored
        └── SessionBusyError        another run is using the session right now

Messages name the fix, not just the fault.
"""

from __future__ import annotations

__all__ = [
    "AppLoadError",
    "ConfigurationError",
    "DecisionError",
    "InvalidSessionIdError",
    "KeelError",
    "LimitExceeded",
    "MaxStepsExceeded",
    "MissingExtraError",
    "ModelAssetError",
    "ModelError",
    "OutputValidationError",
    "RunBlocked",
    "RunConflictError",
    "RunError",
    "RunNotFoundError",
    "RunStateError",
    "SessionBusyError",
    "SessionError",
    "SessionNotFoundError",
    "ToolArgumentsError",
    "ToolDefinitionError",
    "UnknownModelError",
    "UsageLimitExceeded",
]


class KeelError(Exception):
    """Root of every error raised by Keel."""


class ConfigurationError(KeelError, ValueError):
    """Keel was set up in a way that cannot work."""


class UnknownModelError(ConfigurationError, ValueError):
    """A model string names no known provider or model."""


class ToolDefinitionError(ConfigurationError, TypeError):
    """A Python function cannot be turned into a tool."""


class AppLoadError(ConfigurationError):
    """An application could not be loaded from a `module:attribute` path."""


class MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'keel[{extra}]'")
        self.extra = extra


class ModelError(KeelError):
    """A model provider failed to produce a response."""


class ModelAssetError(ModelError):
    """A model file could not be assembled, found or verified."""


class RunError(KeelError):
    """A run started but could not finish."""


class LimitExceeded(RunError):
    """A bound of the agent loop was hit; `limit` names it."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class MaxStepsExceeded(LimitExceeded):
    """The model was asked more times than `RunLimits.max_steps` allows."""


class UsageLimitExceeded(LimitExceeded):
    """Token or request usage went past a `RunLimits` bound."""


class OutputValidationError(RunError):
    """The model's final output failed validation, repairs included."""

    def __init__(self, message: str, *, raw_output: str) -> None:
        super().__init__(message)
        self.raw_output = raw_output


class SessionError(KeelError):
    """A session could not be read or written."""


class SessionNotFoundError(SessionError, LookupError):
    """No session has this id."""

    def __init__(self, session_id: str) -> None:
        super().__init__(
            f"no session with id {session_id!r}; start a new conversation without an id, "
            "or list existing ones with `keel sessions`"
        )
        self.session_id = session_id


class InvalidSessionIdError(SessionError, ValueError):
    """A session id is empty, too long, or uses characters outside the allowed set."""


class SessionBusyError(SessionError, RuntimeError):
    """Another run holds the session; runs on one session never interleave."""

    def __init__(self, session_id: str, run_id: str) -> None:
        super().__init__(
            f"session {session_id!r} is busy with run {run_id!r}; wait for it to finish "
            "and send the message again (turns on one session run one at a time)"
        )
        self.session_id = session_id
        self.run_id = run_id


class RunBlocked(RunError):
    """A middleware refused the run and chose what the user is told (`reply`)."""

    def __init__(self, message: str, *, reply: str) -> None:
        super().__init__(message)
        self.reply = reply


class RunNotFoundError(RunError, LookupError):
    """No run has this id, for this tenant."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}; list runs with `keel runs`")
        self.run_id = run_id


class RunConflictError(RunError):
    """The run is not in a state that allows this, or another process got there first."""


class DecisionError(RunError, ValueError):
    """A decision names an unknown pending action, or a principal not allowed to decide."""


class RunStateError(RunError):
    """A run's state cannot be written (names the field) or read back (names the fix)."""


class ToolArgumentsError(KeelError, ValueError):
    """A tool call's arguments do not match the tool's schema; the message lists each field."""
