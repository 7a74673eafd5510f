"""What every tool is, whatever stands behind it: a Python function, a JSON schema, an MCP server.

The loop only ever talks to the `Tool` protocol; `Toolset` is a source of tools that is
asked once per run, so tools that live elsewhere (an MCP server) can change between runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from keel.exceptions import ToolArgumentsError, ToolDefinitionError

if TYPE_CHECKING:
    from keel.context import RunContext
    from keel.models.base import ToolDefinition

__all__ = ["Tool", "ToolAnnotations", "Toolset", "arguments_error", "check_tool_name"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the strictest provider rule (OpenAI)
_MAX_PROBLEMS = 8  # past a handful, more detail drowns the model instead of helping it


@dataclass(frozen=True, slots=True)
class ToolAnnotations:
    """Facts about a tool's effects that policy (retries, approvals) acts on.

    `read_only`, `destructive` and `idempotent` mirror MCP's readOnlyHint,
    destructiveHint and idempotentHint. `requires_approval` makes the run suspend for a
    person before the call executes.
    """

    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    requires_approval: bool = False

    @property
    def retryable(self) -> bool:
        """Whether running the call again is safe (it changes nothing, or nothing more)."""
        return self.read_only or self.idempotent


@runtime_checkable
class Tool(Protocol):
    """Something the model may call. `FunctionTool` and `SchemaTool` implement it."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON schema of the arguments object."""
        ...

    @property
    def annotations(self) -> ToolAnnotations: ...

    @property
    def definition(self) -> ToolDefinition: ...

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Return the arguments to invoke with; raise `ToolArgumentsError` listing each problem."""
        ...

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> Any:
        """Run the tool with arguments that `validate` returned."""
        ...


@runtime_checkable
class Toolset(Protocol):
    """A source of tools, resolved once per run (so its tools may change between runs)."""

    async def list_tools(self, ctx: RunContext) -> Sequence[Tool]: ...


def check_tool_name(name: str) -> str:
    """Return `name` if every provider accepts it; raise ToolDefinitionError otherwise."""
    if not _NAME.match(name):
        raise ToolDefinitionError(
            f"tool name {name!r} must be 1-64 letters, digits, '_' or '-'; rename the tool"
        )
    return name


def arguments_error(tool_name: str, problems: Sequence[str]) -> ToolArgumentsError:
    """The error for bad arguments: one `field.path: what is wrong` per problem."""
    shown = "; ".join(problems[:_MAX_PROBLEMS])
    if len(problems) > _MAX_PROBLEMS:
        shown += f"; and {len(problems) - _MAX_PROBLEMS} more"
    return ToolArgumentsError(f"invalid arguments for {tool_name!r}: {shown}")
