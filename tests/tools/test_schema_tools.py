"""Tools beyond functions: the Tool protocol, annotations, toolsets and JSON-schema tools."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from keel import Agent, RunContext, Runner
from keel.exceptions import ToolArgumentsError, ToolDefinitionError
from keel.messages import ToolResultPart
from keel.testing import ScriptedModel, tool_call
from keel.tools import FunctionTool, SchemaTool, Tool, ToolAnnotations, Toolset, make_tool, tool

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "quantity": {"type": "integer"},
        "mode": {"enum": ["air", "sea"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}},
                "required": ["sku"],
            },
        },
    },
    "required": ["order_id", "quantity"],
    "additionalProperties": False,
}


async def echo(arguments: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
    return {"arguments": arguments, "run_id": ctx.run_id}


def order_tool(**kwargs: Any) -> SchemaTool:
    return SchemaTool("place_order", "Place an order.", ORDER_SCHEMA, echo, **kwargs)


def problems_of(t: Tool, arguments: dict[str, Any]) -> str:
    with pytest.raises(ToolArgumentsError) as info:
        t.validate(arguments)
    message = str(info.value)
    prefix = f"invalid arguments for {t.name!r}: "
    assert message.startswith(prefix)
    return message.removeprefix(prefix)


def ctx() -> RunContext:
    return RunContext(run_id="r", agent_name="a")


def test_valid_arguments_pass_unchanged() -> None:
    arguments = {"order_id": "A1", "quantity": 2, "items": [{"sku": "X"}]}
    assert order_tool().validate(arguments) == arguments


def test_missing_field_and_wrong_type_are_named_per_field() -> None:
    problems = problems_of(order_tool(), {"quantity": "two"})
    assert problems == "order_id: Field required; quantity: 'two' is not of type 'integer'"


def test_extra_field_is_named_with_the_allowed_ones() -> None:
    problems = problems_of(order_tool(), {"order_id": "A1", "quantity": 1, "colour": "red"})
    assert problems.startswith("colour: Extra inputs are not permitted (allowed: order_id, ")


def test_nested_path_and_enum_violation() -> None:
    arguments = {"order_id": "A1", "quantity": 1, "mode": "rail", "items": [{"sku": 5}, {}]}
    assert problems_of(order_tool(), arguments) == (
        "items.0.sku: 5 is not of type 'string'; items.1.sku: Field required; "
        "mode: 'rail' is not one of ['air', 'sea']"
    )


def test_root_errors_are_reported_as_arguments_and_problems_are_capped() -> None:
    schema = {"type": "object", "minProperties": 1}
    t = SchemaTool("t", "T.", schema, echo)
    assert problems_of(t, {}).startswith("arguments: {} should be non-empty")
    many = {"type": "object", "properties": {f"f{i}": {"type": "integer"} for i in range(12)}}
    problems = problems_of(SchemaTool("m", "M.", many, echo), {f"f{i}": "x" for i in range(12)})
    assert problems.count("is not of type") == 8 and problems.endswith("; and 4 more")


def test_items_sort_numerically() -> None:
    arguments = {"order_id": "A", "quantity": 1, "items": [{"sku": i} for i in range(11)]}
    problems = problems_of(order_tool(), arguments).split("; ")
    assert problems[:3] == [
        "items.0.sku: 0 is not of type 'string'",
        "items.1.sku: 1 is not of type 'string'",
        "items.2.sku: 2 is not of type 'string'",
    ]


@pytest.mark.parametrize(
    ("name", "schema", "fault"),
    [
        ("bad name", ORDER_SCHEMA, "must be 1-64 letters"),
        ("t", {"type": "array"}, 'must have "type": "object" at its root'),
        ("t", {"properties": {}}, 'must have "type": "object" at its root'),
        ("t", {"type": "object", "properties": {"a": {"type": "strng"}}}, r"\$\.properties\.a"),
        ("t", {"type": "object", "required": "a"}, "'a' is not of type 'array'"),
    ],
)
def test_bad_definitions_fail_at_construction(name: str, schema: Any, fault: str) -> None:
    with pytest.raises(ToolDefinitionError, match=fault):
        SchemaTool(name, "T.", schema, echo)


def test_invalid_schema_error_names_the_tool() -> None:
    with pytest.raises(ToolDefinitionError, match="tool 'lookup': invalid JSON schema"):
        SchemaTool("lookup", "L.", {"type": "object", "minProperties": -1}, echo)


def test_annotations_are_carried() -> None:
    t = order_tool(annotations=ToolAnnotations(destructive=True, requires_approval=True))
    assert t.annotations.destructive and t.annotations.requires_approval
    assert not t.annotations.retryable
    assert order_tool().annotations == ToolAnnotations()
    assert ToolAnnotations(read_only=True).retryable and ToolAnnotations(idempotent=True).retryable


def test_tool_decorator_sets_annotations() -> None:
    @tool(requires_approval=True, idempotent=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return order_id

    assert refund.annotations == ToolAnnotations(idempotent=True, requires_approval=True)
    assert refund.annotations.retryable
    assert make_tool(lambda: None, name="noop", read_only=True).annotations.read_only


def test_function_tool_errors_list_every_field() -> None:
    @tool
    def place(order_id: str, quantity: int) -> None:
        """Place."""

    problems = problems_of(place, {"quantity": "two", "extra": 1})
    assert problems == (
        "order_id: Field required; "
        "quantity: Input should be a valid integer, unable to parse string as an integer; "
        "extra: Extra inputs are not permitted"
    )


def test_everything_implements_the_protocol_and_make_tool_keeps_tools() -> None:
    function_tool = make_tool(echo)
    schema_tool = order_tool()
    assert isinstance(function_tool, FunctionTool) and isinstance(function_tool, Tool)
    assert isinstance(schema_tool, Tool) and not isinstance(echo, Tool)
    assert make_tool(function_tool) is function_tool and make_tool(schema_tool) is schema_tool
    assert schema_tool.definition.parameters is ORDER_SCHEMA


def test_make_tool_refuses_options_it_would_drop() -> None:
    with pytest.raises(ToolDefinitionError, match=r"already a tool.*where the tool is built"):
        make_tool(order_tool(), requires_approval=True)  # pyright: ignore[reportArgumentType]


def test_a_toolset_is_recognised() -> None:
    class Static:
        def __init__(self, tools: Sequence[Tool]) -> None:
            self.tools = tools

        async def list_tools(self, ctx: RunContext) -> Sequence[Tool]:
            return self.tools

    toolset: Toolset = Static([order_tool()])
    assert isinstance(toolset, Toolset) and not isinstance(order_tool(), Toolset)


async def test_invoke_passes_arguments_and_context_to_the_handler() -> None:
    result = await order_tool().invoke({"order_id": "A1", "quantity": 1}, ctx())
    assert result == {"arguments": {"order_id": "A1", "quantity": 1}, "run_id": "r"}


async def test_a_sync_handler_runs_in_a_worker_thread() -> None:
    def blocking(arguments: dict[str, Any], ctx: RunContext) -> str:
        return f"{arguments['q']}@{threading.current_thread() is threading.main_thread()}"

    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    assert await SchemaTool("s", "S.", schema, blocking).invoke({"q": "x"}, ctx()) == "x@False"


async def test_a_handler_that_is_not_a_function_is_refused() -> None:
    with pytest.raises(ToolDefinitionError, match="handler must be a function"):
        SchemaTool("s", "S.", {"type": "object"}, "nope")  # type: ignore[arg-type]


async def test_the_loop_reports_schema_tool_errors_to_the_model() -> None:
    model = ScriptedModel([tool_call("place_order", {"quantity": 1}), "fixed"])
    result = await Runner().run(Agent(name="a", model=model, tools=[order_tool()]), "x")
    parts = [p for m in result.new_messages for p in m.parts if isinstance(p, ToolResultPart)]
    assert parts[0].is_error
    assert parts[0].content == "invalid arguments for 'place_order': order_id: Field required"


def test_import_keel_does_not_import_jsonschema() -> None:
    code = "import sys, keel, keel.tools; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
