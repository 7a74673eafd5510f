"""Replay: a recorded run reproduces exactly; a changed prompt's differences are shown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from keel import Agent, App, Message, ModelRequest, ModelResponse, RunStateError, Usage, tool
from keel.models.base import ModelStreamEvent
from keel.observability.replay import Recording, ReplayError, load_recording, replay
from keel.testing import ScriptedModel, tool_call

effects: list[str] = []


@tool
def refund(order_id: str) -> str:
    """Refund an order (a side effect)."""
    effects.append(order_id)
    return f"refunded {order_id}"


class SaysInstructions:
    """A live model that answers with its system prompt: a changed prompt shows."""

    name, provider = "prompt-echo", "test"

    async def request(self, request: ModelRequest) -> ModelResponse:
        system = request.messages[0].text if request.messages[0].role == "system" else ""
        return ModelResponse(Message.assistant(f"as told: {system}"), Usage(1, 3, 2), "p", "stop")

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        yield await self.request(request)


def support_app(tmp_path: Path) -> App:
    script = [tool_call("refund", {"order_id": "A1"}), "Refunded A1."] * 5
    model = ScriptedModel(script, model_name="m1")
    agent = Agent(name="desk", instructions="Be brief.", model=model, tools=[refund])
    return App(agents=[agent], database=tmp_path / "app.db")


async def recorded(app: App, text: str = "refund A1", session: str = "s1") -> Recording:
    await app.runner.run(app.agent(), "hello", session_id=session)  # some history first
    result = await app.runner.run(app.agent(), text, session_id=session)
    assert app.telemetry.flush()
    return await load_recording(
        app.run_store, app.session_store, result.run_id, traces=app.trace_store
    )


async def test_a_recorded_run_replays_exactly_without_running_tools(tmp_path: Path) -> None:
    app = support_app(tmp_path)
    recording = await recorded(app)
    assert len(recording.history) == 4 and recording.usage_per_answer
    effects.clear()
    report = await replay(recording, app.agent())
    assert report.identical, report.differences
    assert report.mode == "exact" and report.replayed_output == recording.output
    assert effects == []  # the refund was answered from the recording


async def test_a_changed_prompt_reports_its_differences(tmp_path: Path) -> None:
    app = support_app(tmp_path)
    recording = await recorded(app)
    report = await replay(
        recording, app.agent(), model=SaysInstructions(), instructions="Be verbose."
    )
    fields = {d.field for d in report.differences}
    assert {"messages", "tool_calls", "output"} <= fields
    (output,) = [d for d in report.differences if d.field == "output"]
    assert (output.recorded, output.replayed) == ("Refunded A1.", "as told: Be verbose.")


async def test_save_test_case_round_trips_and_old_versions_are_refused(tmp_path: Path) -> None:
    app = support_app(tmp_path)
    recording = await recorded(app)
    case = tmp_path / "incident.json"
    recording.save(case)
    assert (await replay(Recording.load(case), app.agent())).identical
    case.write_text(case.read_text().replace('"keel_replay_case": 1', '"keel_replay_case": 0'))
    with pytest.raises(ReplayError, match="version 0"):
        Recording.load(case)


async def test_a_run_stored_under_an_older_state_schema_is_a_clear_error(tmp_path: Path) -> None:
    app = support_app(tmp_path)
    result = await app.runner.run(app.agent(), "refund A1")
    db = app.run_store.db  # pyright: ignore[reportAttributeAccessIssue]
    with db.transaction() as conn:
        conn.execute("UPDATE runs SET state = replace(state, '\"version\":1', '\"version\":0')")
    with pytest.raises(RunStateError, match="state version 0"):
        await load_recording(app.run_store, app.session_store, result.run_id)
