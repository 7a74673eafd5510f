"""LiteLLM's Router against Keel's fake OpenAI servers; run by `model_gateway.py`.

    PYTHON benchmarks/peers/litellm_router.py URL DOWN_URL CALLS WARMUP

Prints two lines: a one-deployment router (overhead), and a router whose primary answers
503 (one retry, then the fallback deployment; cooldown off, like a closed breaker).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import litellm
from litellm import Router

MESSAGES = [{"role": "user", "content": "Where is my order A1001?"}]


def deployment(name: str, model: str, base: str) -> dict[str, object]:
    return {
        "model_name": name,
        "litellm_params": {"model": model, "api_base": base, "api_key": "k"},
    }


async def timed(
    call: Callable[[], Awaitable[object]], calls: int, warmup: int, cpu: list[int] | None = None
) -> list[int]:
    for _ in range(warmup):
        await call()
    samples: list[int] = []
    for _ in range(calls):
        cpu_start = time.process_time_ns()
        start = time.perf_counter_ns()
        await call()
        samples.append(time.perf_counter_ns() - start)
        if cpu is not None:
            cpu.append(time.process_time_ns() - cpu_start)
    return samples


def percentiles(samples: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94]


async def main(url: str, down: str, calls: int, warmup: int) -> None:
    litellm.telemetry = False
    one = Router(model_list=[deployment("m", "openai/gpt-4o", url)], num_retries=0)
    cpu: list[int] = []
    samples = await timed(lambda: one.acompletion(model="m", messages=MESSAGES), calls, warmup, cpu)
    p50, p95 = percentiles(samples)
    print(
        f"LiteLLM Router, one deployment: p50 {p50 / 1000:.0f} µs, p95 {p95 / 1000:.0f} µs, "
        f"cpu p50 {statistics.median(cpu) / 1000:.0f} µs ({len(samples)} calls)"
    )
    two = Router(
        model_list=[
            deployment("primary", "openai/gpt-4o", down),
            deployment("backup", "openai/gpt-4o-mini", url),
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=1,
        retry_after=0.05,
        allowed_fails=10**9,
    )
    samples = await timed(lambda: two.acompletion(model="primary", messages=MESSAGES), 60, 5)
    p50, p95 = percentiles(samples)
    print(f"LiteLLM Router, primary down: p50 {p50 / 1e6:.1f} ms, p95 {p95 / 1e6:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
