"""`SchemaTool`: a tool known only by name, description and JSON schema, plus a handler.

For tools whose arguments are described by a schema rather than a Python signature: an
MCP server's tools, an HTTP API, tools configured as data. Arguments are checked with
`jsonschema` (Draft 2020-12), imported here only, so `import keel` does not pay for it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keel.context import RunContext
from keel.exceptions import ToolDefinitionError
from keel.models.base import ToolDefinition
from keel.tools.base import ToolAnnotations, arguments_error, check_tool_name

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["SchemaTool", "ToolHandler"]

ToolHandler = (
    Callable[[dict[str, Any], RunContext], Awaitable[Any]]
    | Callable[[dict[str, Any], RunContext], Any]
)
"""Receives the validated arguments and the run's context; async, or sync (run in a thread)."""

_MAX_MESSAGE = 200  # jsonschema quotes the offending value, which may be a whole document


@dataclass(frozen=True, slots=True, eq=False)
class SchemaTool:
    """A tool described by a JSON schema whose root is `{"type": "object", ...}`.

    The name and schema are checked here, so a bad definition fails at construction with
    a `ToolDefinitionError` rather than on the model's first call.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    handler: ToolHandler
    annotations: ToolAnnotations = field(default_factory=ToolAnnotations, kw_only=True)
    _validator: Draft202012Validator = field(init=False, repr=False)
    _is_async: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_tool_name(self.name)
        # Frozen: these are derived once here, never changed afterwards.
        object.__setattr__(self, "_validator", _build_validator(self.name, self.parameters))
        object.__setattr__(self, "_is_async", _is_async_callable(self.handler))

    @property
    def definition(self) -> ToolDefinition:
        return ToolDefinition(self.name, self.description, self.parameters)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Return `arguments` unchanged if they match the schema; else raise ToolArgumentsError."""
        errors: Iterable[ValidationError] = self._validator.iter_errors(arguments)  # pyright: ignore[reportUnknownMemberType]
        problems = _problems(errors)
        if problems:
            raise arguments_error(self.name, problems)
        return arguments

    async def invoke(self, arguments: dict[str, Any], ctx: RunContext) -> Any:
        """Call the handler with already validated arguments and the run's context."""
        if self._is_async:
            return await self.handler(arguments, ctx)
        import asyncio  # loaded by whatever runs the event loop; kept off `import keel`

        # A blocking handler must not stall every other run on the event loop.
        result = await asyncio.to_thread(self.handler, arguments, ctx)
        return await result if inspect.isawaitable(result) else result


def _is_async_callable(handler: ToolHandler) -> bool:
    if not callable(handler):
        raise ToolDefinitionError(
            f"a SchemaTool handler must be a function, got {type(handler).__name__}"
        )
    # Anything else (an object with `async def __call__`) runs in a thread, and what it
    # returns is awaited in `invoke`: correct, just not the fastest path.
    return inspect.iscoroutinefunction(handler)


def _build_validator(tool_name: str, schema: dict[str, Any]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict) or schema.get("type") != "object":  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ToolDefinitionError(
            f'tool {tool_name!r}: the parameters schema must have "type": "object" at its '
            'root (tool arguments are a JSON object); wrap the fields in {"type": "object", '
            '"properties": {...}}'
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: invalid JSON schema at {exc.json_path}: {exc.message}; "
            "fix the schema so it is valid Draft 2020-12"
        ) from None
    return Draft202012Validator(schema)


def _problems(errors: Iterable[ValidationError]) -> list[str]:
    found: dict[tuple[Any, ...], str] = {}  # keyed by sort order; duplicates collapse
    for error in errors:
        for path, message in _describe(error):
            line = f"{'.'.join(str(p) for p in path) or 'arguments'}: {_cut(message)}"
            found[(_sort_key(path), line)] = line
    return [found[key] for key in sorted(found)]


def _describe(error: ValidationError) -> list[tuple[list[str | int], str]]:
    path: list[str | int] = list(error.absolute_path)
    return _per_property(error, path) or [(path, error.message)]


def _per_property(
    error: ValidationError, path: list[str | int]
) -> list[tuple[list[str | int], str]]:
    """Missing and unexpected properties, each at its own path, as pydantic reports them."""
    instance: Any = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        required: Any = error.validator_value
        return [([*path, key], "Field required") for key in required if key not in instance]
    if error.validator == "additionalProperties" and error.validator_value is False:
        schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
        return [([*path, key], _extra_message(schema)) for key in _extras(instance, schema)]
    return []


def _extras(instance: Any, schema: dict[str, Any]) -> list[str]:
    if not isinstance(instance, dict):
        return []
    known: dict[str, Any] = schema.get("properties", {})
    patterns: Iterable[str] = schema.get("patternProperties", {})
    return [
        key
        for key in map(str, instance)  # pyright: ignore[reportUnknownArgumentType]
        if key not in known and not any(re.search(p, key) for p in patterns)
    ]


def _extra_message(schema: dict[str, Any]) -> str:
    allowed = ", ".join(schema.get("properties", {})) or "none"
    return f"Extra inputs are not permitted (allowed: {allowed})"


def _sort_key(path: list[str | int]) -> tuple[tuple[int, int, str], ...]:
    # Indexes sort numerically (items.2 before items.10) and before names at the same depth.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in path)


def _cut(message: str) -> str:
    if len(message) <= _MAX_MESSAGE:
        return message
    return message[: _MAX_MESSAGE - 1] + "…"
