"""Fact extraction (`ExtractFacts`): what it adds to a turn, with an instant scripted
extraction model, so the figure is Keel's own work, not a model's.

    python benchmarks/fact_extraction.py [--turns 200] [--rounds 3]

Each scenario is `--turns` turns of the loop benchmark's agent (a prebuilt model and one
tool call) on one in-memory session, for one user, with SQLite user memory. The
extraction model answers one fact a turn, its key one of ten topics (so most turns
supersede a fact). Scenarios, interleaved by round:

- none: no extraction (the baseline);
- background: the default; the reply's latency is timed (the extraction of earlier turns
  runs on the same event loop between and during turns: its CPU is in the CPU column),
  and how long `flush` after the last turn waited;
- inline (`background=False`): the whole extraction before the reply, with an instant
  embedder (Keel's own cost) and with the default local embedder (MiniLM, what a fact
  costs to embed on this CPU).

Wall medians per turn in µs, with process CPU per turn; the machine's load is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from _common import first_paragraph, machine_line, print_table
from keel import Runner
from keel.embeddings.base import Embedder
from keel.memory import ExtractFacts, FactExtraction, InMemorySessionStore, UserMemory
from keel.models.base import ModelRequest
from keel.principal import Principal
from keel.storage import SQLiteDatabase
from keel.testing import FunctionModel
from loop_overhead import PROMPT, make_agent

USER = Principal("ann", "acme")


class InstantEmbedder:
    """A fixed unit vector per text (hash-seeded): no model."""

    name, dimensions = "instant", 384

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = [np.random.default_rng(abs(hash(t))).standard_normal(384) for t in texts]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), 384)
        return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-9)


def extraction_model() -> FunctionModel:
    turn = iter(range(1_000_000))

    def answer(request: ModelRequest) -> str:
        n = next(turn)
        fact = {"key": f"topic_{n % 10}", "text": f"Fact number {n}", "kind": "fact"}
        return json.dumps({"facts": [fact]})

    return FunctionModel(answer)


async def scenario(
    path: Path, turns: int, mode: str, embedder: Embedder | None
) -> tuple[list[float], float, float]:
    """Per-turn wall µs, CPU µs per turn (background work included), and how long the
    `flush` after the last turn waited, in µs."""
    agent = make_agent()
    extractor = None
    if mode != "none":
        memory = UserMemory(SQLiteDatabase(path), embedder)
        config = FactExtraction(  # back-to-back turns outrun extraction: queue them all
            model=extraction_model(), background=mode == "background", max_pending=turns
        )
        extractor = ExtractFacts(memory, config)
        agent = replace(agent, middleware=[extractor])
    runner, times = Runner(session_store=InMemorySessionStore()), list[float]()
    cpu = time.process_time_ns()
    for _ in range(turns):
        start = time.perf_counter_ns()
        await runner.run(agent, PROMPT, session_id="s", principal=USER)
        times.append((time.perf_counter_ns() - start) / 1000)
    start = time.perf_counter_ns()
    if extractor is not None:
        await extractor.flush()
        assert extractor.dropped == 0, "an extraction failed"
    left = (time.perf_counter_ns() - start) / 1000
    return times, (time.process_time_ns() - cpu) / 1000 / turns, left


async def main(turns: int, rounds: int) -> None:
    print(machine_line())
    from keel.embeddings import default_embedder

    minilm = default_embedder()
    minilm.embed(["warm up"])
    scenarios = {
        "none (baseline)": ("none", None),
        "background (default): reply": ("background", InstantEmbedder()),
        "inline, instant embedder": ("inline", InstantEmbedder()),
        "inline, MiniLM embedder": ("inline", minilm),
    }
    walls: dict[str, list[float]] = {k: [] for k in scenarios}
    cpus: dict[str, list[float]] = {k: [] for k in scenarios}
    left: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for i, (label, (mode, embedder)) in enumerate(scenarios.items()):
                path = Path(tmp) / f"r{r}-{i}.db"
                times, cpu, rest = await scenario(path, turns, mode, embedder)
                walls[label] += times[1:]
                cpus[label].append(cpu)
                if mode == "background":
                    left.append(rest)
    base = statistics.median(walls["none (baseline)"])
    rows = [
        [label, f"{statistics.median(w):,.0f}", f"{statistics.median(w) - base:+,.0f}",
         f"{statistics.median(cpus[label]):,.0f}"]
        for label, w in walls.items()
    ]  # fmt: skip
    print(f"\n{rounds} rounds of {turns} turns; medians per turn")
    print_table(["scenario", "wall µs", "added µs", "CPU µs/turn"], rows)
    print(f"background: flush after the last turn waited {statistics.median(left):,.0f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.rounds))
