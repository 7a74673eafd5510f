"""`@tool`: a typed Python function (sync or async) the model may call."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from keel.context import RunContext
from keel.exceptions import ToolDefinitionError
from keel.models.base import ToolDefinition
from keel.tools.base import Tool, ToolAnnotations, arguments_error, check_tool_name
from keel.tools.schema import function_schema

# `Tool` is re-exported: it was this module's dataclass before tools other than functions.
__all__ = ["FunctionTool", "Tool", "make_tool", "tool"]

_T = TypeVar("_T", bound=Tool)


@dataclass(frozen=True, slots=True, eq=False)
class FunctionTool:
    """A function plus what the model is told about it. Build one with `@tool`."""

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    args_model: type[BaseModel]
    context_param: str | None
    is_async: bool
    run_in_thread: bool
    annotations: ToolAnnotations = field(default_factory=ToolAnnotations)

    @property
    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check arguments against the schema; raises ToolArgumentsError listing each field."""
        try:
            validated = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            raise arguments_error(self.name, _problems(exc)) from None
        return dict(validated.__dict__)  # field -> value; extras are forbidden: fields only

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


def _problems(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
    ]


@overload
def tool(function: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
    requires_approval: bool = False,
    idempotent: bool = False,
    read_only: bool = False,
    destructive: bool = False,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
    requires_approval: bool = False,
    idempotent: bool = False,
    read_only: bool = False,
    destructive: bool = False,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a tool from a typed function; usable as `@tool` or `@tool(name=…)`.

    The JSON schema comes from the signature, the description from the docstring.
    A parameter annotated `RunContext` is filled by Keel and hidden from the model.
    Synchronous functions run in a worker thread unless `run_in_thread=False`.
    The remaining options become the tool's `ToolAnnotations`.
    """
    annotations = ToolAnnotations(
        read_only=read_only,
        destructive=destructive,
        idempotent=idempotent,
        requires_approval=requires_approval,
    )

    def build(fn: Callable[..., Any]) -> FunctionTool:
        return _function_tool(fn, name, description, run_in_thread, annotations)

    return build if function is None else build(function)


@overload
def make_tool(fn: _T) -> _T: ...


@overload
def make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
    requires_approval: bool = False,
    idempotent: bool = False,
    read_only: bool = False,
    destructive: bool = False,
) -> FunctionTool: ...


def make_tool(
    fn: Tool | Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    run_in_thread: bool = True,
    requires_approval: bool = False,
    idempotent: bool = False,
    read_only: bool = False,
    destructive: bool = False,
) -> Tool:
    """Return `fn` if it already is a tool, else make a `FunctionTool` of it (see `tool`)."""
    annotations = ToolAnnotations(
        read_only=read_only,
        destructive=destructive,
        idempotent=idempotent,
        requires_approval=requires_approval,
    )
    if isinstance(fn, Tool):
        _refuse_options(fn, name, description, run_in_thread, annotations)
        return fn
    return _function_tool(fn, name, description, run_in_thread, annotations)


def _refuse_options(
    existing: Tool,
    name: str | None,
    description: str | None,
    run_in_thread: bool,
    annotations: ToolAnnotations,
) -> None:
    # Options on a finished tool would be silently dropped; say where they belong instead.
    if name is None and description is None and run_in_thread and annotations == ToolAnnotations():
        return
    raise ToolDefinitionError(
        f"{existing.name!r} is already a tool, so make_tool cannot apply options to it; "
        "pass them where the tool is built (@tool(...) or SchemaTool(...))"
    )


def _function_tool(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    run_in_thread: bool,
    annotations: ToolAnnotations,
) -> FunctionTool:
    if not callable(fn):
        raise ToolDefinitionError(f"a tool must be a function, got {type(fn).__name__}")
    tool_name = check_tool_name(name or getattr(fn, "__name__", ""))
    schema = function_schema(fn, tool_name)
    return FunctionTool(
        name=tool_name,
        description=description if description is not None else schema.description,
        parameters=schema.parameters,
        function=fn,
        args_model=schema.args_model,
        context_param=schema.context_param,
        is_async=inspect.iscoroutinefunction(fn),
        run_in_thread=run_in_thread,
        annotations=annotations,
    )
