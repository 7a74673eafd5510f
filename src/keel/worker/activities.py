"""The activities a run's workflow calls: everything that touches the world.

Each model call and each tool call is one activity, so Temporal retries it (on another
worker, when this one dies) and records its result; a retried workflow replays recorded
results instead of calling again. A tool call's `RunContext.idempotency_key` is the
same on every attempt — `run_id/step/call_id` — so a tool that passes it to the system
it changes makes a retried attempt a no-op there.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json
from temporalio import activity
from temporalio.exceptions import ApplicationError

from keel.app import App
from keel.context import RunContext
from keel.exceptions import SessionNotFoundError
from keel.messages import Message, ModelResponse
from keel.models.base import ModelRequest, TextDelta
from keel.models.registry import infer_model
from keel.principal import Principal
from keel.server.events import message_json
from keel.worker.bus import EventBus
from keel.worker.wire import RunRequest, ToolCallRequest, decode, encode

__all__ = ["KeelActivities"]


class KeelActivities:
    """Bound to the worker's app (its agents, models, tools, stores) and event bus."""

    def __init__(self, app: App, bus: EventBus) -> None:
        self.app = app
        self.bus = bus

    def all(self) -> list[Any]:
        return [self.load_history, self.model_call, self.tool_call, self.finish]

    @activity.defn(name="keel.load_history")
    async def load_history(self, request: RunRequest) -> str:
        if request.session_id is None:
            return "[]"
        store = self.app.session_store
        try:
            history = await store.load(request.session_id, tenant_id=request.tenant_id)
        except SessionNotFoundError:
            history = []
        await self.bus.publish(request.run_id, "run_started", {"run_id": request.run_id})
        return encode(history, list[Message])

    @activity.defn(name="keel.model_call")
    async def model_call(self, agent_name: str, run_id: str, request_json: str) -> str:
        request: ModelRequest = decode(request_json, ModelRequest)
        model = infer_model(self.app.agent(agent_name).model)
        response: ModelResponse | None = None
        async for event in model.stream(request):
            if isinstance(event, TextDelta):
                await self.bus.publish(run_id, "text_delta", {"text": event.text})
            else:
                response = event
        if response is None:
            raise ApplicationError("the model's stream ended without a response")
        data = {"message": message_json(response.message)}
        await self.bus.publish(run_id, "model_response_received", data)
        return encode(response, ModelResponse)

    @activity.defn(name="keel.tool_call")
    async def tool_call(self, call: ToolCallRequest) -> str:
        agent = self.app.agent(call.agent)
        tool = agent.tool_map[call.tool_name]
        context = RunContext(
            run_id=call.run_id,
            agent_name=call.agent,
            session_id=call.session_id,
            step=call.step,
            principal=Principal(call.user_id, call.tenant_id, frozenset(call.roles)),
            tool_call_id=call.call_id,
            approved=call.approved,
        )
        started = {
            "tool_name": call.tool_name,
            "arguments": call.arguments,
            "call_id": call.call_id,
        }
        await self.bus.publish(call.run_id, "tool_call_started", started)
        try:
            value = await tool.invoke(tool.validate(call.arguments), context)
        except Exception as exc:  # the tool's own failure: told to the model, not retried
            raise ApplicationError(f"{type(exc).__name__}: {exc}", non_retryable=True) from exc
        content = value if isinstance(value, str) else to_json(value, fallback=str).decode()
        finished = {"call_id": call.call_id, "tool_name": call.tool_name, "content": content}
        await self.bus.publish(call.run_id, "tool_call_finished", finished)
        return content

    @activity.defn(name="keel.finish")
    async def finish(self, request: RunRequest, turn_json: str, result: dict[str, Any]) -> None:
        """Store the run's turn in its session (once, by run id) and tell the API."""
        if request.session_id is not None:
            await self.app.session_store.append(
                request.session_id,
                decode(turn_json, list[Message]),
                tenant_id=request.tenant_id,
                user_id=request.user_id,
                run_id=request.run_id,
            )
        await self.bus.publish(request.run_id, "run_finished", result)
