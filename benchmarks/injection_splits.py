"""How much the blind splits differ: both injection tiers on each split at a few
thresholds for messages scored whole, and each split's best TPR at FPR <= 1 %.

    .venv/bin/python benchmarks/injection_splits.py            # the calibration splits
    .venv/bin/python benchmarks/injection_splits.py --splits test_fresh9 test_fresh11

Why: the threshold is set on unseen blind splits pooled (`training.CALIBRATION`), and
one split's benign block rate at a threshold can be several times another's; this
prints that spread beside the shipped threshold. Messages scored in pieces keep their own
threshold (`piece_threshold`) in every column, as the guard decides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import machine_line
from guardrails import both_tiers, rates, tpr_at
from keel.guardrails.injection.classifier import WEIGHTS, InjectionClassifier, scored_whole
from keel.guardrails.injection.corpus import load_split
from keel.guardrails.injection.fast import fast_score
from keel.guardrails.injection.training import CALIBRATION

THRESHOLDS = (0.6, 0.8)
CELL = 20  # wide enough for the shipped threshold's column title


def split_row(name: str, model: InjectionClassifier) -> str:
    """One split: TPR / FPR at each of `THRESHOLDS` and the shipped one, then its ROC point."""
    examples = load_split(name)
    labels = [int(str(e["label"])) for e in examples]
    scored: list[tuple[float, bool]] = []
    for e in examples:
        text = str(e["text"])
        fast = fast_score(text)
        probability = model.probability(text, fast)
        combined = both_tiers(text, fast, probability, model)
        scored.append((combined, scored_whole(text, fast)))
    piece = model.piece_threshold if model.piece_threshold is not None else model.threshold
    cells = []
    for threshold in (*THRESHOLDS, model.threshold):
        blocked = [c >= (threshold if whole else piece) for c, whole in scored]
        tpr, fpr = rates(blocked, labels)
        cells.append(f"{tpr:6.1%} / {fpr:5.2%}".ljust(CELL))
    best = tpr_at([c for c, _ in scored], labels, 0.01)
    return f"  {name:14} " + " ".join(cells) + f" {best:6.1%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--splits", nargs="+", default=list(CALIBRATION))
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    args = parser.parse_args()
    model = InjectionClassifier.load(args.weights)
    print(machine_line())
    columns = [f"at {t:g}" for t in THRESHOLDS] + [f"at {model.threshold:.4f} (shipped)"]
    print(f"  {'split':14} " + " ".join(c.ljust(CELL) for c in columns) + " best at FPR <= 1 %")
    for name in args.splits:
        print(split_row(name, model))


if __name__ == "__main__":
    main()
