"""Replay: run a recorded run again, exactly or under a new model or prompt, and diff.

A `Recording` is what a stored run holds: the history it started from, its input, each
model answer and each tool result. Replayed exactly, `ReplayModel` hands back the
recorded answers in order and `RecordedTools` the recorded results — nothing external is
called, so the run must reproduce to the message. Under a new model or instructions the
model is live and the tools still answer from the recording (a call the recording
lacks gets an error result saying so). `ReplayReport` lists the differences: messages,
tool calls, output, tokens and cost. `Recording.save` writes a test-case file (JSON,
versioned) that `Recording.load` and `replay` turn into a regression test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from keel.agent import Agent
from keel.exceptions import KeelError
from keel.memory.session import InMemorySessionStore, SessionStore
from keel.messages import Message, ModelResponse, ToolCallPart, ToolResultPart, Usage
from keel.middleware import Middleware, ToolCall, ToolHandler
from keel.models.base import Model, ModelRequest, ModelStreamEvent
from keel.observability.store import TraceStore
from keel.principal import DEFAULT_TENANT
from keel.run import Runner
from keel.runs.state import RunState
from keel.runs.store import RunStore

__all__ = [
    "CASE_VERSION",
    "Recording",
    "ReplayError",
    "ReplayModel",
    "ReplayReport",
    "load_recording",
    "replay",
]

CASE_VERSION = 1
"""Bumped when a test-case file's shape changes; older files are refused clearly."""


