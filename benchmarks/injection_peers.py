"""Open-source prompt-injection scanners that need no downloaded model, beside Keel's
injection tiers, on one split of Keel's own labelled set (issue 10: "the same detection
numbers for any open-source scanner that installs offline here").

    .venv/bin/python benchmarks/injection_peers.py --split validation
    .venv/bin/python benchmarks/injection_peers.py --split validation --slow-sample 40

Peers are bench-only and never a dependency of Keel. Their declared dependencies pull in
torch, transformers, langchain, openai and pinecone for the parts that call a model or a
service, so install the wheels alone into a throwaway folder and put it on PYTHONPATH:

    pip install --no-deps --target /tmp/peers rebuff==0.1.1 llamafirewall==1.0.3 \\
        llm-guard==0.3.16 structlog
    PYTHONPATH=/tmp/peers .venv/bin/python benchmarks/injection_peers.py --split validation

Only the model-free modules are imported, without running their packages' `__init__`
(which imports the model-bound code): rebuff's heuristic, LlamaFirewall's REGEX and
HIDDEN_ASCII scanners (through its public `LlamaFirewall.scan`, as a user calls it; that
runs `asyncio.run` per scan, which is in their latency) and LLM Guard's InvisibleText.
A peer that does not import is printed as "not installed (...)" and the rest go on.
Each row: TPR and FPR at the scanner's own default, the ROC point "best TPR at FPR <= 1 %"
(`tpr_at`, a point on this split's curve, not an operating point), and per-message
latency (wall and this thread's CPU time) over the split. rebuff's heuristic costs seconds
per message here, so it runs on a stratified random sample (`--slow-sample`, seed 0) with
Keel's rows on the same sample beside it. Nothing is tuned on these figures.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import random
import re
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import machine_line
from guardrails import BLOCK_AT, both_tiers, load, pct, rates, tpr_at
from keel.guardrails.injection.classifier import InjectionClassifier
from keel.guardrails.injection.corpus import load_split
from keel.guardrails.injection.fast import fast_score

INSTALL = "pip install --no-deps {}, see this file's docstring"


def _blocked(score: float) -> bool:
    """The default decision of a scanner that only says block (1.0) or allow (0.0)."""
    return score >= 0.5


@dataclass
class Scanner:
    """A scanner reduced to a score per message and its own default decision on it."""

    name: str
    score: Callable[[str], float]
    flags: Callable[[float], bool] = _blocked
    slow: bool = False


def peer_module(dotted: str) -> Any:
    """Import `dotted` without running the `__init__` of the packages above it: those
    import the peers' model- and service-bound code (langchain, torch, presidio), which is
    not installed and is not what is measured."""
    parts = dotted.split(".")
    if parts[0] in sys.modules:  # a peer's second module: its stand-in parents exist
        return importlib.import_module(dotted)
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"No module named {parts[0]!r}")
    root = Path(next(iter(spec.submodule_search_locations)))
    for depth in range(1, len(parts)):
        name = ".".join(parts[:depth])
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(root.joinpath(*parts[1:depth]))]
            sys.modules[name] = package
    return importlib.import_module(dotted)


def rebuff() -> list[Scanner]:
    """rebuff 0.1.1's heuristic; `RebuffSdk.detect_injection` flags it above 0.75."""
    heuristics = peer_module("rebuff.detect_pi_heuristics")
    detect = heuristics.detect_prompt_injection_using_heuristic_on_input
    return [
        Scanner(
            "rebuff heuristic (> 0.75)", lambda t: float(detect(t)), lambda s: s > 0.75, slow=True
        )
    ]


def llamafirewall() -> list[Scanner]:
    """LlamaFirewall 1.0.3's model-free scanners for a user message, each alone, and the
    REGEX scanner's one prompt-injection pattern alone (the others in it are PII)."""
    firewall = peer_module("llamafirewall.llamafirewall")
    types_ = peer_module("llamafirewall.llamafirewall_data_types")
    patterns = peer_module("llamafirewall.scanners.regex_scanner").DEFAULT_REGEX_PATTERNS
    injection = re.compile(patterns["Prompt injection"], re.IGNORECASE | re.DOTALL)

    def scanner(kind: Any) -> Callable[[str], float]:
        guard = firewall.LlamaFirewall({types_.Role.USER: [kind]})
        block = types_.ScanDecision.BLOCK
        return lambda t: float(guard.scan(types_.UserMessage(content=t)).decision == block)

    return [
        Scanner("llamafirewall REGEX (default)", scanner(types_.ScannerType.REGEX)),
        Scanner("  its injection pattern alone", lambda t: float(bool(injection.search(t)))),
        Scanner("llamafirewall HIDDEN_ASCII", scanner(types_.ScannerType.HIDDEN_ASCII)),
    ]


