"""`ServerState`: what every route shares — the app, its runner, auth, admission, runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from keel.agent import Agent
from keel.app import App
from keel.exceptions import ConfigurationError
from keel.principal import Principal
from keel.server.auth import Authenticator, default_authenticator
from keel.server.config import ServerSettings
from keel.server.execution import InProcessRuns
from keel.server.limits import AdmissionQueue
from keel.server.problems import Problem
from keel.server.scopes import ToolScopeGuard, current_scope

if TYPE_CHECKING:
    from keel.security.keys import KeyVerifier
    from keel.storage.redis_locks import RedisSessionLocks
    from keel.storage.redis_sessions import RedisSessionCache
    from keel.worker.client import TemporalRuns

__all__ = ["CurrentPrincipal", "ServerState", "request_principal", "server_state"]


@dataclass(kw_only=True)
class ServerState:
    app: App
    settings: ServerSettings
    authenticator: Authenticator
    runs: InProcessRuns = field(default_factory=InProcessRuns)
    temporal: TemporalRuns | None = None
    """Set when runs execute on `keel worker` processes."""
    session_locks: RedisSessionLocks | None = None
    """Set with Redis: runs of one session take turns across API processes."""
    session_cache: RedisSessionCache | None = None
    """Set with Redis and a PostgreSQL app: session histories are read from Redis."""
    local_queue: AdmissionQueue = field(init=False)
    remote_queue: AdmissionQueue = field(init=False)

    def __post_init__(self) -> None:
        q = self.settings.queue
        self.local_queue = AdmissionQueue(q.max_active_local, q.max_waiting, q.retry_after_s)
        self.remote_queue = AdmissionQueue(q.max_active, q.max_waiting, q.retry_after_s)

    @classmethod
    def build(
        cls, app: App, settings: ServerSettings, authenticator: Authenticator | None
    ) -> ServerState:
        if authenticator is None:
            authenticator = default_authenticator(settings.api_keys, _key_store(app))
        state = cls(
            app=app, settings=settings, authenticator=authenticator, temporal=_temporal(settings)
        )
        runner = app.runner
        if not any(isinstance(m, ToolScopeGuard) for m in runner.middleware):
            runner.middleware = (*runner.middleware, ToolScopeGuard())  # the key's tool scope
        stores = settings.stores
        if stores.redis_url is not None:
            state.use_redis(stores.redis_url)
        return state

    def use_redis(self, url: str) -> None:
        """Runs of one session take turns across processes; a PostgreSQL app's session
        histories are read from Redis."""
        from keel.storage.redis_locks import RedisSessionLocks
        from keel.storage.redis_sessions import cache_sessions

        wait_s = self.settings.stores.session_wait_s
        self.session_locks = RedisSessionLocks(url, wait_s=wait_s)
        self.app.runner.locks = self.session_locks
        self.session_cache = cache_sessions(self.app, url)

    async def close(self) -> None:
        """On shutdown, after the drain: free the Redis connections."""
        if self.session_locks is not None:
            await self.session_locks.close()
        if self.session_cache is not None:
            await self.session_cache.close()

    def agent(self, name: str | None) -> Agent[Any]:
        try:
            agent = self.app.agent(name)
        except ConfigurationError as exc:
            raise Problem(404, str(exc)) from None
        if (scope := current_scope.get()) is not None:
            scope.check_agent(agent.name)
        return agent

    def queue_for(self, agent: Agent[Any]) -> AdmissionQueue:
        return self.local_queue if _is_local(agent) else self.remote_queue


def _key_store(app: App) -> KeyVerifier | None:
    """The app's `keel keys` store, in its database (SQLite or PostgreSQL); an in-memory
    app has none."""
    from keel.security.keys import app_key_store

    return app_key_store(app)


def _temporal(settings: ServerSettings) -> TemporalRuns | None:
    if settings.temporal is None or settings.stores.redis_url is None:
        return None
    from keel.worker.client import TemporalRuns

    t = settings.temporal
    return TemporalRuns(t.address, t.namespace, t.task_queue, settings.stores.redis_url)


def _is_local(agent: Agent[Any]) -> bool:
    model = agent.model
    if isinstance(model, str):
        return model.startswith("local:")
    return model.provider == "local"


async def server_state(request: Request) -> ServerState:
    # `async` though it awaits nothing: FastAPI runs a plain `def` dependency on its
    # thread pool, a hop that cost more CPU than the rest of a /v1 request's routing.
    return request.app.state.keel


def _key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


async def request_principal(
    request: Request, state: Annotated[ServerState, Depends(server_state)]
) -> Principal:
    """Who the request acts for, from its API key; 401 without a valid one."""
    current_scope.set(None)  # set again by an authenticator that verified a scoped key
    principal = await state.authenticator.authenticate(_key(request))
    if principal is None:
        raise Problem(
            401,
            "a valid API key is required: send it as 'Authorization: Bearer KEY'",
            headers={"WWW-Authenticate": 'Bearer realm="keel"'},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(request_principal)]
State = Annotated[ServerState, Depends(server_state)]
