"""Turn a Python function's signature into a pydantic model and a JSON schema.

pydantic does the type work (Optional, Literal, Enum, nested models, lists, defaults);
this module walks the signature so that a failure names the parameter at fault, and
lifts per-parameter descriptions out of the docstring (Google, NumPy or reST style).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from keel.context import RunContext

if TYPE_CHECKING:
    from docstring_parser import Docstring
from keel.exceptions import ToolDefinitionError

__all__ = ["FunctionSchema", "function_schema"]


@dataclass(frozen=True, slots=True)
class FunctionSchema:
    description: str
    parameters: dict[str, Any]
    args_model: type[BaseModel]
    context_param: str | None


class _ArgsBase(BaseModel):
    # Unknown arguments are an error the model must hear about, not something to drop.
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)


def function_schema(fn: Callable[..., Any], tool_name: str) -> FunctionSchema:
    """Build the schema of `fn`'s arguments; raises ToolDefinitionError naming the cause."""
    import docstring_parser  # here, not at import: only tool definitions need it

    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description or "" for p in doc.params}
    hints = _type_hints(fn, tool_name)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(fn).parameters.values():
        annotation = _annotation_of(param, hints, tool_name)
        if annotation is RunContext:
            context_param = param.name
            continue
        _check_schema_possible(annotation, param.name, tool_name)
        fields[param.name] = (annotation, _field_info(param, param_docs.get(param.name, "")))
    model = create_model(f"{tool_name}_arguments", __base__=_ArgsBase, **fields)
    return FunctionSchema(_description(doc), _clean_schema(model), model, context_param)


def _type_hints(fn: Callable[..., Any], tool_name: str) -> dict[str, Any]:
    try:
        return get_type_hints(fn, include_extras=True)
    except Exception as exc:  # a forward reference that cannot be resolved
        raise ToolDefinitionError(
            f"tool {tool_name!r}: cannot resolve type hints ({exc}); "
            "define the referenced types at module level"
        ) from exc


def _annotation_of(param: inspect.Parameter, hints: dict[str, Any], tool_name: str) -> Any:
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise ToolDefinitionError(
            f"tool {tool_name!r}: parameter {param.name!r} is *args/**kwargs; "
            "tools take named parameters only"
        )
    if param.name not in hints:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: parameter {param.name!r} has no type annotation; "
            "annotate it so the model knows what to send"
        )
    return hints[param.name]


def _check_schema_possible(annotation: Any, param_name: str, tool_name: str) -> None:
    try:
        TypeAdapter(annotation).json_schema()
    except Exception as exc:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: parameter {param_name!r} has type {annotation!r}, "
            f"which has no JSON schema ({type(exc).__name__}); use JSON-friendly types "
            "(str, int, float, bool, Literal, Enum, lists, dicts, pydantic models, dataclasses)"
        ) from exc


def _field_info(param: inspect.Parameter, description: str) -> FieldInfo:
    default = ... if param.default is inspect.Parameter.empty else param.default
    return Field(default, description=description or None)


def _description(doc: Docstring) -> str:
    parts = [doc.short_description or "", doc.long_description or ""]
    return "\n\n".join(p for p in parts if p)


def _clean_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)  # the generated model name means nothing to the model
    return schema
