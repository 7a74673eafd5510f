"""The support desk's router: decision latency, and accuracy on the held-out split
beside the small local model as a zero-shot classifier.

    python benchmarks/router.py [--repeat 20] [--no-model] [--no-latency] [--every N]

Latency: `SemanticRouter.classify` on each held-out message in turn, `--repeat` times,
with the route embeddings cached (built once before timing); consecutive messages differ,
so the router's last-decision memo never answers and every decision embeds its message:
what is timed is embedding the message (all-MiniLM-L6-v2 with int8 matrix products on
onnxruntime, one thread — `keel.embeddings.int8_embedder`, the router's default) plus
scoring and the decision; the same routes on the float embedder beside it. Wall and
thread CPU time per decision, and the load average. Scoring alone (the message embedded
beforehand) is timed too, to show where the time goes.

Accuracy per label on the held-out split (66 messages, 4 routes + out-of-scope), for:
the router alone (a confident route, else "out of scope"); the router with the model as
its fallback for what it is not confident about; and the model alone, zero-shot, asked
with the same schema-constrained prompt the fallback uses (`keel.routing.fallback`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable

from keel.examples.support_desk.intents import LABELS, Labelled, load_intents
from keel.examples.support_desk.routing import desk_router
from keel.routing import SemanticRouter
from keel.routing.fallback import classify_with_model

MODEL = "local:qwen2.5-coder-0.5b"
Sample = tuple[float, float]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50_p95(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples):7.3f}  p95 {percentile(samples, 0.95):7.3f}"


def time_it(fn: Callable[[str], object], texts: list[str], repeat: int) -> list[Sample]:
    """(wall ms, this thread's CPU ms) per call: CPU time is what load does not inflate."""
    samples: list[Sample] = []
    for _ in range(repeat):
        for text in texts:
            start, cpu = time.perf_counter(), time.thread_time()
            fn(text)
            samples.append(
                ((time.perf_counter() - start) * 1000, (time.thread_time() - cpu) * 1000)
            )
    return samples


def report_latency(repeat: int, held: list[Labelled]) -> None:
    """The desk's router (int8-matmul embedder, the default) beside the same routes on the
    float embedder (`default_embedder()`, what memory and the knowledge base use), taking
    turns message by message so load hits both alike."""
    from keel.embeddings import default_embedder

    configured = desk_router()
    float_router = SemanticRouter(list(configured.routes.values()), embedder=default_embedder())
    texts = [x.text for x in held]
    samples: dict[str, list[Sample]] = {"int8 (default)": [], "float": []}
    for router in (configured, float_router):
        router.warm()
        time_it(router.classify, texts, 1)  # warm-up
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for _ in range(repeat):
        samples["int8 (default)"] += time_it(configured.classify, texts, 1)
        samples["float"] += time_it(float_router.classify, texts, 1)
    vectors = {t: configured.embedder.embed([t]) for t in texts}
    samples["score only"] = time_it(lambda t: configured.index.scores(vectors[t]), texts, repeat)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"decision latency, embed + score + decide, {len(texts) * repeat} decisions (ms):")
    for name, taken in samples.items():
        wall, cpu = [w for w, _ in taken], [c for _, c in taken]
        print(f"  {name:16s} wall {p50_p95(wall)}   cpu {p50_p95(cpu)}")


def accuracy(predicted: dict[str, str], held: list[Labelled]) -> dict[str, float]:
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for item in held:
        seen[item.label] += 1
        right[item.label] += predicted[item.text] == item.label
    table = {label: right[label] / seen[label] for label in LABELS}
    table["overall"] = sum(right.values()) / len(held)
    return table


async def model_labels(held: list[Labelled]) -> tuple[dict[str, str], list[float]]:
    router, labels, took = desk_router(), {}, []
    for item in held:
        start = time.perf_counter()
        label = await classify_with_model(MODEL, router, item.text)
        took.append((time.perf_counter() - start) * 1000)
        print(f"  model: {item.label:12s} -> {label:12s} {took[-1]:8.0f} ms", flush=True)
        labels[item.text] = "out_of_scope" if label == "none" else label
    return labels, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-model", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument(
        "--every", type=int, default=1, help="accuracy on every Nth held-out message only"
    )
    args = parser.parse_args()
    held = load_intents("heldout")[:: args.every]
    if not args.no_latency:
        report_latency(args.repeat, held)
    router = desk_router()
    decisions = {x.text: router.classify(x.text) for x in held}
    alone = {t: d.route or "out_of_scope" for t, d in decisions.items()}
    columns = {"router": accuracy(alone, held)}
    confident = sum(d.confident for d in decisions.values())
    print(f"\nconfident (no model call): {confident}/{len(held)}")
    if not args.no_model:
        zero_shot, took = asyncio.run(model_labels(held))
        with_fallback = {t: alone[t] if d.confident else zero_shot[t] for t, d in decisions.items()}
        columns["router+model fallback"] = accuracy(with_fallback, held)
        columns["model zero-shot"] = accuracy(zero_shot, held)
        p50, p95 = statistics.median(took), percentile(took, 0.95)
        print(f"model zero-shot latency (ms): p50 {p50:8.1f}   p95 {p95:8.1f}")
    print(f"\naccuracy on the held-out split ({len(held)} messages):")
    print(f"  {'label':14s}" + "".join(f"{name:>24s}" for name in columns))
    for label in [*LABELS, "overall"]:
        print(f"  {label:14s}" + "".join(f"{c[label]:>24.2f}" for c in columns.values()))


if __name__ == "__main__":
    main()
