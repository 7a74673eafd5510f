"""The Keel loop-overhead turn in the OpenAI Agents SDK: one tool call, then an answer.

Run by `benchmarks/peers.py` inside `benchmarks/.peers/openai_agents/`; prints JSON.
The model is a `Model` subclass returning one of two prebuilt `ModelResponse`s, built
with the SDK's own `agents.testing` item helpers. Tracing is disabled: Keel's tracing
hook has no OpenTelemetry SDK configured in the Keel figure either, so neither exports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from _harness import parse_args, report, time_async
from agents import Agent, Model, ModelResponse, RunConfig, Runner, Usage, function_tool
from agents.testing import assistant_message, function_call

PROMPT = "What is 1 + 2?"
ANSWER = "1 + 2 = 3"


@function_tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class PrebuiltModel(Model):
    """Answers a tool call, or the final text once the last input item is a tool result."""

    def __init__(self) -> None:
        usage = Usage(requests=1, input_tokens=10, output_tokens=5, total_tokens=15)
        call = function_call("add", {"a": 1, "b": 2}, call_id="call_1")
        self._tool_call = ModelResponse(output=[call], usage=usage, response_id=None)
        self._answer = ModelResponse(
            output=[assistant_message(ANSWER)], usage=usage, response_id=None
        )

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        items = args[1] if len(args) > 1 else kwargs["input"]
        last = items[-1] if isinstance(items, list) else {}
        done = isinstance(last, dict) and last.get("type") == "function_call_output"
        return self._answer if done else self._tool_call

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the benchmark does not stream")


async def main() -> None:
    args = parse_args(__doc__.split("\n\n")[0])
    agent = Agent(name="calc", model=PrebuiltModel(), tools=[add])
    config = RunConfig(tracing_disabled=True)

    async def run_once() -> object:
        return await Runner.run(agent, PROMPT, run_config=config)

    result = await Runner.run(agent, PROMPT, run_config=config)
    if result.final_output != ANSWER or len(result.new_items) != 3:
        raise AssertionError(f"unexpected turn: {result.final_output!r}, {result.new_items!r}")
    timings = await time_async(run_once, runs=args.runs, warmup=args.warmup)
    report("OpenAI Agents SDK", "openai-agents", timings, "tracing disabled")


if __name__ == "__main__":
    asyncio.run(main())
