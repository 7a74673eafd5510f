"""`Agent`: configuration only. Running it is the `Runner`'s job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, cast

from typing_extensions import TypeVar

from keel.events import RunHook
from keel.exceptions import ConfigurationError
from keel.limits import RunLimits
from keel.middleware import Middleware
from keel.models.base import Model, ModelSettings, ToolDefinition
from keel.tools.base import Tool, Toolset, check_tool_name
from keel.tools.tool import make_tool

__all__ = ["DEFAULT_MODEL", "Agent"]

DEFAULT_MODEL = "local:qwen2.5-coder-0.5b"
"""The offline default: a local llama.cpp model, no key and no network needed."""

OutputT = TypeVar("OutputT", default=str)


@dataclass(frozen=True, kw_only=True)
class Agent(Generic[OutputT]):
    """What an agent is: its name, instructions, model, tools, output type and limits.

    `tools` accepts `Tool` objects (function or schema tools), plain typed functions
    (turned into tools here, so a bad signature fails at definition time), and `Toolset`s,
    whose tools are listed afresh for every run. `output_type` other than `str` asks the
    model for JSON matching that type's schema and validates it. `middleware` runs inside
    the runner's, in order (see `keel.middleware`).
    """

    name: str
    instructions: str = ""
    model: str | Model = DEFAULT_MODEL
    tools: Sequence[Tool | Toolset | Callable[..., Any]] = ()
    output_type: type[OutputT] = str  # pyright: ignore[reportAssignmentType]
    limits: RunLimits = field(default_factory=RunLimits)
    model_settings: ModelSettings = field(default_factory=ModelSettings)
    hooks: Sequence[RunHook] = ()
    middleware: Sequence[Middleware] = ()
    tool_map: dict[str, Tool] = field(init=False, repr=False, compare=False)
    tool_definitions: tuple[ToolDefinition, ...] = field(init=False, repr=False, compare=False)
    toolsets: tuple[Toolset, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigurationError("an agent needs a non-empty name")
        toolsets = tuple(t for t in self.tools if _is_toolset(t))
        tools = tuple(_as_tool(t) for t in self.tools if not _is_toolset(t))
        check_unique_names(self.name, tools)
        object.__setattr__(self, "tools", tools + toolsets)
        object.__setattr__(self, "toolsets", toolsets)
        object.__setattr__(self, "tool_map", {t.name: t for t in tools})
        # Built once here, not on every run: what the model is told never changes.
        object.__setattr__(self, "tool_definitions", tuple(t.definition for t in tools))

    def as_tool(self, *, name: str | None = None, description: str | None = None) -> Tool:
        """This agent as a tool another agent calls: each call is a child run of the
        caller's, sharing its usage, trace, approvals and principal (`keel.handoffs`)."""
        from keel.handoffs.agents import AgentTool, tool_name_for

        tool_name = check_tool_name(name) if name else tool_name_for(self.name)
        text = description or self.instructions[:200] or f"Ask the {self.name} agent."
        return AgentTool(self, tool_name, text)


def _as_tool(candidate: Tool | Toolset | Callable[..., Any]) -> Tool:
    if isinstance(candidate, Tool):
        return candidate
    return make_tool(cast("Callable[..., Any]", candidate))


def _is_toolset(candidate: object) -> bool:
    return isinstance(candidate, Toolset) and not isinstance(candidate, Tool)


def check_unique_names(agent_name: str, tools: Sequence[Tool]) -> None:
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(f"agent {agent_name!r} has two tools named {duplicates[0]!r}")
