"""OpenAI-compatible `/v1/chat/completions` and `/v1/models`: Keel agents as models.

`model` names an agent. The request's messages are the whole conversation (the endpoint
is stateless, as OpenAI's is); the agent runs on them with its own instructions, tools
and middleware. Tools the client sends are offered to the model too, but never run here:
a call to one ends the run and returns as `tool_calls`, for the client to run and send
back. `response_format` asks the model for JSON matching the schema.

`POST /v1/chat/completions` is served by `chat_completions_route`, a plain Starlette
route that `create_server` puts before every other: FastAPI's route matching and
dependency solving cost more CPU than the rest of a request to an instant model. It does
what the dependencies do (JSON content type, API key, body as `ChatRequest`, refused
with the same problem documents) and runs the same `_complete` as the FastAPI route,
which stays for the OpenAPI spec.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic_core import to_json

from keel.agent import Agent
from keel.events import RunEvent, TextDelta
from keel.messages import ModelResponse, ToolResultPart, Usage
from keel.middleware import Middleware, ModelCall, ModelHandler, ToolCall, ToolHandler
from keel.models.base import ModelSettings, OutputSchema
from keel.principal import Principal
from keel.result import RunResult
from keel.run import Runner
from keel.server.content import json_body, require_json
from keel.server.execution import RunHandle
from keel.server.openai_types import ChatRequest, to_messages
from keel.server.problems import Problem
from keel.server.scopes import ToolScopeGuard
from keel.server.state import CurrentPrincipal, ServerState, State, request_principal
from keel.tools.schema_tool import SchemaTool

__all__ = ["chat_completions_route", "router"]

router = APIRouter(prefix="/v1", tags=["openai"], dependencies=[Depends(require_json)])


@router.get("/models")
async def list_models(state: State, principal: CurrentPrincipal) -> dict[str, Any]:
    data = [
        {"id": a.name, "object": "model", "created": 0, "owned_by": "keel"}
        for a in state.app.agents
    ]
    return {"object": "list", "data": data}


@router.post("/chat/completions", responses={200: {"content": {"text/event-stream": {}}}})
async def chat_completions(body: ChatRequest, state: State, principal: CurrentPrincipal) -> Any:
    return await _complete(state, body, principal)


async def chat_completions_route(request: Request) -> Response:
    """`chat_completions` without FastAPI's dependency solving (see the module docstring)."""
    await require_json(request)
    state: ServerState = request.app.state.keel
    principal = await request_principal(request, state)
    body = json_body(ChatRequest, await request.body())
    return await _complete(state, body, principal)


async def _complete(state: ServerState, body: ChatRequest, principal: Principal) -> Response:
    agent = _agent_for(state, body)
    messages = to_messages(body.messages)
    client_tools = frozenset(t.function.name for t in body.tools or ())
    fmt = body.response_format.output_schema() if body.response_format else None
    middleware = [*state.app.run_middleware, ToolScopeGuard(exempt=client_tools)]
    if fmt is not None or client_tools:  # else it would pass every call through untouched
        middleware.insert(-1, _Shaping(fmt, client_tools))
    runner = Runner(middleware=middleware, agents=[agent])
    queue = state.queue_for(agent)
    await queue.__aenter__()

    async def events() -> AsyncGenerator[RunEvent]:
        # A caller that does not stream gets the model's whole answer in one call: no
        # text deltas to make, and a provider answers one JSON body instead of a stream.
        run = runner.stream(agent, messages, principal=principal, deltas=body.stream)
        try:
            async for event in run:
                yield event
        finally:
            await queue.__aexit__(None, None, None)

    handle = state.runs.start(events)
    completion = _Completion(body.model, client_tools)
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(completion.chunks(handle, usage), media_type="text/event-stream")
    try:
        result = await handle.result(state.settings.request_timeout_s)
    except TimeoutError:
        raise Problem(504, "the agent did not answer within the request timeout") from None
    # Bytes straight from pydantic-core: FastAPI's encoder would walk the dict first.
    return Response(to_json(completion.whole(result)), media_type="application/json")


