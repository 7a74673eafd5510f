"""What random Fourier features add to the second tier's multilingual embedding.

A logistic regression on the embedding alone (no n-grams, no fast-tier signals), fitted
with the trainer's own `training.fit`, cross-validated by family over the trainer's short
messages: linear on the 64 dimensions, then with `KERNEL` random Fourier features of
several widths beside them. Prints out-of-fold TPR at 1 % and 5 % FPR, side by side in
one run. The embedding alone is a weak detector; this measures how much more of it a
kernel reads, which is why `classifier.Kernel` exists. Run from the repository root
(~10 minutes on 2 cores):

    .venv/bin/python benchmarks/injection_kernel.py
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from _common import machine_line
from keel.guardrails.injection.classifier import BANDWIDTH, KERNEL, Kernel, joined
from keel.guardrails.injection.features import stack
from keel.guardrails.injection.multilingual import multilingual
from keel.guardrails.injection.training import (
    FOLDS,
    Data,
    fit,
    fold_of,
    folds_of,
    short_examples,
)

Matrix = npt.NDArray[np.float64]
WIDTHS = (0.3, BANDWIDTH, 0.6, 1.0)


def tpr_at(z: Matrix, y: Matrix, fpr: float) -> float:
    cut = np.quantile(z[y == 0], 1 - fpr)
    return float((z[y == 1] > cut).mean())


def out_of_fold(dense: Matrix, y: Matrix, families: npt.NDArray[np.str_]) -> Matrix:
    """Each message's logit from a model fitted without its family's fold."""
    none = stack([(np.zeros(0, np.int64), np.zeros(0, np.float32))] * len(y))
    data = Data(none, dense, np.zeros((len(y), 0)), y, families)
    fold, z = folds_of(families, fold_of(families)), np.zeros(len(y))
    for k in range(FOLDS):
        model = fit(data.take(fold != k), l2=5e-7)
        held = dense[fold == k].astype(np.float32)
        z[fold == k] = held @ model.dense_weights + model.bias
    return z


def main() -> None:
    print(machine_line())
    examples = short_examples()
    embedding = multilingual().embed([joined(str(e["text"])) for e in examples])
    y = np.array([float(str(e["label"])) for e in examples])
    families = np.array([str(e["family"]) for e in examples])
    print(f"{len(y)} short messages, {int(y.sum())} attacks; OOF TPR at 1 % / 5 % FPR")
    z = out_of_fold(embedding.astype(np.float64), y, families)
    print(f"  linear, 64 dims            {tpr_at(z, y, 0.01):6.1%} {tpr_at(z, y, 0.05):6.1%}")
    for width in WIDTHS:
        dense = Kernel.drawn(width=width).features(embedding).astype(np.float64)
        z = out_of_fold(dense, y, families)
        label = f"+ {KERNEL} waves, width {width:g}"
        print(f"  {label:26} {tpr_at(z, y, 0.01):6.1%} {tpr_at(z, y, 0.05):6.1%}")


if __name__ == "__main__":
    main()
