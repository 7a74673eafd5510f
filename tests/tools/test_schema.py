"""JSON schemas generated from typed signatures, and errors at definition time."""

from __future__ import annotations

import socket
from enum import Enum
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from keel import RunContext, ToolDefinitionError, tool
from keel.context import RunContext as Ctx
from keel.exceptions import ToolArgumentsError


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str
    zip_code: str | None = None


def props(t: Any) -> dict[str, Any]:
    return t.parameters["properties"]


def test_primitives_required_and_defaults() -> None:
    @tool
    def f(name: str, count: int, ratio: float = 0.5, loud: bool = False) -> None:
        """Do f."""

    assert f.parameters["required"] == ["name", "count"]
    assert props(f)["count"]["type"] == "integer"
    assert props(f)["ratio"]["default"] == 0.5
    assert props(f)["loud"]["type"] == "boolean"
    assert f.parameters["additionalProperties"] is False


def test_optional_literal_enum_list_nested() -> None:
    @tool
    def ship(
        mode: Literal["air", "sea"],
        color: Color,
        tags: list[str],
        address: Address,
        note: str | None = None,
    ) -> None:
        """Ship something."""

    p = props(ship)
    assert p["mode"]["enum"] == ["air", "sea"]
    assert p["tags"] == {"items": {"type": "string"}, "title": "Tags", "type": "array"}
    assert "$ref" in p["address"] and "Address" in ship.parameters["$defs"]
    assert "$ref" in p["color"] and ship.parameters["$defs"]["Color"]["enum"] == ["red", "blue"]
    assert {"type": "null"} in p["note"]["anyOf"]
    args = ship.validate(
        {"mode": "air", "color": "red", "tags": [], "address": {"street": "1 Main", "city": "X"}}
    )
    assert args["color"] is Color.RED and isinstance(args["address"], Address)


def test_descriptions_from_google_style_docstring() -> None:
    @tool
    def refund(order_id: str, amount: float) -> None:
        """Refund an order.

        Only for delivered orders.

        Args:
            order_id: The order to refund.
            amount: How much, in euros.
        """

    assert refund.description == "Refund an order.\n\nOnly for delivered orders."
    assert props(refund)["order_id"]["description"] == "The order to refund."
    assert props(refund)["amount"]["description"] == "How much, in euros."


def test_async_functions_and_custom_names() -> None:
    @tool(name="fetch-page", description="Fetch a page.")
    async def fetch(url: str) -> str:
        return url

    assert fetch.name == "fetch-page" and fetch.is_async and fetch.description == "Fetch a page."


def test_dict_and_nested_generic_types() -> None:
    @tool
    def g(mapping: dict[str, int], matrix: list[list[float]], pair: tuple[int, str]) -> None:
        """G."""

    p = props(g)
    assert p["mapping"]["additionalProperties"] == {"type": "integer"}
    assert p["matrix"]["items"]["items"]["type"] == "number"
    assert p["pair"]["prefixItems"][1]["type"] == "string"


def test_run_context_parameter_is_hidden_from_the_model() -> None:
    @tool
    def h(ctx: Ctx, q: str) -> None:
        """H."""

    assert list(props(h)) == ["q"] and h.context_param == "ctx"


def test_validation_coerces_and_rejects() -> None:
    @tool
    def k(n: int, mode: Literal["a", "b"]) -> None:
        """K."""

    assert k.validate({"n": "3", "mode": "a"}) == {"n": 3, "mode": "a"}
    with pytest.raises(ToolArgumentsError, match=r"invalid arguments for 'k': mode: Input should"):
        k.validate({"n": 1, "mode": "c"})


def test_missing_annotation_names_the_parameter() -> None:
    def bad(city, unit: str) -> None:  # type: ignore[no-untyped-def]
        """Bad."""

    with pytest.raises(ToolDefinitionError, match="parameter 'city' has no type annotation"):
        tool(bad)


def test_unschemable_type_names_the_parameter() -> None:
    def bad(conn: socket.socket) -> None:
        """Bad."""

    with pytest.raises(ToolDefinitionError, match="parameter 'conn'"):
        tool(bad)


def test_varargs_are_refused() -> None:
    def bad(*items: str) -> None:
        """Bad."""

    with pytest.raises(ToolDefinitionError, match=r"\*args/\*\*kwargs"):
        tool(bad)


def test_invalid_tool_name_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="must be 1-64"):
        tool(name="has spaces")(lambda: None)


def test_not_a_function_is_refused() -> None:
    from keel.tools.tool import make_tool

    with pytest.raises(ToolDefinitionError, match="must be a function"):
        make_tool(42)  # type: ignore[arg-type]


def test_tool_stays_callable_as_the_function() -> None:
    @tool
    def double(x: int) -> int:
        """Double."""
        return x * 2

    assert double(4) == 8


def test_run_context_is_exported() -> None:
    assert RunContext is Ctx
