"""Keel's turn against the same turn in the OpenAI Agents SDK and PydanticAI.

    python benchmarks/peers.py [--runs 3000] [--warmup 300] [--rounds 5] [--reinstall]

The turn is the one in `loop_overhead.py` (no session): a stub model answers with a
prebuilt tool call, the tool runs, the stub answers with prebuilt text. Each peer runs
in its own virtual environment under `benchmarks/.peers/<name>/` (gitignored, made with
pip on first use, pinned below), through `benchmarks/peers/<name>_turn.py`, which prints
JSON; Keel never imports them. Keel is measured in this process. To even out noise from
other work on the machine, the frameworks take turns: `--rounds` rounds, each timing
every framework for runs/rounds turns after its warm-up, and the samples are pooled.
Every turn is sampled on the wall clock and as the process's CPU time (each peer in its
own process, the same way), so CPU µs per turn sits beside the wall-clock p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _common import (
    Summary,
    Timings,
    first_paragraph,
    machine_line,
    print_table,
    summarize_timings,
    time_async,
)
from keel import Runner
from loop_overhead import PROMPT, make_agent, verify

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".peers"


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    framework: str
    requirements: tuple[str, ...]

    @property
    def venv(self) -> Path:
        return VENVS / self.name

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        return HERE / "peers" / f"{self.name}_turn.py"


PEERS = (
    Peer("openai_agents", "OpenAI Agents SDK", ("openai-agents==0.24.0",)),
    Peer("pydantic_ai", "PydanticAI", ("pydantic-ai-slim==2.68.0",)),
)


def ensure_venv(peer: Peer, *, reinstall: bool) -> None:
    """Create the peer's venv and install its pinned packages unless already done.

    A stamp file holding the requirements marks a finished install, so an interrupted
    one, or a changed pin, is redone.
    """
    stamp = peer.venv / "keel-bench-requirements.txt"
    wanted = "\n".join(peer.requirements)
    if not reinstall and stamp.is_file() and stamp.read_text() == wanted:
        return
    print(f"setting up {peer.venv} ({', '.join(peer.requirements)}) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(peer.venv)], check=True)
    pip = [str(peer.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *peer.requirements], check=True)
    stamp.write_text(wanted)


def run_peer(peer: Peer, runs: int, warmup: int) -> dict[str, Any]:
    """One round of the peer's script in its own venv; its JSON line, parsed."""
    command = [str(peer.python), str(peer.script), "--runs", str(runs), "--warmup", str(warmup)]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{peer.script.name} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def keel_round(runner: Runner, runs: int, warmup: int) -> Timings:
    agent = make_agent()
    verify(await runner.run(agent, PROMPT))
    return await time_async(lambda _: runner.run(agent, PROMPT), runs=runs, warmup=warmup)


def measure(args: argparse.Namespace) -> tuple[Summary, list[tuple[Summary, str]]]:
    """Interleaved rounds; Keel's pooled summary and each peer's with its version."""
    per_round = max(args.runs // args.rounds, 2)
    runner = Runner()
    keel = Timings()
    peers: dict[str, Timings] = {p.name: Timings() for p in PEERS}
    versions: dict[str, str] = {}
    for _ in range(args.rounds):
        keel.extend(asyncio.run(keel_round(runner, per_round, args.warmup)))
        for peer in PEERS:
            result = run_peer(peer, per_round, args.warmup)
            peers[peer.name].extend(Timings(result["samples_ns"], result["cpu_samples_ns"]))
            versions[peer.name] = result["version"]
    summaries = [(summarize_timings(p.framework, peers[p.name]), versions[p.name]) for p in PEERS]
    return summarize_timings("Keel", keel), summaries


def print_results(keel: Summary, peers: list[tuple[Summary, str]]) -> None:
    headers = ["framework (one turn = 2 model steps + 1 tool call)", "version", "runs"]
    headers += ["p50 µs", "p95 µs", "p99 µs", "CPU p50 µs", "p50 / keel", "p95 / keel"]
    headers += ["CPU / keel"]
    rows = [row(keel, f"keel {version('keel')}", keel)]
    rows += [row(s, peer_version, keel) for s, peer_version in peers]
    print_table(headers, rows)


def row(s: Summary, framework_version: str, keel: Summary) -> list[str]:
    cpu, keel_cpu = s.cpu_p50_us or 0.0, keel.cpu_p50_us or 1.0
    times = [f"{s.p50_us:,.1f}", f"{s.p95_us:,.1f}", f"{s.p99_us:,.1f}", f"{cpu:,.1f}"]
    ratios = [f"{s.p50_us / keel.p50_us:,.1f}x", f"{s.p95_us / keel.p95_us:,.1f}x"]
    return [s.label, framework_version, f"{s.runs:,}", *times, *ratios, f"{cpu / keel_cpu:,.1f}x"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--runs", type=int, default=3000, help="timed turns per framework")
    parser.add_argument("--warmup", type=int, default=300, help="untimed turns per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--reinstall", action="store_true", help="rebuild the peer venvs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    for peer in PEERS:
        ensure_venv(peer, reinstall=args.reinstall)
    keel, peers = measure(args)
    per_round = max(args.runs // args.rounds, 2)
    print(machine_line())
    print(f"{args.rounds} interleaved rounds; per round and framework {args.warmup:,} warm-up")
    print(f"runs, then {per_round:,} timed runs; samples pooled across rounds\n")
    print_results(keel, peers)


if __name__ == "__main__":
    main()
