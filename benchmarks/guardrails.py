"""Guardrails: latency per guardrail on 2,000-character messages, injection detection per
tier on the held-out split (alone, and padded inside ~3,000 characters of test benign
messages), PII recall per kind, and parallel vs sequential input guardrails beside a
slow model.

    .venv/bin/python benchmarks/guardrails.py            # everything (~2-4 min here)
    .venv/bin/python benchmarks/guardrails.py --quick    # fewer repetitions
    .venv/bin/python benchmarks/guardrails.py --only latency,pii   # some sections
    .venv/bin/python benchmarks/guardrails.py --only detection --split test_fresh3
    .venv/bin/python benchmarks/guardrails.py --only detection --weights old.npz  # another model

Latencies are percentiles of single calls (first call, which loads models and weights,
excluded), both wall clock and CPU time of the calling thread (`time.thread_time`): on a
shared machine the CPU column is the one that does not count time spent waiting for a
core. The injection second tier is numpy and a `tokenizers` call on the calling thread
(hashed n-grams and a multilingual token table, no model), so its CPU column is
complete; the topic guard's default session also works in a thread pool, which its CPU
column does not count. The out-of-fold figures every
choice was made on (cross-validation over families of the training messages) are printed
by `python -m keel.guardrails.injection.training`, which retrains the weights.
The PII section puts presidio-analyzer's pattern recognizers beside Keel's on the same
samples when presidio is installed (`pip install presidio-analyzer`; a bench-only extra,
`keel[bench-guardrails]`; no spaCy model is needed for pattern recognizers).
Open-source injection scanners that install offline (rebuff's heuristic, LlamaFirewall's
regex scanners, LLM Guard's InvisibleText) sit beside Keel's tiers in
`injection_peers.py`, which reuses `both_tiers`, `rates` and `tpr_at` from here.
Detection figures use `data/test.jsonl`, whose template families the classifier never
saw (see `keel/guardrails/injection/data/PROVENANCE.md`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from _common import machine_line
from keel import Agent, Runner
from keel.guardrails.base import Guardrail
from keel.guardrails.builtin import PiiRedaction
from keel.guardrails.filters import Commitments, OtherCustomersPII, SecretLeak, TopicGuard
from keel.guardrails.injection import FastInjectionGuard, InjectionGuard, second_tier
from keel.guardrails.injection.classifier import (
    WEIGHTS,
    InjectionClassifier,
    joined,
    pieces,
    scored_whole,
)
from keel.guardrails.injection.corpus import is_long, load_split, padded
from keel.guardrails.injection.fast import FastScore, fast_score
from keel.guardrails.injection.multilingual import multilingual
from keel.guardrails.middleware import Guardrails
from keel.guardrails.pii import PII_KINDS, find_pii
from keel.guardrails.pii.samples import samples
from keel.models.base import ModelRequest
from keel.testing import FunctionModel

FILLER = (
    "Hello, I ordered a blue jacket on the 3rd and the tracking page has said 'in transit' "
    "for a week now. I contacted the courier, who told me to ask you. Could you check what "
    "is going on and whether it can still arrive before my trip? "
)


def messages(n: int, seed: int = 1) -> list[str]:
    """2,000-character messages: filler with a test-split text placed at a random point."""
    rng = random.Random(seed)
    texts = [str(e["text"]) for e in load_split("test")]
    out: list[str] = []
    for _ in range(n):
        body = (FILLER * 12)[:2000]
        inner = rng.choice(texts)[:400]
        at = rng.randrange(0, 2000 - len(inner))
        out.append((body[:at] + inner + body[at + len(inner) :])[:2000])
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def timed(
    fn: Callable[[str], object], texts: list[str], repeat: int
) -> tuple[float, float, float, float]:
    """p50 and p95 of wall time and of this thread's CPU time, in ms."""
    fn(texts[0])  # warm: loads models, compiles patterns
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(repeat):
        for text in texts:
            start, start_cpu = time.perf_counter(), time.thread_time()
            fn(text)
            cpu.append((time.thread_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)
    return pct(wall, 50), pct(wall, 95), pct(cpu, 50), pct(cpu, 95)


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def latency(quick: bool) -> None:
    texts = messages(30 if quick else 200)
    topic = TopicGuard({"orders": ["where is my order", "return an item", "refund request"]})
    cut = {t: pieces(joined(t, fast_score(t))) for t in texts}  # the pieces it embeds
    shipped = InjectionClassifier.load()
    rows: list[tuple[str, Callable[[str], object]]] = [
        ("pii (scrub, all kinds)", PiiRedaction().inspect),
        ("injection fast tier", FastInjectionGuard().inspect),
        ("injection second tier (forced)", lambda t: second_tier(fast_score(t), t)),
        ("  of which multilingual embedding", lambda t: multilingual().embed(cut[t])),
        ("  of which it and its kernel", lambda t: shipped.dense(cut[t])),
        ("injection both tiers (default)", InjectionGuard().inspect),
        ("topic (local embeddings)", topic.inspect),
        ("output: secret leak", SecretLeak().inspect),
        ("output: other customers' PII", OtherCustomersPII().inspect),
        ("output: commitments", Commitments().inspect),
    ]
    print(f"\nlatency on 2,000-char messages, ms ({len(texts)} messages; {load()})")
    print(f"  {'':36} {'wall p50':>9} {'wall p95':>9} {'cpu p50':>9} {'cpu p95':>9}")
    for name, fn in rows:
        p50, p95, c50, c95 = timed(fn, texts, 1 if quick else 3)
        print(f"  {name:36} {p50:9.3f} {p95:9.3f} {c50:9.3f} {c95:9.3f}")
    print(f"  ({load()})")


BLOCK_AT = 0.85  # the fast tier's default block score (FastInjectionGuard, InjectionGuard)


def both_tiers(text: str, fast: FastScore, probability: float, model: InjectionClassifier) -> float:
    """One score for both tiers, as InjectionGuard decides: 1.0 where the fast tier flags
    and the classifier confirms (`InjectionClassifier.confirms`), else the classifier's
    probability, so `>= model.threshold_for(text)` is the guard's verdict and the same
    numbers give its ROC point (shared with `injection_peers.py`)."""
    confirmed = model.confirms(probability, scored_whole(text, fast))
    return 1.0 if fast.score >= BLOCK_AT and confirmed else float(probability)


def rates(flags: list[bool], labels: list[int]) -> tuple[float, float]:
    """TPR and FPR of `flags` against `labels` (1 = attack); NaN for a class with no message
    (the first test split's long messages are all benign)."""
    attacks = [f for f, y in zip(flags, labels, strict=True) if y]
    benign = [f for f, y in zip(flags, labels, strict=True) if not y]
    return _share(attacks), _share(benign)


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def detection(split: str = "test", weights: Path = WEIGHTS) -> None:
    """Each tier on a held-out split: all of it, then short and long messages (the blind
    writers' `long-fresh*` families, 800-3,000 characters) apart when it has both (the
    fresh splits do), then every short message padded inside long text."""
    examples = load_split(split)
    labels = [int(str(e["label"])) for e in examples]
    texts = [str(e["text"]) for e in examples]
    fast = [fast_score(t) for t in texts]
    model = InjectionClassifier.load(weights)
    probabilities = [model.probability(t, f) for t, f in zip(texts, fast, strict=True)]
    print(f"\ninjection, held-out split {split!r}:")
    rows = list(zip(texts, labels, fast, probabilities, strict=True))
    report("all messages", rows, model)
    short = [r for r, e in zip(rows, examples, strict=True) if not is_long(e)]
    if len(short) < len(rows):
        report("short messages", short, model)
        longs = [r for r, e in zip(rows, examples, strict=True) if is_long(e)]
        report("long messages (long-* families)", longs, model)
    padded_detection([r[0] for r in short], [r[1] for r in short], model)


Row = tuple[str, int, FastScore, float]


def report(title: str, rows: list[Row], model: InjectionClassifier) -> None:
    """TPR / FPR of each tier at its operating point, and ROC points at FPR <= 1 %."""
    labels, fast = [r[1] for r in rows], [r[2] for r in rows]
    # exactly as InjectionGuard decides
    combined = [both_tiers(t, f, p, model) for t, _, f, p in rows]
    pairs = list(zip(rows, combined, strict=True))
    print(f"  {title}: {sum(labels)} attacks, {len(labels) - sum(labels)} benign")
    for name, flags in (
        ("fast tier, block at 0.85", [f.score >= BLOCK_AT for f in fast]),
        ("fast tier, block at 0.5", [f.score >= 0.5 for f in fast]),
        ("fast tier, block at 0.3", [f.score >= 0.3 for f in fast]),
        ("both tiers (default)", [c >= model.threshold_for(r[0], r[2]) for r, c in pairs]),
    ):
        tpr, fpr = rates(flags, labels)
        print(f"    {name:28} TPR {tpr:6.1%}  FPR {fpr:5.1%}")
    for name, scores in (
        ("fast tier score", [f.score for f in fast]),
        ("second tier alone", [r[3] for r in rows]),
        ("both tiers", combined),
    ):
        print(f"    {name:28} TPR {tpr_at(scores, labels, 0.01):6.1%} at FPR <= 1% (ROC point)")


def padded_detection(
    texts: list[str], labels: list[int], model: InjectionClassifier, size: int = 3000
) -> None:
    """Every test message placed at a random point among ~3,000 characters of test benign
    messages (an attack inside a long e-mail or tool result; a long ordinary one)."""
    rng = random.Random(7)
    filler = [t for t, y in zip(texts, labels, strict=True) if not y]
    blocked = [_blocked(model, padded(t, filler, rng, size)) for t in texts]
    tpr, fpr = rates(blocked, labels)
    print(f"  both tiers, padded to ~{size:,} chars    TPR {tpr:6.1%}  FPR {fpr:5.1%}")


def _blocked(model: InjectionClassifier, text: str) -> bool:
    """`InjectionGuard`'s verdict, with `model` as its second tier."""
    fast = fast_score(text)
    probability = model.probability(text, fast)
    combined = both_tiers(text, fast, probability, model)
    return combined >= model.threshold_for(text, fast)


def tpr_at(scores: list[float], labels: list[int], max_fpr: float) -> float:
    """The best TPR of any threshold whose FPR here is <= `max_fpr`: a point on this split's
    ROC curve, not an operating point (the shipped threshold is chosen without it)."""
    benign = sorted((s for s, y in zip(scores, labels, strict=True) if not y), reverse=True)
    allowed = int(max_fpr * len(benign))
    cut = benign[allowed] if allowed < len(benign) else -1.0
    attacks = [s for s, y in zip(scores, labels, strict=True) if y]
    return _share([s > cut for s in attacks])


def pii_recall() -> None:
    from pii_presidio import presidio_finder

    presidio = presidio_finder()
    print("\nPII recall on generated samples (1,000 per kind, seed 99)")
    print(f"  {'kind':12} {'keel':>8} {'presidio':>9}  presidio recognizers")
    for kind in PII_KINDS:
        batch = list(samples(kind, 1000, seed=99))
        spans = [(s.text.index(s.value), s.text.index(s.value) + len(s.value)) for s in batch]
        hits = sum(
            any(m.kind == kind and m.start <= a and m.end >= b for m in find_pii(s.text))
            for s, (a, b) in zip(batch, spans, strict=True)
        )
        other, names = "n/a", presidio.names(kind) if presidio else "not installed"
        if presidio is not None and presidio.covers(kind):
            found = sum(
                presidio.found(kind, s.text, a, b) for s, (a, b) in zip(batch, spans, strict=True)
            )
            other = f"{found / len(batch):.2%}"
        print(f"  {kind:12} {hits / len(batch):8.2%} {other:>9}  {names}")


async def parallel_vs_sequential(runs: int) -> None:
    async def slow(request: ModelRequest) -> str:
        await asyncio.sleep(0.3)  # a slow model: 300 ms to answer
        return "Your parcel is on its way."

    class SlowCheck(Guardrail):
        """A 150 ms guardrail (a remote moderation call, a large classifier)."""

        name = "slow_check"

        async def check(self, text: str, ctx: object = None) -> object:  # type: ignore[override]
            await asyncio.sleep(0.15)
            return await InjectionGuard().check(text)

    text = messages(1)[0]
    setups = {
        "no guardrail": [],
        "sequential (input=)": [Guardrails(input=[SlowCheck()])],
        "parallel (parallel=)": [Guardrails(parallel=[SlowCheck()])],
    }
    print("\nslow model (300 ms) + a 150 ms input guardrail, wall ms per run   p50    added")
    base = 0.0
    for name, middleware in setups.items():
        agent = Agent(name="a", model=FunctionModel(slow), middleware=middleware)
        times: list[float] = []
        for _ in range(runs):
            start = time.perf_counter()
            await Runner().run(agent, text)
            times.append((time.perf_counter() - start) * 1000)
        p50 = statistics.median(times)
        base = base or p50
        print(f"  {name:58} {p50:6.1f}  {p50 - base:+6.1f}")


SECTIONS = ("latency", "detection", "pii", "parallel")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}"
    )
    parser.add_argument("--split", default="test", help="the held-out split for detection")
    parser.add_argument(
        "--weights", type=Path, default=WEIGHTS, help="second-tier weights for detection"
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    wanted = set(args.only.split(","))
    if wanted - set(SECTIONS):
        raise SystemExit(f"--only: unknown sections {sorted(wanted - set(SECTIONS))}")
    print(machine_line())
    if "latency" in wanted:
        latency(args.quick)
    if "detection" in wanted:
        detection(args.split, args.weights)
    if "pii" in wanted:
        pii_recall()
    if "parallel" in wanted:
        asyncio.run(parallel_vs_sequential(5 if args.quick else 15))


if __name__ == "__main__":
    main()
