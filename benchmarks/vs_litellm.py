"""Keel's OpenAI-compatible `/v1/chat/completions` beside LiteLLM's proxy, one run.

    .venv/bin/python benchmarks/vs_litellm.py [--requests 2000] [--concurrency 16]
        [--latency-requests 300] [--rounds 3] [--reinstall]

Both proxies forward `{"model": "gpt-4o-mini", ...}` to the same instant upstream (Keel's
fake LLM speaking the OpenAI wire format, in a process of its own): Keel as an agent
named `gpt-4o-mini` on `OpenAIModel` (`benchmarks/proxy_app.py`), LiteLLM with a
`model_list` entry `openai/gpt-4o-mini`. Beside them, the issue's own reading: the same
Keel server answering `{"model": "scripted", ...}` from an instant in-process model (no
upstream). Each proxy is one process, one worker (`keel serve`; `litellm --num_workers
1`). LiteLLM lives in its own venv under
`benchmarks/.peers/litellm_proxy/` (made with pip on first use, pinned below, as
`peers.py` does); Keel never imports it.

Figures, per worker:
- added latency p50/p99: sequential requests (concurrency 1) through the proxy, minus
  the same percentile of requests sent straight to the upstream (for the scripted row:
  what Keel takes beyond an HTTP server that answers at once);
- requests/s at `--concurrency` (the load generator shares the machine, so this is a
  floor), and the proxy process's CPU time per request (`/proc` utime+stime, all
  threads and children), which does not depend on other load: 1 / CPU = the requests/s
  one core could serve.
Targets and proxies alternate in `--rounds` rounds so background load hits all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import Summary, first_paragraph, machine_line, print_table, summarize
from benchmarks.peers import Peer, ensure_venv
from tests.server.conftest import spare_port

ROOT = Path(__file__).parents[1]
LITELLM = Peer("litellm_proxy", "LiteLLM proxy", ("litellm[proxy]==1.105.0",))
# 1.105.0: the newest release whose dependencies the configured index holds (1.108.11+
# need certifi>=2026.10.19, which it does not have).
BODY: dict[str, object] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
SCRIPTED = BODY | {"model": "scripted"}
"""Keel's in-process instant model (`benchmarks/proxy_app.py`), no upstream."""
KEY = "sk-bench-0123456789abcdef"
"""Both proxies check this key (LiteLLM refuses to start without a master key)."""
HEADERS = {"Authorization": f"Bearer {KEY}"}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children, all threads."""
    process = psutil.Process(pid)
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


@contextmanager
def _process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def _upstream() -> Iterator[str]:
    command = [sys.executable, "-m", "keel.testing.fake_llm", "openai"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline() if process.stdout else ""
            yield line.split()[1]
        finally:
            process.terminate()


def _keel(upstream: str, home: Path) -> tuple[list[str], dict[str, str], str]:
    port = spare_port()
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "KEEL_BENCH_UPSTREAM": upstream,
        "KEEL_HOME": str(home),
    }
    config = home / "keel.toml"
    config.write_text(
        'app = "benchmarks.proxy_app:app"\n[[api_keys]]\n'
        f'sha256 = "{hashlib.sha256(KEY.encode()).hexdigest()}"\n'
    )
    command = [sys.executable, "-m", "keel", "serve", "--config", str(config)]
    return [*command, "--port", str(port)], env, f"http://127.0.0.1:{port}/v1"


def _litellm(upstream: str, folder: Path) -> tuple[list[str], dict[str, str], str]:
    port = spare_port()
    config = folder / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n"
        f"      model: openai/gpt-4o-mini\n      api_base: {upstream}\n"
        "      api_key: sk-bench\nlitellm_settings:\n  telemetry: false\n"
    )
    env = os.environ | {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": KEY,
    }
    litellm = str(LITELLM.venv / "bin" / "litellm")
    command = [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return [*command, "--num_workers", "1"], env, f"http://127.0.0.1:{port}"


async def _ready(url: str, body: dict[str, object]) -> None:
    async with httpx.AsyncClient(timeout=30, headers=HEADERS) as client:
        for _ in range(1200):
            try:
                reply = await client.post(f"{url}/chat/completions", json=body)
                if reply.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} never answered")


async def _sequential(url: str, body: dict[str, object], requests: int) -> list[int]:
    latencies: list[int] = []
    async with httpx.AsyncClient(timeout=60, headers=HEADERS) as client:
        for _ in range(20):  # warm the connection and the proxy's own pools
            (await client.post(f"{url}/chat/completions", json=body)).raise_for_status()
        for _ in range(requests):
            started = time.perf_counter_ns()
            reply = await client.post(f"{url}/chat/completions", json=body)
            latencies.append(time.perf_counter_ns() - started)
            assert reply.json()["choices"][0]["message"]["content"] == "ok", reply.text
    return latencies


async def _throughput(target: _Target, requests: int, concurrency: int) -> float:
    """Requests/s over `concurrency` keep-alive connections. The client is a few lines
    of asyncio, not httpx: at ~1 ms of CPU a request httpx would be the bottleneck on
    these cores long before a fast server is (it still checks every status)."""
    url = httpx.URL(f"{target.url}/chat/completions")  # as the sequential client sends
    body = json.dumps(target.body).encode()
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    request, remaining = head.encode() + body, iter(range(requests))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            for _ in remaining:
                ok = await _exchange(reader, writer, request)
                errors[target.name] = errors.get(target.name, 0) + (not ok)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bool:
    """One request on a kept-alive connection; whether it answered 200."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if length is None:  # every proxy here answers with a length; anything else fails loudly
        raise RuntimeError(f"an answer without Content-Length: {head!r}")
    await reader.readexactly(int(length[1]))
    return head.startswith(b"HTTP/1.1 200 ")


