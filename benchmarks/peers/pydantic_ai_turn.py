"""The Keel loop-overhead turn in PydanticAI: one tool call, then an answer.

Run by `benchmarks/peers.py` inside `benchmarks/.peers/pydantic_ai/`; prints JSON.
The model is PydanticAI's own `FunctionModel` with an async function returning one of
two prebuilt `ModelResponse`s (an async function: a sync one would run in a thread).
Instrumentation is off, as it is by default.
"""

from __future__ import annotations

import asyncio

from _harness import parse_args, report, time_async
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

PROMPT = "What is 1 + 2?"
ANSWER = "1 + 2 = 3"
USAGE = RequestUsage(input_tokens=10, output_tokens=5)
TOOL_CALL = ModelResponse(
    parts=[ToolCallPart("add", {"a": 1, "b": 2}, tool_call_id="call_1")], usage=USAGE
)
FINAL = ModelResponse(parts=[TextPart(ANSWER)], usage=USAGE)


async def prebuilt(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """A tool call, or the final text once the last request carries a tool return."""
    last = messages[-1]
    done = isinstance(last, ModelRequest) and any(isinstance(p, ToolReturnPart) for p in last.parts)
    return FINAL if done else TOOL_CALL


agent = Agent(FunctionModel(prebuilt), name="calc")


@agent.tool_plain
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0])

    async def run_once() -> object:
        return await agent.run(PROMPT)

    result = await agent.run(PROMPT)
    if result.output != ANSWER or len(result.new_messages()) != 4:
        raise AssertionError(f"unexpected turn: {result.output!r}, {result.new_messages()!r}")
    timings = await time_async(run_once, runs=args.runs, warmup=args.warmup)
    report("PydanticAI", "pydantic-ai-slim", timings, "FunctionModel, instrumentation off")


if __name__ == "__main__":
    asyncio.run(main())
