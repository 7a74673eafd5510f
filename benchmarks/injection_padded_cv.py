"""Out-of-fold detection on long messages: 5-fold CV over families of the training
messages (train + validation, the spent `test_fresh`) and the long messages (the folds
of `keel.guardrails.injection.training`), short messages and padded ones.

    .venv/bin/python benchmarks/injection_padded_cv.py             # trained as shipped
    .venv/bin/python benchmarks/injection_padded_cv.py --no-long   # without long pieces
    .venv/bin/python benchmarks/injection_padded_cv.py --pieces 300 150 450  # PIECE STEP WHOLE
    .venv/bin/python benchmarks/injection_padded_cv.py --pad-to 450  # + padded copies

For each fold a model is fitted on the other folds as `training.train` fits it (short
messages and the pieces of long ones; with one copy of every short training message
padded to PAD_TO / 2 .. PAD_TO characters with their benign messages, when --pad-to is
given), then scored on the fold's messages and on 120 of its attacks and 120 of its
benign messages padded to ~3,000 characters with that fold's own benign messages. Prints
TPR / FPR at the shipped threshold and at a threshold for 0.5 % FPR over short and
padded benign messages together. `test.jsonl` and the unspent blind splits are not read. ~10 min.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

import numpy as np

from keel.guardrails.injection import classifier
from keel.guardrails.injection.corpus import SEED, Example, padded
from keel.guardrails.injection.fast import fast_score
from keel.guardrails.injection.training import (
    FOLDS,
    dataset,
    fit,
    fold_of,
    folds_of,
    pick_threshold,
    short_examples,
    training_data,
)

L2, PADDED_SIZE, PER_FOLD = 1e-6, 3000, 120  # L2: the shipped model's (PROVENANCE.md)


def augmented(examples: list[Example], rng: random.Random, pad_to: int) -> list[Example]:
    benign = [str(e["text"]) for e in examples if e["label"] == 0]
    return examples + [
        {**e, "text": padded(str(e["text"]), benign, rng, rng.randint(pad_to // 2, pad_to))}
        for e in examples
    ]


def scored(model: classifier.InjectionClassifier, texts: list[str]) -> Any:
    """As `InjectionGuard` decides: 1.0 when the fast tier blocks, else the probability."""
    fast = [fast_score(t) for t in texts]
    return np.array(
        [
            1.0 if f.score >= 0.85 else model.probability(t, f)
            for t, f in zip(texts, fast, strict=True)
        ]
    )


def padded_fold(held: list[Example], rng: random.Random) -> tuple[list[str], list[str]]:
    benign = [str(e["text"]) for e in held if e["label"] == 0]
    attacks = [str(e["text"]) for e in held if e["label"] == 1]
    chosen = rng.sample(attacks, min(PER_FOLD, len(attacks)))
    cores = rng.sample(benign, min(PER_FOLD, len(benign)))
    return [padded(a, benign, rng, PADDED_SIZE) for a in chosen], [
        padded(b, benign, rng, PADDED_SIZE) for b in cores
    ]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--no-long", action="store_true", help="train on short messages only")
    parser.add_argument("--pieces", type=int, nargs=3, metavar=("PIECE", "STEP", "WHOLE"))
    parser.add_argument("--pad-to", type=int, default=0, help="add padded training copies")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.pieces:
        classifier.PIECE, classifier.STEP, classifier.WHOLE = args.pieces
    examples = short_examples()  # the rows of training_data()'s short Data, in order
    rows, long, cut = training_data()
    folds = fold_of(np.concatenate([rows.families, [str(e["family"]) for e in long]]))
    fold, cut_fold = folds_of(rows.families, folds), folds_of(cut.families, folds)
    short, pa, pb = np.zeros(len(examples)), [], []
    for k in range(FOLDS):
        data = rows.take(fold != k)
        if args.pad_to:
            inside = [e for e, f in zip(examples, fold, strict=True) if f != k]
            data = dataset(augmented(inside, random.Random(SEED + k), args.pad_to))
        model = fit(data if args.no_long else data.plus(cut.take(cut_fold != k)), l2=L2)
        held = np.flatnonzero(fold == k)
        short[held] = scored(model, [str(examples[i]["text"]) for i in held])
        attacks, benign = padded_fold([examples[i] for i in held], random.Random(SEED + k))
        pa += scored(model, attacks).tolist()
        pb += scored(model, benign).tolist()
        print(f"fold {k + 1} of {FOLDS}", flush=True)
    report(short, rows.y, np.array(pa), np.array(pb))


def report(short: Any, y: Any, pa: Any, pb: Any) -> None:
    negatives = np.concatenate([short[y == 0], pb])
    negatives = negatives[negatives < 1.0]  # fast-tier blocks: no threshold unblocks them
    shipped = classifier.InjectionClassifier.load().threshold
    for name, t in (
        ("shipped", shipped),
        ("0.5 % short+padded", pick_threshold(negatives, 0 * negatives)),
    ):
        print(
            f"{name} threshold {t:.4f}: short TPR {(short[y == 1] >= t).mean():.1%} "
            f"FPR {(short[y == 0] >= t).mean():.2%}; padded TPR {(pa >= t).mean():.1%} "
            f"FPR {(pb >= t).mean():.2%}"
        )


if __name__ == "__main__":
    main()
