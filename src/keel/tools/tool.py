"""`@tool`: a typed Python function (sync or async) the model may call."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from pydantic import BaseModel

from keel.context import RunContext
from keel.exceptions import ToolDefinitionError
from keel.models.base import ToolDefinition
from keel.tools.schema import function_schema

__all__ = ["Tool", "tool"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # the strictest provider rule (OpenAI)


@dataclass(frozen=True, slots=True, eq=False)
class Tool:
    """A function plus what the model is told about it. Build one with `@tool`."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    args_model: type[BaseModel]
    context_param: str | None
    is_async: bool
    run_in_thread: bool

    @property
    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the schema; raises pydantic.ValidationError."""
        validated = self.args_model.model_validate(arguments)
        return {name: getattr(validated, name) for name in type(validated).model_fields}

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> Any:
        """Call the function with already validated arguments."""
        if self.context_param is not None:
            arguments = {**arguments, self.context_param: ctx}
        if self.is_async:
            return await self.function(**arguments)
        if self.run_in_thread:
            # A blocking tool must not stall every other run on the event loop.
            import asyncio  # here: asyncio costs ~20 ms of `import keel`, and is loaded by now

            return await asyncio.to_thread(self.function, **arguments)
        return self.function(**arguments)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, run_in_thread: bool = True
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a tool from a typed function; usable as `@tool` or `@tool(name=…)`.

    The JSON schema comes from the signature, the description from the docstring.
    A parameter annotated `RunContext` is filled by Keel and hidden from the model.
    Synchronous functions run in a worker thread unless `run_in_thread=False`.
    """

    def build(fn: Callable[..., Any]) -> Tool:
        return make_tool(fn, name=name, description=description, run_in_thread=run_in_thread)

    return build if function is None else build(function)


def make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
) -> Tool:
    if isinstance(fn, Tool):
        return fn
    if not callable(fn):
        raise ToolDefinitionError(f"a tool must be a function, got {type(fn).__name__}")
    tool_name = name or getattr(fn, "__name__", "")
    if not _NAME.match(tool_name):
        raise ToolDefinitionError(
            f"tool name {tool_name!r} must be 1-64 letters, digits, '_' or '-'"
        )
    schema = function_schema(fn, tool_name)
    return Tool(
        name=tool_name,
        description=description if description is not None else schema.description,
        parameters=schema.parameters,
        function=fn,
        args_model=schema.args_model,
        context_param=schema.context_param,
        is_async=inspect.iscoroutinefunction(fn),
        run_in_thread=run_in_thread,
    )
