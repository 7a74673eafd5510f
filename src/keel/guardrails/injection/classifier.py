"""The second tier: logistic regression over a local embedding of the suspicious window
plus the fast tier's signals.

Why logistic regression in numpy: 400 weights, trained in a second on the labelled set
in `corpus.py`, and a prediction is one dot product after the embedding; a gradient-boosted
or neural head would add a dependency for no measured gain on this data. The embedder is
`keel.embeddings.int8_embedder()` (all-MiniLM-L6-v2 with int8 matrix products, offline).

Train with `python -m keel.guardrails.injection.classifier` (writes `data/classifier.npz`):
fitted on train + validation, with l2 and the threshold (FPR <= 0.5 % on out-of-fold
scores) chosen by cross-validation over families; the test split is never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.exceptions import MissingExtraError
from keel.guardrails.injection.corpus import DATA, SEED, Example, load_split
from keel.guardrails.injection.fast import SIGNALS, FastScore, fast_score

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from keel.embeddings import Embedder

__all__ = ["InjectionClassifier", "train"]

WEIGHTS = DATA / "classifier.npz"
SIGNAL_NAMES = (*(s[0] for s in SIGNALS), "obfuscated", "spaced_out")
BLOCK_AT = 0.85
"""Fast-tier scores at or above this block without asking the second tier."""
TARGET_FPR = 0.005
"""Picked on validation with a margin under the 1 % the issue asks for on unseen data."""


def _np() -> Any:
    try:
        import numpy
    except ImportError as exc:  # pragma: no cover - numpy comes with the extra
        raise MissingExtraError("the injection classifier", "security") from exc
    return numpy


def features(embedder: Embedder, scores: Sequence[FastScore]) -> npt.NDArray[np.float32]:
    np = _np()
    vectors = embedder.embed([s.window or " " for s in scores])
    flags = np.array(
        [[1.0 if n in s.signals else 0.0 for n in SIGNAL_NAMES] + [s.score] for s in scores],
        dtype=np.float32,
    )
    return np.hstack([vectors, flags]).astype(np.float32)


@dataclass(frozen=True, slots=True)
class InjectionClassifier:
    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float
    embedder_name: str

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> InjectionClassifier:
        np = _np()
        with np.load(path) as data:
            return cls(
                data["weights"],
                float(data["bias"]),
                float(data["threshold"]),
                str(data["embedder"]),
            )

    def save(self, path: Path = WEIGHTS) -> None:
        np = _np()
        np.savez(
            path,
            weights=self.weights,
            bias=np.float32(self.bias),
            threshold=np.float32(self.threshold),
            embedder=np.str_(self.embedder_name),
        )

    def probabilities(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        np = _np()
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))


def _fit(x: Any, y: Any, *, l2: float = 0.01, steps: int = 1500, rate: float = 5.0) -> Any:
    """Full-batch gradient descent on the logistic loss, classes weighted equally."""
    np = _np()
    w, b = np.zeros(x.shape[1], dtype=np.float64), 0.0
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = (p - y) * weight / len(y)
        w -= rate * (x.T @ g + l2 * w)
        b -= rate * g.sum()
    return w.astype(np.float32), float(b)


def pick_threshold(probabilities: Any, labels: Any, target_fpr: float = TARGET_FPR) -> float:
    """The lowest threshold whose false-positive rate on `labels` is <= `target_fpr`."""
    np = _np()
    negatives = np.sort(probabilities[labels == 0])[::-1]
    allowed = int(np.floor(target_fpr * len(negatives)))
    if allowed >= len(negatives):
        return 0.0
    return float(negatives[allowed]) + 1e-6


def _xy(embedder: Embedder, examples: list[Example]) -> tuple[Any, Any]:
    np = _np()
    scores = [fast_score(str(e["text"])) for e in examples]
    return features(embedder, scores), np.array([int(str(e["label"])) for e in examples])


FOLDS = 5
L2_GRID = (0.0, 0.001, 0.01)


def out_of_fold(x: Any, y: Any, families: Any, *, l2: float, folds: int = FOLDS) -> Any:
    """Each example's probability from a model trained without its family's fold."""
    np = _np()
    names = sorted(set(families.tolist()))
    order = np.random.default_rng(SEED).permutation(len(names))
    fold_of = {names[j]: i % folds for i, j in enumerate(order)}
    fold = np.array([fold_of[f] for f in families.tolist()])
    out = np.zeros(len(y))
    for k in range(folds):
        w, b = _fit(x[fold != k], y[fold != k], l2=l2)
        out[fold == k] = 1.0 / (1.0 + np.exp(-(x[fold == k] @ w + b)))
    return out


def _cv_choice(x: Any, y: Any, families: Any) -> tuple[float, float]:
    """(l2, threshold) with the best out-of-fold TPR at TARGET_FPR, over unseen families."""
    band = x[:, -1] < BLOCK_AT  # the second tier only sees what the first did not block
    best = (-1.0, 0.0, 0.5)
    for l2 in L2_GRID:
        p = out_of_fold(x, y, families, l2=l2)
        threshold = pick_threshold(p[band], y[band], TARGET_FPR)
        tpr = float(((p >= threshold) | ~band)[y == 1].mean())
        best = max(best, (tpr, l2, threshold))
    return best[1], best[2]


def train(embedder: Embedder) -> InjectionClassifier:
    """Trained on train + validation; l2 and threshold from cross-validation by family."""
    np = _np()
    examples = load_split("train") + load_split("validation")
    x, y = _xy(embedder, examples)
    families = np.array([str(e["family"]) for e in examples])
    l2, threshold = _cv_choice(x.astype("float64"), y, families)
    w, b = _fit(x.astype("float64"), y, l2=l2)
    return InjectionClassifier(w, b, threshold, embedder.name)


def main() -> None:
    from keel.embeddings import int8_embedder

    model = train(int8_embedder())
    model.save()
    print(f"saved {WEIGHTS} (threshold {model.threshold:.4f})")


if __name__ == "__main__":
    main()
