"""Scale-out proof: Temporal + PostgreSQL + Redis, 2 API processes and 2 workers, 200
concurrent conversations; a worker and an API process are SIGKILLed mid-run. Every run
completes, every message is stored once, every side effect happened exactly once, and
the survivors shut down cleanly on SIGTERM. Every request carries an API key stored in
PostgreSQL (`keel keys` for a PostgreSQL app), scoped to the agent and tool it uses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from keel.storage.postgres_keys import PostgresApiKeyStore
from tests.pg import pg_database, schema_url
from tests.server.conftest import spare_port

__all__ = ["pg_database"]

CONVERSATIONS = int(os.environ.get("KEEL_SCALE_CONVERSATIONS", "200"))
ROOT = Path(__file__).parents[2]


@dataclass
class Cluster:
    url: str
    key: str
    apis: list[tuple[subprocess.Popen[bytes], str]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def all(self) -> list[subprocess.Popen[bytes]]:
        return [p for p, _ in self.apis] + self.workers

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def _stored_key(url: str) -> str:
    store = PostgresApiKeyStore(url)
    plain, _ = await store.create(
        tenant_id="default", name="scale-out", agents=["clerk"], tools=["record_effect"]
    )
    await store.db.close()
    return plain


def _config(tmp_path: Path, database: str, temporal: str) -> Path:
    config = tmp_path / "keel.toml"
    config.write_text(
        'app = "tests.scaleout_app:app"\n'
        "request_timeout_s = 30\n"
        "[queue]\nmax_active = 1000\nmax_waiting = 1000\n"
        f'[stores]\ndatabase = "{database}"\nredis_url = "redis://127.0.0.1:6379/3"\n'
        f'[temporal]\naddress = "{temporal}"\ntask_queue = "scale-{os.urandom(4).hex()}"\n'
        "activity_timeout_s = 5\n"
    )
    return config


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "keel", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def cluster(pg_database: str, temporal_address: str, tmp_path: Path) -> Iterator[Cluster]:
    url = schema_url(pg_database, f"scale-{tmp_path}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE effects (key TEXT PRIMARY KEY, run_id TEXT, note TEXT)")
        conn.execute("CREATE TABLE attempts (key TEXT)")
    config = _config(tmp_path, url, temporal_address)
    env = os.environ | {"PYTHONPATH": str(ROOT), "KEEL_EFFECTS_URL": url}
    found = Cluster(url, asyncio.run(_stored_key(url)))
    for _ in range(2):
        found.workers.append(_spawn("worker", "--config", str(config), env=env))
        port = spare_port()
        api = _spawn("serve", "--config", str(config), "--port", str(port), env=env)
        found.apis.append((api, f"http://127.0.0.1:{port}"))
    try:
        asyncio.run(_wait_ready(found))
        yield found
    finally:
        for process in found.all():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


async def _wait_ready(cluster: Cluster) -> None:
    async with httpx.AsyncClient() as client:
        for process, base in cluster.apis:
            for _ in range(600):
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read().decode())  # type: ignore[union-attr]
                try:
                    if (await client.get(base + "/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)


async def _converse(
    client: httpx.AsyncClient, cluster: Cluster, i: int, stream: bool
) -> dict[str, object]:
    """One conversation; when its API process dies mid-stream, retry on the other one
    with the same run id (the same workflow, never a second run)."""
    body = {"input": f"note-{i}", "run_id": f"run-{i}", "stream": stream}
    first = cluster.apis[i % 2][1]
    try:
        if stream:
            async with client.stream("POST", f"{first}/sessions/c{i}/messages", json=body) as r:
                async for line in r.aiter_lines():
                    if line.startswith("event: run_finished"):
                        break
        return await _outcome(client, first, i, body)
    except httpx.TransportError:
        return await _outcome(client, cluster.apis[0][1], i, body)


async def _outcome(
    client: httpx.AsyncClient, base: str, i: int, body: dict[str, object]
) -> dict[str, object]:
    """The run's result; a 202 (still running past the request timeout) is asked again
    with the same run id, as a client would."""
    while True:
        reply = await client.post(f"{base}/sessions/c{i}/messages", json=body | {"stream": False})
        if reply.status_code != 202:
            return reply.json()


async def _kill_when(
    cluster: Cluster, effects_at_least: int, process: subprocess.Popen[bytes]
) -> None:
    while True:
        with psycopg.connect(cluster.url) as conn:
            (count,) = conn.execute("SELECT count(*) FROM effects").fetchone()  # type: ignore[misc]
        if count >= effects_at_least:
            process.send_signal(signal.SIGKILL)
            return
        await asyncio.sleep(0.05)


async def _run_all(cluster: Cluster) -> list[dict[str, object]]:
    limits = httpx.Limits(max_connections=CONVERSATIONS * 2)
    async with httpx.AsyncClient(timeout=180, limits=limits, headers=cluster.auth) as client:
        killers = [
            asyncio.create_task(_kill_when(cluster, CONVERSATIONS // 6, cluster.workers[0])),
            asyncio.create_task(_kill_when(cluster, CONVERSATIONS // 3, cluster.apis[1][0])),
        ]
        results = await asyncio.gather(
            *(_converse(client, cluster, i, stream=i % 2 == 1) for i in range(CONVERSATIONS))
        )
        await asyncio.gather(*killers)
    return list(results)


def test_two_apis_two_workers_survive_sigkill_with_exactly_once_effects(cluster: Cluster) -> None:
    results = asyncio.run(_run_all(cluster))
    assert cluster.workers[0].wait(timeout=10) == -signal.SIGKILL
    assert cluster.apis[1][0].wait(timeout=10) == -signal.SIGKILL
    wrong = [(i, r) for i, r in enumerate(results) if r.get("output") != f"done: recorded note-{i}"]
    assert wrong == []
    with psycopg.connect(cluster.url) as conn:
        effects = conn.execute("SELECT run_id, note FROM effects ORDER BY run_id").fetchall()
        per_session = conn.execute(
            "SELECT session_id, count(*), count(DISTINCT seq) FROM session_messages "
            "GROUP BY session_id"
        ).fetchall()
    assert sorted(effects) == sorted((f"run-{i}", f"note-{i}") for i in range(CONVERSATIONS))
    assert len(per_session) == CONVERSATIONS
    assert {(n, d) for _, n, d in per_session} == {(4, 4)}  # user, call, result, answer: once
    run = httpx.get(f"{cluster.apis[0][1]}/runs/run-7", timeout=30, headers=cluster.auth).json()
    assert httpx.get(f"{cluster.apis[0][1]}/runs/run-7", timeout=30).status_code == 401
    assert (run["status"], run["output"]) == ("completed", "done: recorded note-7")
    survivors = [cluster.apis[0][0], cluster.workers[1]]
    for process in survivors:
        process.send_signal(signal.SIGTERM)
    for process in survivors:
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