class ReplayError(KeelError):
    """A run cannot be replayed: not recorded, diverged, or a case file of another shape."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Recording:
    run_id: str
    agent_name: str
    history: tuple[Message, ...]
    input: tuple[Message, ...]
    messages: tuple[Message, ...]
    """Everything the run added after its input: model answers and tool results."""
    output: Any
    usage: Usage = field(default_factory=Usage)
    usage_per_answer: tuple[tuple[int, int], ...] = ()
    """(input, output) tokens of each model answer, when the trace store has them."""
    cost_usd: float | None = None
    """What the run cost, when the trace store has it."""

    @classmethod
    def of(
        cls,
        state: RunState,
        history: Sequence[Message],
        usage: Sequence[tuple[int, int]] = (),
        cost_usd: float | None = None,
    ) -> Recording:
        if state.status != "completed":
            raise ReplayError(
                f"run {state.run_id!r} is {state.status}; only completed runs can be replayed"
            )
        first = next((i for i, m in enumerate(state.new_messages) if m.role != "user"), 0)
        return cls(
            run_id=state.run_id,
            agent_name=state.agent_name,
            history=tuple(history),
            input=tuple(state.new_messages[:first]),
            messages=tuple(state.new_messages[first:]),
            output=state.output,
            usage=state.usage,
            usage_per_answer=tuple(usage),
            cost_usd=cost_usd,
        )

    @property
    def answers(self) -> list[Message]:
        return [m for m in self.messages if m.role == "assistant"]

    @property
    def tool_results(self) -> list[ToolResultPart]:
        return [p for m in self.messages for p in m.parts if isinstance(p, ToolResultPart)]

    def save(self, path: str | Path) -> None:
        data = {"keel_replay_case": CASE_VERSION, **_adapter().dump_python(self, mode="json")}
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        data: dict[str, Any] | Any = json.loads(Path(path).read_text(encoding="utf-8"))
        version = data.pop("keel_replay_case", None) if isinstance(data, dict) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if version != CASE_VERSION:
            raise ReplayError(
                f"{path} is a replay case of version {version!r}; this Keel reads version "
                f"{CASE_VERSION} — record it again with `keel replay RUN_ID --save-test`"
            )
        try:
            return _adapter().validate_python(data)
        except ValidationError as exc:
            raise ReplayError(f"{path} is not a valid replay case: {exc.errors()[0]}") from exc


def _adapter() -> TypeAdapter[Recording]:
    return TypeAdapter(Recording)


class ReplayModel:
    """Answers with the recorded model answers, in order."""

    def __init__(self, recording: Recording) -> None:
        self._answers = recording.answers
        self._usage = list(recording.usage_per_answer)
        self._next = 0

    @property
    def name(self) -> str:
        return "replay"

    @property
    def provider(self) -> str:
        return "replay"

    async def request(self, request: ModelRequest) -> ModelResponse:
        if self._next >= len(self._answers):
            raise ReplayError("the replayed run asked the model more often than the recording")
        index, self._next = self._next, self._next + 1
        tokens = self._usage[index] if index < len(self._usage) else (0, 0)
        return ModelResponse(self._answers[index], Usage(1, *tokens), "replay", "stop")

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        yield await self.request(request)


class RecordedTools(Middleware):
    """Answers every tool call from the recording; the real tool never runs."""

    def __init__(self, recording: Recording) -> None:
        calls = [p for m in recording.answers for p in m.tool_calls]
        results = {r.call_id: r for r in recording.tool_results}
        self._unused = [(c, results[c.call_id]) for c in calls if c.call_id in results]

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        wanted = call.call
        match = _take(
            self._unused,
            lambda c: c.tool_name == wanted.tool_name and c.arguments == wanted.arguments,
        )
        match = match or _take(self._unused, lambda c: c.tool_name == wanted.tool_name)
        if match is None:
            return call.result(f"no recorded result for {wanted.tool_name}", is_error=True)
        return call.result(match.content, is_error=match.is_error)


def _take(
    pool: list[tuple[ToolCallPart, ToolResultPart]], test: Callable[[ToolCallPart], bool]
) -> ToolResultPart | None:
    for i, (recorded_call, result) in enumerate(pool):
        if test(recorded_call):
            del pool[i]
            return result
    return None


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    recorded: Any
    replayed: Any


@dataclass(frozen=True, slots=True)
class ReplayReport:
    run_id: str
    mode: str
    """"exact" (recorded answers) or "changed" (a live model, tools from the recording)."""
    differences: tuple[Difference, ...]
    replayed_messages: tuple[Message, ...]
    replayed_output: Any

    @property
    def identical(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "identical": self.identical,
            "differences": [
                {"field": d.field, "recorded": d.recorded, "replayed": d.replayed}
                for d in self.differences
            ],
            "output": self.replayed_output,
        }


async def replay(
    recording: Recording,
    agent: Agent[Any],
    *,
    model: str | Model | None = None,
    instructions: str | None = None,
) -> ReplayReport:
    """Run `recording` again with `agent` and report what differs."""
    changed = model is not None or instructions is not None
    live = replace(
        agent,
        model=(model or agent.model) if changed else ReplayModel(recording),
        instructions=agent.instructions if instructions is None else instructions,
    )
    sessions = InMemorySessionStore()
    if recording.history:
        await sessions.append("replay", recording.history)
    runner = Runner(session_store=sessions, middleware=[RecordedTools(recording)])
    result = await runner.run(live, list(recording.input), session_id="replay")
    replayed = tuple(result.new_messages[len(recording.input) :])
    differences = _differences(recording, replayed, result.output, result.usage)
    if changed and recording.cost_usd is not None:
        cost = result.usage.cost  # priced by the model layer (keel.models.profiles)
        if cost != recording.cost_usd:
            differences += (Difference("cost_usd", recording.cost_usd, cost),)
    return ReplayReport(
        recording.run_id, "changed" if changed else "exact", differences, replayed, result.output
    )


def _differences(
    recording: Recording,
    replayed: Sequence[Message],
    output: Any,
    usage: Usage,
) -> tuple[Difference, ...]:
    found: list[Difference] = []
    before, after = _lines(recording.messages), _lines(replayed)
    if before != after:
        found.append(Difference("messages", before, after))
    calls_before, calls_after = _calls(recording.messages), _calls(replayed)
    if calls_before != calls_after:
        found.append(Difference("tool_calls", calls_before, calls_after))
    if _jsonable(recording.output) != _jsonable(output):
        found.append(Difference("output", recording.output, _jsonable(output)))
    tokens_before = (recording.usage.input_tokens, recording.usage.output_tokens)
    tokens_after = (usage.input_tokens, usage.output_tokens)
    if recording.usage_per_answer and tokens_before != tokens_after:
        found.append(Difference("tokens", tokens_before, tokens_after))
    return tuple(found)


def _lines(messages: Sequence[Message]) -> list[str]:
    lines: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                lines.append(f"{message.role}: call {part.tool_name}({_args(part)})")
            elif isinstance(part, ToolResultPart):
                lines.append(f"tool {part.tool_name}: {part.content}")
            else:
                lines.append(f"{message.role}: {part.text}")
    return lines


def _calls(messages: Sequence[Message]) -> list[str]:
    return [f"{p.tool_name}({_args(p)})" for m in messages for p in m.tool_calls]


def _args(part: ToolCallPart) -> str:
    return json.dumps(part.arguments, sort_keys=True, default=str)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=str)


async def load_recording(
    runs: RunStore,
    sessions: SessionStore | None,
    run_id: str,
    *,
    traces: TraceStore | None = None,
    tenant_id: str = DEFAULT_TENANT,
) -> Recording:
    """The recording of a stored run: its state, the history it saw, per-answer tokens.

    A state stored by another version of Keel raises `RunStateError` saying so.
    """
    from keel._run.prepare import load_history

    state = await runs.load(run_id, tenant_id=tenant_id)
    history = await load_history(sessions, state, limit=state.history_len)
    usage: list[tuple[int, int]] = []
    cost: float | None = None
    if traces is not None:
        with suppress(LookupError):
            for segment in traces.get(run_id):
                usage += [_tokens(s.attributes) for s in segment.spans if s.kind == "CLIENT"]
                cost = (cost or 0.0) + segment.summary.cost_usd
    return Recording.of(state, history, usage, cost)


def _tokens(attributes: Mapping[str, Any]) -> tuple[int, int]:
    return (
        int(attributes.get("gen_ai.usage.input_tokens", 0)),
        int(attributes.get("gen_ai.usage.output_tokens", 0)),
    )
