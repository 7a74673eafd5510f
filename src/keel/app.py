"""`App`: the agents, tools and settings that `keel chat` and `keel run` serve.

An app is found by a `pkg.module:attribute` path; the attribute may be an `App` or a
single `Agent`. Without a path the CLI serves Keel's built-in example.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from keel.agent import Agent
from keel.exceptions import AppLoadError, ConfigurationError
from keel.memory.session import SessionStore
from keel.middleware import Middleware
from keel.run import Runner
from keel.runs.store import RunStore
from keel.settings import data_dir

if TYPE_CHECKING:
    from keel.knowledge.rerank import Reranker
    from keel.memory.extract import ExtractFacts, FactExtraction
    from keel.memory.retention import DeletionReport, RetentionPolicy
    from keel.memory.summary import SummaryStore
    from keel.memory.user import FactMemory
    from keel.observability.pipeline import Telemetry
    from keel.observability.store import SQLiteTraceStore
    from keel.principal import Principal
    from keel.storage.postgres import PostgresDatabase
    from keel.storage.sqlite import SQLiteDatabase
    from keel.tickets import SQLiteTicketStore
    from keel.triggers.webhook import Webhook

__all__ = ["DEFAULT_APP", "App", "load_app"]

DEFAULT_APP = "keel.examples.starter:app"


T = TypeVar("T")


@dataclass(kw_only=True)
class App:
    """Agents served together, with one database for their sessions and runs.

    `database` defaults to `$KEEL_HOME/keel.db` (`~/.keel/keel.db`); a `postgresql://`
    URL puts sessions and runs in PostgreSQL instead (the `postgres` extra), for many
    processes sharing them, with session summaries and user memory. Stores that have no
    PostgreSQL backend yet (tickets, traces, API keys, the tool ledger and audit; the
    knowledge base has its own `PostgresKnowledgeStore`) then stay in a local SQLite
    file under `$KEEL_HOME` named after the URL (`database_path`).
    """

    agents: Sequence[Agent[Any]]
    default_agent: str | None = None
    database: str | Path | None = None
    description: str = ""
    middleware: Sequence[Middleware] = ()
    """Wraps every run of every agent, outside each agent's own middleware."""
    observe: bool = True
    """Trace every run into the app's trace store, the metrics and any OTel exporter."""
    trace_retention_days: float | None = 30
    knowledge_embedder: str | None = None
    """The knowledge base's embedder (`keel kb`): "minilm" (the default), "minilm-int8" or
    "static" (~100x faster ingest, lower retrieval quality: BENCHMARKS.md, issue 8). None:
    whatever the stored vectors were made with."""
    knowledge_reranker: Reranker | None = None
    """Re-ranks `keel kb search` results (e.g. `HttpReranker(url, model)` on a `/v1/rerank`
    endpoint); None: fused order. `--rerank-url` overrides it per command."""
    extract_facts: FactExtraction | None = None
    """Save what users state about themselves in each turn to `user_memory`, by a model
    after the turn (`keel.memory.extract`); None: only the agents' own tools save facts."""
    webhooks: Sequence[Webhook] = ()
    """Triggers served at `POST /webhooks/{name}` by `keel serve` (`keel.triggers`)."""
    _by_name: dict[str, Agent[Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.agents:
            raise ConfigurationError("an App needs at least one agent")
        self._by_name = {a.name: a for a in self.agents}
        _check_handoffs(self.agents, self._by_name)
        if self.webhooks:
            from keel.triggers.webhook import check_webhooks

            check_webhooks(self.webhooks, self._by_name)
        if self.default_agent is not None and self.default_agent not in self._by_name:
            raise ConfigurationError(
                f"default_agent {self.default_agent!r} is not one of {sorted(self._by_name)}"
            )

    def agent(self, name: str | None = None) -> Agent[Any]:
        """The named agent, or the default one (the first) when `name` is None."""
        name = name or self.default_agent or self.agents[0].name
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigurationError(
                f"no agent named {name!r}; this app has {sorted(self._by_name)}"
            ) from None

    @property
    def database_path(self) -> Path:
        """The SQLite file of this app: `database`, or for a PostgreSQL app the local file
        that keeps the stores PostgreSQL does not hold yet (never a path made of the URL)."""
        if self.database_url:
            digest = hashlib.sha256(self.database_url.encode()).hexdigest()[:16]
            return data_dir() / f"keel-local-{digest}.db"
        return Path(self.database) if self.database else data_dir() / "keel.db"

    @cached_property
    def _database(self) -> SQLiteDatabase:
        from keel.storage.sqlite import SQLiteDatabase

        return SQLiteDatabase.shared(self.database_path)  # one connection per file

    @property
    def database_url(self) -> str | None:
        """The `postgresql://` URL when `database` is one (Postgres stores), else None."""
        text = str(self.database) if self.database else ""
        return text if text.startswith(("postgresql://", "postgres://")) else None

    @cached_property
    def session_store(self) -> SessionStore:
        if self.database_url:
            from keel.storage.postgres_sessions import PostgresSessionStore

            return PostgresSessionStore(self._postgres)
        from keel.storage.sqlite_sessions import SQLiteSessionStore

        return SQLiteSessionStore(self._database)

    @cached_property
    def run_store(self) -> RunStore:
        """Durable runs, in the same database as the sessions."""
        if self.database_url:
            from keel.storage.postgres_runs import PostgresRunStore

            return PostgresRunStore(self._postgres)
        from keel.storage.sqlite_runs import SQLiteRunStore

        return SQLiteRunStore(self._database)

    @cached_property
    def summary_store(self) -> SummaryStore:
        """Session-window summaries (`SessionWindow(summaries=app.summary_store)`), in the
        same database as the sessions."""
        if self.database_url:
            from keel.memory.postgres import PostgresSummaryStore

            return PostgresSummaryStore(self._postgres)
        from keel.memory.summary import SQLiteSummaryStore

        return SQLiteSummaryStore(self._database)

    @cached_property
    def user_memory(self) -> FactMemory:
        """Facts about users (`remember_tool`, `RecallMemory`), beside the sessions; the
        local embedder. Build `UserMemory` / `PostgresUserMemory` yourself for another."""
        if self.database_url:
            from keel.memory.postgres import PostgresUserMemory

            return PostgresUserMemory(self._postgres)
        from keel.memory.user import UserMemory

        return UserMemory(self._database)

    @cached_property
    def fact_extractor(self) -> ExtractFacts | None:
        """The middleware `extract_facts` configures (last in `run_middleware`), or None.
        `await app.fact_extractor.flush()` waits for its background work."""
        if self.extract_facts is None:
            return None
        from keel.memory.extract import ExtractFacts

        return ExtractFacts(self.user_memory, self.extract_facts)

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait (up to `timeout_s`) for work the app left running after its replies —
        background fact extraction — so a process can exit without losing it."""
        if self.fact_extractor is not None:
            await self.fact_extractor.flush(timeout_s)

    async def delete_user(self, principal: Principal) -> DeletionReport:
        """Everything the app stores about the user, gone (`keel users delete`): the
        local database's stores and, for a PostgreSQL app, those in PostgreSQL (and the
        Redis session cache, when attached). Fact extractions in flight for the user are
        cancelled first, so none saves after the deletion."""
        from keel.memory.retention import delete_user

        if self.fact_extractor is not None:
            await self.fact_extractor.forget(principal)
        report = delete_user(self._database, principal)
        if not self.database_url:
            return report
        from keel.memory.postgres import delete_user_postgres

        whose = (principal.tenant_id, principal.user_id)
        remote = await self._forgetting(
            delete_user_postgres(self._postgres, principal),
            "tenant_id = %s AND user_id = %s",
            whose,
        )
        deleted = {t: report.deleted.get(t, 0) + remote.deleted.get(t, 0)
                   for t in {**report.deleted, **remote.deleted}}  # fmt: skip
        return replace(report, deleted=deleted)

    async def apply_retention(self, policy: RetentionPolicy) -> dict[str, int]:
        """`policy` applied to the app's sessions, runs and memory, wherever they are."""
        if not self.database_url:
            from keel.memory.retention import apply_retention

            return apply_retention(self._database, policy)
        from keel.memory.postgres import apply_retention_postgres

        now = time.time()
        work = apply_retention_postgres(self._postgres, policy, now=now)
        if policy.sessions_days is None:
            return await work
        cutoff = now - policy.sessions_days * 86_400
        return await self._forgetting(work, "updated_at < %s", (cutoff,))

    async def _forgetting(
        self, deletion: Awaitable[T], where: str, params: tuple[object, ...]
    ) -> T:
        """Run a PostgreSQL deletion, then drop the sessions `where` chose (read first)
        from the Redis session cache, if one is attached."""
        from keel.storage.postgres_sessions import PostgresSessionStore

        store = self.session_store
        if not isinstance(store, PostgresSessionStore):
            return await deletion
        ids = await store.cached_sessions(where, params)
        result = await deletion
        await store.forget(ids)
        return result

    @cached_property
    def ticket_store(self) -> SQLiteTicketStore:
        """Support tickets (`keel tickets`), in the same database as the sessions."""
        from keel.tickets import SQLiteTicketStore

        return SQLiteTicketStore(self._database)

    @cached_property
    def trace_store(self) -> SQLiteTraceStore:
        """Keel's searchable record of runs and spans, in the app's database."""
        from keel.observability.store import SQLiteTraceStore

        return SQLiteTraceStore(self._database, retention_days=self.trace_retention_days)

    @cached_property
    def telemetry(self) -> Telemetry:
        from keel.observability.pipeline import app_telemetry

        return app_telemetry(self.trace_store)

    @cached_property
    def _postgres(self) -> PostgresDatabase:
        from keel.storage.postgres import PostgresDatabase

        return PostgresDatabase(str(self.database_url))

    @cached_property
    def run_middleware(self) -> list[Middleware]:
        """The app's middleware as every run of it gets it: tracing first when `observe`."""
        middleware = list(self.middleware)
        if self.observe:
            from keel.observability.tracing import Tracing

            middleware.insert(0, Tracing(self.telemetry))
        if self.fact_extractor is not None:
            middleware.append(self.fact_extractor)
        return middleware

    @cached_property
    def runner(self) -> Runner:
        """Sessions and durable runs in the app's database; resumes find its agents."""
        return Runner(
            session_store=self.session_store,
            run_store=self.run_store,
            middleware=self.run_middleware,
            agents=self.agents,
        )


def _check_handoffs(agents: Sequence[Agent[Any]], known: dict[str, Agent[Any]]) -> None:
    """A handoff or route naming an agent the app lacks fails here, at load, not
    mid-conversation."""
    from keel.handoffs.agents import handoff_targets

    for agent in agents:
        for target in handoff_targets(agent):
            if target not in known:
                raise ConfigurationError(
                    f"agent {agent.name!r} hands off to {target!r}, which is not one of "
                    f"this app's agents {sorted(known)}"
                )
        for layer in agent.middleware:  # a router names the agents it sends to
            check = getattr(layer, "check_agents", None)
            if callable(check):
                check(list(known))


def load_app(path: str = DEFAULT_APP) -> App:
    """Import `pkg.module:attribute` and return it as an App."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise AppLoadError(f"app path {path!r} must look like 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppLoadError(f"cannot import {module_name!r} for app {path!r}: {exc}") from exc
    target = getattr(module, attribute, None)
    if isinstance(target, App):
        return target
    if isinstance(target, Agent):
        agent = cast("Agent[Any]", target)
        return App(agents=[agent])
    found = "nothing" if target is None else type(target).__name__
    raise AppLoadError(f"{path!r} must name an App or an Agent, found {found}")