def _agent_for(state: ServerState, body: ChatRequest) -> Agent[Any]:
    agent = state.agent(body.model)
    tools = [
        SchemaTool(t.function.name, t.function.description, t.function.parameters, _never)
        for t in body.tools or ()
    ]
    settings = agent.model_settings
    max_tokens = body.max_completion_tokens or body.max_tokens
    if body.temperature is not None or max_tokens is not None or body.seed is not None:
        settings = ModelSettings(
            temperature=body.temperature if body.temperature is not None else settings.temperature,
            max_tokens=max_tokens or settings.max_tokens,
            seed=body.seed if body.seed is not None else settings.seed,
        )
    if not tools and settings is agent.model_settings:
        return agent
    return replace(agent, tools=[*agent.tools, *tools], model_settings=settings)


async def _never(arguments: dict[str, Any], ctx: Any) -> None:
    raise AssertionError("client tools run on the client")  # _Shaping suspends first


class _Shaping(Middleware):
    """Asks for the response format; stops the run at a call to a client's tool."""

    def __init__(self, output_schema: OutputSchema | None, client_tools: frozenset[str]) -> None:
        self.output_schema = output_schema
        self.client_tools = client_tools

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        if self.output_schema is not None:
            call.request = replace(call.request, output_schema=self.output_schema)
        return await call_next(call)

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if call.call.tool_name in self.client_tools:
            call.suspend("runs on the client")
        return await call_next(call)


class _Completion:
    def __init__(self, model: str, client_tools: frozenset[str]) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())
        self.client_tools = client_tools

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def tool_calls(self, result: RunResult[Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": p.call_id,
                "type": "function",
                "function": {"name": p.tool_name, "arguments": json.dumps(p.arguments)},
            }
            for p in result.pending
            if p.tool_name in self.client_tools
        ]

    def whole(self, result: RunResult[Any]) -> dict[str, Any]:
        calls = self.tool_calls(result) if result.status != "completed" else []
        message: dict[str, Any] = {"role": "assistant", "content": None if calls else _text(result)}
        if calls:
            message["tool_calls"] = calls
        choice = {"index": 0, "message": message, "finish_reason": _finish(result, calls)}
        return self._envelope("chat.completion") | {
            "choices": [choice],
            "usage": _usage(result.usage),
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _data(self._envelope("chat.completion.chunk") | {"choices": [choice]})

    async def chunks(self, handle: RunHandle, include_usage: bool) -> AsyncIterator[bytes]:
        yield self._chunk({"role": "assistant", "content": ""}, None)
        async for event in handle.events():
            if isinstance(event, TextDelta) and event.text:
                yield self._chunk({"content": event.text}, None)
        try:
            result = await handle.result()
        except Exception as exc:  # the run failed after the response began: say so in-band
            yield _data(
                {"error": {"message": str(exc) or type(exc).__name__, "type": "run_failed"}}
            )
            return
        calls = self.tool_calls(result) if result.status != "completed" else []
        if calls:
            indexed = [{"index": i, **c} for i, c in enumerate(calls)]
            yield self._chunk({"tool_calls": indexed}, None)
        yield self._chunk({}, _finish(result, calls))
        if include_usage:
            chunk: dict[str, Any] = self._envelope("chat.completion.chunk") | {"choices": []}
            yield _data(chunk | {"usage": _usage(result.usage)})
        yield b"data: [DONE]\n\n"


def _text(result: RunResult[Any]) -> str:
    output = result.output
    if isinstance(output, str):
        return output
    if output is None:
        return ""
    return to_json(output).decode()


def _finish(result: RunResult[Any], calls: list[dict[str, Any]]) -> str:
    return "tool_calls" if calls else "stop"


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + to_json(payload) + b"\n\n"
