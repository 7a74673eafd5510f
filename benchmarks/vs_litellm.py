"""Keel's OpenAI-compatible `/v1/chat/completions` beside LiteLLM's proxy, one run.

    .venv/bin/python benchmarks/vs_litellm.py [--requests 2000] [--concurrency 16]
        [--latency-requests 300] [--rounds 3] [--reinstall]

Both proxies forward `{"model": "gpt-4o-mini", ...}` to the same instant upstream (Keel's
fake LLM speaking the OpenAI wire format, in a process of its own): Keel as an agent
named `gpt-4o-mini` on `OpenAIModel` (`benchmarks/proxy_app.py`), LiteLLM with a
`model_list` entry `openai/gpt-4o-mini`. Each proxy is one process, one worker
(`keel serve`; `litellm --num_workers 1`). LiteLLM lives in its own venv under
`benchmarks/.peers/litellm_proxy/` (made with pip on first use, pinned below, as
`peers.py` does); Keel never imports it.

Figures, per worker:
- added latency p50/p99: sequential requests (concurrency 1) through the proxy, minus
  the same percentile of requests sent straight to the upstream;
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
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks._common import first_paragraph, machine_line, print_table, summarize
from benchmarks.peers import Peer, ensure_venv
from tests.server.conftest import spare_port

ROOT = Path(__file__).parents[1]
LITELLM = Peer("litellm_proxy", "LiteLLM proxy", ("litellm[proxy]==1.105.0",))
# 1.105.0: the newest release whose dependencies the configured index holds (1.108.11+
# need certifi>=2026.10.19, which it does not have).
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
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


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(timeout=30, headers=HEADERS) as client:
        for _ in range(1200):
            try:
                reply = await client.post(f"{url}/chat/completions", json=BODY)
                if reply.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} never answered")


async def _sequential(url: str, requests: int) -> list[int]:
    latencies: list[int] = []
    async with httpx.AsyncClient(timeout=60, headers=HEADERS) as client:
        for _ in range(20):  # warm the connection and the proxy's own pools
            (await client.post(f"{url}/chat/completions", json=BODY)).raise_for_status()
        for _ in range(requests):
            started = time.perf_counter_ns()
            reply = await client.post(f"{url}/chat/completions", json=BODY)
            latencies.append(time.perf_counter_ns() - started)
            assert reply.json()["choices"][0]["message"]["content"] == "ok", reply.text
    return latencies


async def _throughput(url: str, requests: int, concurrency: int) -> float:
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=HEADERS) as client:

        async def worker() -> None:
            for _ in remaining:
                try:
                    reply = await client.post(f"{url}/chat/completions", json=BODY)
                    failed = reply.status_code != 200
                except httpx.HTTPError:
                    failed = True
                errors[url] = errors.get(url, 0) + failed

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


errors: dict[str, int] = {}
"""Failed requests (an error status or a dropped connection) per URL, under load."""


class _Figures:
    def __init__(self) -> None:
        self.latency: list[int] = []
        self.rates: list[float] = []
        self.cpu_s = 0.0
        self.requests = 0


def _round(pid: int | None, url: str, args: argparse.Namespace, into: _Figures) -> None:
    into.latency += asyncio.run(_sequential(url, args.latency_requests // args.rounds))
    cpu = _cpu_s(pid) if pid else 0.0
    count = args.requests // args.rounds
    into.rates.append(asyncio.run(_throughput(url, count, args.concurrency)))
    if pid:
        into.cpu_s += _cpu_s(pid) - cpu
        into.requests += count


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
    figures = {name: _Figures() for name in ("upstream", "keel", "litellm")}
    with tempfile.TemporaryDirectory() as folder, _upstream() as upstream:
        keel_cmd, keel_env, keel_url = _keel(upstream, Path(folder))
        lite_cmd, lite_env, lite_url = _litellm(upstream, Path(folder))
        with _process(keel_cmd, keel_env) as keel, _process(lite_cmd, lite_env) as lite:
            asyncio.run(_ready(keel_url))
            asyncio.run(_ready(lite_url))
            targets = [
                ("upstream", None, upstream),
                ("keel", keel.pid, keel_url),
                ("litellm", lite.pid, lite_url),
            ]
            for _ in range(args.rounds):
                for name, pid, url in targets:
                    _round(pid, url, args, figures[name])
    print(machine_line())
    _report(figures, args)
    failed = {"keel": errors.get(keel_url, 0), "litellm": errors.get(lite_url, 0)}
    print(f"failed requests (error status or dropped connection): {failed}")


def _report(figures: dict[str, _Figures], args: argparse.Namespace) -> None:
    base = summarize("upstream", figures["upstream"].latency)
    rows: list[list[str]] = []
    for name, label in (("keel", "Keel /v1 (keel serve)"), ("litellm", "LiteLLM proxy 1.105.0")):
        f = figures[name]
        s = summarize(name, f.latency)
        cpu_ms = f.cpu_s * 1000 / f.requests
        rate = sum(f.rates) / len(f.rates)
        rows.append(
            [
                label,
                f"{rate:,.0f}",
                f"{cpu_ms:.2f}",
                f"{1000 / cpu_ms:,.0f}",
                f"{(s.p50_us - base.p50_us) / 1000:.2f}",
                f"{(s.p99_us - base.p99_us) / 1000:.2f}",
            ]
        )
    print(
        f"instant upstream: p50 {base.p50_us / 1000:.2f} ms, p99 {base.p99_us / 1000:.2f} ms "
        f"direct; throughput at concurrency {args.concurrency}, {args.requests} requests each; "
        f"latency from {args.latency_requests} sequential requests each"
    )
    headers = ["proxy (1 worker)", "req/s", "CPU ms/req", "req/s/core", "added p50 ms"]
    print_table([*headers, "added p99 ms"], rows)


if __name__ == "__main__":
    main()
