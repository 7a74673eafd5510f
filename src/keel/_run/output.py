"""Structured output: an `output_type` becomes a JSON schema, and model text a value.

Providers with a JSON mode require an object at the root, so any other type (int, list,
a Literal…) is wrapped as `{"result": …}` and unwrapped after validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError, create_model

from keel.models.base import OutputSchema

__all__ = ["OutputSpec", "repair_prompt"]

T = TypeVar("T")

_WRAP_KEY = "result"


@dataclass(frozen=True, slots=True)
class OutputSpec(Generic[T]):
    output_type: type[T]
    schema: OutputSchema | None
    adapter: TypeAdapter[Any] | None
    wrapped: bool

    @classmethod
    def for_type(cls, output_type: type[T]) -> OutputSpec[T]:
        if output_type is str:
            return cls(output_type, None, None, False)
        adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        schema = adapter.json_schema()
        name = getattr(output_type, "__name__", "output")
        wrapped = schema.get("type") != "object"
        if wrapped:
            fields: dict[str, Any] = {_WRAP_KEY: (output_type, ...)}
            wrapper: type[BaseModel] = create_model(f"{name}_output", **fields)
            adapter = TypeAdapter(wrapper)
            schema = adapter.json_schema()
        schema.pop("title", None)
        return cls(output_type, OutputSchema(name=name, schema=schema), adapter, wrapped)

    def parse(self, text: str) -> T:
        """Validate the model's final text; raises pydantic.ValidationError."""
        if self.adapter is None:
            return text  # type: ignore[return-value]  # str output: the text is the value
        value = self.adapter.validate_json(_strip_code_fence(text))
        return getattr(value, _WRAP_KEY) if self.wrapped else value


def repair_prompt(error: ValidationError, schema: OutputSchema) -> str:
    """The message that sends invalid output back to the model with what to fix."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'output'}: {e['msg']}" for e in error.errors()[:8]
    )
    return (
        f"Your answer was not valid JSON for the required schema ({problems}). "
        f"Answer again with only a JSON object matching this schema: {schema.schema}"
    )


def _strip_code_fence(text: str) -> str:
    # Models often wrap JSON in ``` fences even when asked not to.
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else stripped[3:]
        stripped = stripped[: stripped.rfind("```")]
    return stripped