errors: dict[str, int] = {}
"""Failed requests (an error status or a dropped connection) per target, under load."""


@dataclass(frozen=True)
class _Target:
    name: str
    pid: int | None
    url: str
    body: dict[str, object]


class _Figures:
    def __init__(self) -> None:
        self.latency: list[int] = []
        self.rates: list[float] = []
        self.cpu_s = 0.0
        self.requests = 0


def _round(target: _Target, args: argparse.Namespace, into: _Figures) -> None:
    sequential = _sequential(target.url, target.body, args.latency_requests // args.rounds)
    into.latency += asyncio.run(sequential)
    pid = target.pid
    cpu = _cpu_s(pid) if pid else 0.0
    count = args.requests // args.rounds
    into.rates.append(asyncio.run(_throughput(target, count, args.concurrency)))
    if pid:
        into.cpu_s += _cpu_s(pid) - cpu
        into.requests += count


ROWS = {
    "keel_scripted": "Keel /v1, scripted model",
    "keel": "Keel /v1 -> upstream",
    "litellm": "LiteLLM proxy 1.105.0",
}
"""The rows, in order: Keel with an instant in-process model (the issue's reading), Keel
forwarding to the instant upstream (like for like with LiteLLM), LiteLLM."""


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reinstall", action="store_true")
    args = parser.parse_args()
    ensure_venv(LITELLM, reinstall=args.reinstall)
    print(machine_line())
    figures = {name: _Figures() for name in ("upstream", *ROWS)}
    with tempfile.TemporaryDirectory() as folder, _upstream() as upstream:
        keel_cmd, keel_env, keel_url = _keel(upstream, Path(folder))
        lite_cmd, lite_env, lite_url = _litellm(upstream, Path(folder))
        with _process(keel_cmd, keel_env) as keel, _process(lite_cmd, lite_env) as lite:
            targets = [
                _Target("upstream", None, upstream, BODY),
                _Target("keel_scripted", keel.pid, keel_url, SCRIPTED),
                _Target("keel", keel.pid, keel_url, BODY),
                _Target("litellm", lite.pid, lite_url, BODY),
            ]
            for target in targets:
                asyncio.run(_ready(target.url, target.body))
            for _ in range(args.rounds):
                for target in targets:
                    _round(target, args, figures[target.name])
    print(machine_line())
    _report(figures, args)
    failed = {name: errors.get(name, 0) for name in ROWS}
    print(f"failed requests (error status or dropped connection): {failed}")


def _report(figures: dict[str, _Figures], args: argparse.Namespace) -> None:
    base = summarize("upstream", figures["upstream"].latency)
    print(
        f"instant upstream: p50 {base.p50_us / 1000:.2f} ms, p99 {base.p99_us / 1000:.2f} ms "
        f"direct; throughput at concurrency {args.concurrency}, {args.requests} requests each; "
        f"latency from {args.latency_requests} sequential requests each"
    )
    rows = {name: _row(figures[name], base) for name in ROWS}
    headers = ["proxy (1 worker)", "req/s", "CPU ms/req", "req/s/core", "added p50 ms"]
    formats = ("{:,.0f}", "{:.2f}", "{:,.0f}", "{:.2f}", "{:.2f}")
    table = [
        [ROWS[name], *(f.format(v) for f, v in zip(formats, r, strict=True))]
        for name, r in rows.items()
    ]
    print_table([*headers, "added p99 ms"], table)
    lite = rows["litellm"]
    for name in ("keel_scripted", "keel"):
        r = rows[name]
        print(
            f"{ROWS[name]} vs LiteLLM: {r[0] / lite[0]:.1f}x req/s, {lite[1] / r[1]:.1f}x by CPU "
            f"per request; added latency 1/{lite[3] / r[3]:.1f} at p50, 1/{lite[4] / r[4]:.1f} "
            "at p99 (targets: >= 10x, <= 1/10)"
        )


def _row(f: _Figures, base: Summary) -> list[float]:
    """req/s, CPU ms/request, req/s per core, added p50 and p99 ms."""
    s = summarize("proxy", f.latency)
    cpu_ms = f.cpu_s * 1000 / f.requests
    rate = sum(f.rates) / len(f.rates)
    added_p50 = (s.p50_us - base.p50_us) / 1000
    return [rate, cpu_ms, 1000 / cpu_ms, added_p50, (s.p99_us - base.p99_us) / 1000]


if __name__ == "__main__":
    main()
