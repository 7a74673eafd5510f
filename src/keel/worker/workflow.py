"""`KeelRun`: one agent run as a Temporal workflow.

The workflow runs Keel's own loop — the same `Runner`, middleware and limits as in
process — with the agent's model and tools swapped for proxies that call activities.
So the loop's decisions are replayed deterministically, and everything with an effect
(model calls, tool calls, storing the turn) happens in activities with retries and
timeouts. Loading the history and storing the turn are local activities (run by the
worker holding the workflow, retried with it: no task-queue round trip each). A tool
that requires approval suspends the loop; the workflow then waits for
the `decide` signal and resumes the run with the decisions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from keel.agent import Agent
    from keel.app import App
    from keel.context import RunContext
    from keel.memory.session import InMemorySessionStore
    from keel.messages import Message, ModelResponse
    from keel.middleware import Middleware
    from keel.models.base import ModelRequest, ModelStreamEvent
    from keel.result import RunResult
    from keel.run import Runner
    from keel.runs.pending import Approve, Decision, Reject
    from keel.server.events import result_json
    from keel.server.scopes import ToolScopeGuard
    from keel.tools.base import Tool
    from keel.tools.schema_tool import SchemaTool
    from keel.worker.wire import RunRequest, ToolCallRequest, decode, encode

__all__ = ["STORE_TIMEOUT", "KeelRun", "serve_app"]

STORE_TIMEOUT = timedelta(seconds=30)
"""How long one attempt of loading or storing a session may take."""
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=5)
)
_APP: list[App] = []


def serve_app(app: App) -> None:
    """The app whose agents this process's workflows run (set by the worker)."""
    _APP[:] = [app]


class _ActivityModel:
    """The agent's model, called through the `keel.model_call` activity."""

    def __init__(self, request: RunRequest, model_name: str) -> None:
        self.agent, self.run_id, self._name = request.agent, request.run_id, model_name
        self.timeout = timedelta(seconds=request.activity_timeout_s)

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return "temporal"

    async def request(self, request: ModelRequest) -> ModelResponse:
        data = await workflow.execute_activity(
            "keel.model_call",
            args=[self.agent, self.run_id, encode(request, ModelRequest)],
            start_to_close_timeout=self.timeout,
            retry_policy=_RETRY,
            result_type=str,
        )
        return decode(data, ModelResponse)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        yield await self.request(request)  # deltas reach the client from the activity


def _proxy_tool(tool: Tool, request: RunRequest) -> SchemaTool:
    async def call(arguments: dict[str, Any], ctx: RunContext) -> str:
        wire = ToolCallRequest(
            run_id=request.run_id,
            agent=request.agent,
            tool_name=tool.name,
            arguments=arguments,
            call_id=ctx.tool_call_id or "",
            step=ctx.step,
            session_id=request.session_id,
            user_id=request.user_id,
            tenant_id=request.tenant_id,
            approved=ctx.approved,
            roles=request.roles,
        )
        return await workflow.execute_activity(
            "keel.tool_call",
            wire,
            start_to_close_timeout=timedelta(seconds=request.activity_timeout_s),
            retry_policy=_RETRY,
            result_type=str,
        )

    return SchemaTool(
        tool.name, tool.description, tool.parameters, call, annotations=tool.annotations
    )


def _proxy_agent(agent: Agent[Any], request: RunRequest) -> Agent[Any]:
    model = _ActivityModel(request, str(agent.model))
    tools = [_proxy_tool(t, request) for t in agent.tool_map.values()]
    return replace(agent, model=model, tools=tools)


def _middleware(app: App, request: RunRequest) -> list[Middleware]:
    """The app's middleware, and the caller's key scope over its tools (as in the API)."""
    scope = request.scope
    if scope is not None and scope.agents is not None and request.agent not in scope.agents:
        raise ApplicationError(  # the API refused it (403); this request came another way
            f"API key {scope.key_id} may not use agent {request.agent!r}", non_retryable=True
        )
    return [*app.middleware, ToolScopeGuard(scope=scope)]


@workflow.defn(name="KeelRun", sandboxed=False)
class KeelRun:
    def __init__(self) -> None:
        self._decisions: dict[str, Decision] = {}
        self._state: dict[str, Any] = {"status": "running", "pending": [], "undecided": []}

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        """Status, pending actions and (once completed) the result, for `GET /runs/{id}`."""
        return self._state

    @workflow.signal(name="decide")
    def decide(self, pending_id: str, approve: bool, reason: str = "") -> None:
        self._decisions[pending_id] = Approve() if approve else Reject(reason)

    @workflow.run
    async def run(self, request: RunRequest) -> dict[str, Any]:
        history = decode(
            await workflow.execute_local_activity(
                "keel.load_history",
                request,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=_RETRY,
                result_type=str,
            ),
            list[Message],
        )
        app = _APP[0]
        agent = _proxy_agent(app.agent(request.agent), request)
        sessions = InMemorySessionStore()
        session = request.session_id or request.run_id
        if history:
            await sessions.append(session, history, tenant_id=request.tenant_id)
        runner = Runner(
            session_store=sessions, middleware=_middleware(app, request), agents=[agent]
        )
        result: RunResult[Any] = await runner.run(
            agent,
            request.input,
            session_id=session,
            run_id=request.run_id,
            principal=request.principal,
        )
        while result.status != "completed":
            self._show(result)
            result = await self._wait_and_resume(runner, result, request)
        data = result_json(result) | {"session_id": request.session_id}
        self._state = data | {"undecided": []}
        await workflow.execute_local_activity(
            "keel.finish",
            args=[request, encode(list(result.new_messages), list[Message]), data],
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=_RETRY,
        )
        return data

    def _show(self, result: RunResult[Any]) -> None:
        undecided = [p.id for p in result.pending if p.id not in self._decisions]
        self._state = result_json(result) | {"undecided": undecided}

    async def _wait_and_resume(
        self, runner: Runner, result: RunResult[Any], request: RunRequest
    ) -> RunResult[Any]:
        wanted = {p.id for p in result.pending}
        await workflow.wait_condition(lambda: wanted <= self._decisions.keys())
        decisions = {k: self._decisions.pop(k) for k in wanted}
        return await runner.resume(result.run_id, decisions=decisions, principal=request.principal)
