"""`RunContext`: what one run knows about itself, shared with tools and hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keel.messages import Usage

__all__ = ["RunContext"]


@dataclass(slots=True)
class RunContext:
    """State of one run. Tools receive it by declaring a `RunContext` parameter.

    `deps` carries whatever the application passes to `Runner.run(deps=…)`: a database
    handle, the current user. `usage` is kept current by the usage-accounting hook.
    """

    run_id: str
    agent_name: str
    session_id: str | None = None
    deps: Any = None
    step: int = 0
    usage: Usage = field(default_factory=Usage)