def llm_guard() -> list[Scanner]:
    """LLM Guard 0.3.16's InvisibleText input scanner (its PromptInjection is a DeBERTa
    model fetched from a hub; BanSubstrings and Regex ship no patterns of their own)."""
    module = peer_module("llm_guard.input_scanners.invisible_text")
    # Its logger prints a debug line per clean message by default: quiet, as in production.
    peer_module("llm_guard.util").configure_logger(log_level="ERROR")
    scanner = module.InvisibleText()
    return [Scanner("llm-guard InvisibleText", lambda t: float(not scanner.scan(t)[1]))]


def keel() -> list[Scanner]:
    """Keel's fast tier at its default and both tiers scored as `guardrails.detection()`
    does (the classifier runs on every message, as in InjectionGuard, which asks it to
    confirm the fast tier's flags too)."""
    model = InjectionClassifier.load()

    def combined(text: str) -> float:
        fast = fast_score(text)
        return both_tiers(text, fast, model.probability(text, fast), model)

    threshold = float(model.threshold)
    return [
        Scanner("keel fast tier (block at 0.85)", lambda t: fast_score(t).score, _at(BLOCK_AT)),
        Scanner("keel both tiers (default)", combined, lambda s: s >= threshold),
    ]


def _at(cut: float) -> Callable[[float], bool]:
    return lambda s: s >= cut


PEERS: dict[str, tuple[str, Callable[[], list[Scanner]]]] = {
    "rebuff": ("rebuff==0.1.1", rebuff),
    "llamafirewall": ("llamafirewall==1.0.3", llamafirewall),
    "llm-guard": ("llm-guard==0.3.16 structlog", llm_guard),
}


def scanners() -> list[Scanner]:
    """Every peer that imports, then Keel's rows; a peer that does not says why."""
    found: list[Scanner] = []
    for name, (wheel, make) in PEERS.items():
        try:
            found += make()
        except ImportError as exc:
            print(f"  {name}: not installed ({INSTALL.format(wheel)}): {exc}")
    return found + keel()


def measure(scanner: Scanner, texts: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Scores, and wall and thread-CPU ms per message (one warm call first, excluded)."""
    scanner.score(texts[0])
    scores: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    for text in texts:
        start, start_cpu = time.perf_counter(), time.thread_time()
        scores.append(scanner.score(text))
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return scores, wall, cpu


def table(title: str, rows: list[Scanner], texts: list[str], labels: list[int]) -> None:
    benign = len(labels) - sum(labels)
    print(f"\n{title}: {sum(labels)} attacks, {benign} benign ({load()})")
    print(
        f"  {'':34} {'TPR':>6} {'FPR':>6} {'TPR@FPR<=1%':>11}"
        f" {'wall p50':>9} {'wall p95':>9} {'cpu p50':>8} {'cpu p95':>8}  ms/message"
    )
    for scanner in rows:
        scores, wall, cpu = measure(scanner, texts)
        tpr, fpr = rates([scanner.flags(s) for s in scores], labels)
        roc = f"{tpr_at(scores, labels, 0.01):11.1%}" if benign >= 100 else f"{'n/a':>11}"
        print(
            f"  {scanner.name:34} {tpr:6.1%} {fpr:6.1%} {roc}"
            f" {pct(wall, 50):9.3f} {pct(wall, 95):9.3f} {pct(cpu, 50):8.3f} {pct(cpu, 95):8.3f}"
        )
    print(f"  ({load()})")


def sample(texts: list[str], labels: list[int], n: int) -> tuple[list[str], list[int]]:
    """`n` messages, half attacks and half benign, drawn with seed 0."""
    rng = random.Random(0)
    picked = [
        i
        for label in (1, 0)
        for i in rng.sample([i for i, y in enumerate(labels) if y == label], n // 2)
    ]
    return [texts[i] for i in picked], [labels[i] for i in picked]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--split", default="test", help="a split of Keel's labelled set")
    parser.add_argument("--slow-sample", type=int, default=40, help="messages for slow peers")
    args = parser.parse_args()
    examples = load_split(args.split)
    texts = [str(e["text"]) for e in examples]
    labels = [int(str(e["label"])) for e in examples]
    print(machine_line())
    if args.split in ("train", "validation"):
        print(f"  note: Keel's classifier is fitted on train + validation, so on {args.split}")
        print("  its rows are in-sample; the peers never saw this set. Compare on test.")
    rows = scanners()
    fast = [s for s in rows if not s.slow]
    table(f"injection, {args.split} split, every message", fast, texts, labels)
    slow = [s for s in rows if s.slow]
    if slow and args.slow_sample > 0:
        few, few_labels = sample(texts, labels, args.slow_sample)
        title = f"injection, {args.split} split, stratified sample (seed 0)"
        table(title, slow + rows[-2:], few, few_labels)


if __name__ == "__main__":
    main()
