"""Usage and cost per session, user and tenant, read back from stored runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel import Agent, App, Message, Principal
from keel.exceptions import ConfigurationError
from keel.messages import ModelResponse, Usage
from keel.models.accounting import usage_by
from keel.runs.store import InMemoryRunStore
from keel.testing import FunctionModel


def priced_reply(_request: object) -> ModelResponse:
    usage = Usage(requests=1, input_tokens=100, output_tokens=10, cached_input_tokens=40, cost=0.25)
    return ModelResponse(Message.assistant("ok"), usage, "m", "stop", "test")


async def test_totals_per_user_session_and_tenant(tmp_path: Path) -> None:
    app = App(
        agents=[Agent(name="a", model=FunctionModel(priced_reply))], database=tmp_path / "k.db"
    )
    ada = Principal(user_id="ada", tenant_id="acme")
    bob = Principal(user_id="bob", tenant_id="acme")
    runner = app.runner
    await runner.run(app.agent(), "1", principal=ada, session_id="s1")
    await runner.run(app.agent(), "2", principal=ada, session_id="s1")
    await runner.run(app.agent(), "3", principal=bob, session_id="s2")
    await runner.run(app.agent(), "4", principal=Principal(user_id="eve", tenant_id="other"))

    by_user = await usage_by(app.run_store, by="user", tenant_id="acme")
    assert [(t.key, t.runs, t.usage.cost) for t in by_user] == [("ada", 2, 0.5), ("bob", 1, 0.25)]
    assert by_user[0].usage.cached_input_tokens == 80
    by_session = await usage_by(app.run_store, by="session", tenant_id="acme")
    assert {t.key: t.usage.input_tokens for t in by_session} == {"s1": 200, "s2": 100}
    [tenant] = await usage_by(app.run_store, by="tenant", tenant_id="acme")
    assert (tenant.key, tenant.runs, tenant.usage.requests) == ("acme", 3, 3)
    assert tenant.usage.cost == pytest.approx(0.75)  # the other tenant's run is not counted


async def test_bad_grouping_and_stores_without_sql_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="by must be one of"):
        await usage_by(InMemoryRunStore(), by="planet")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not a SQLite run store"):
        await usage_by(InMemoryRunStore(), by="user")
