"""The second tier: logistic regression over hashed character and word n-grams of every
reading the fast tier made, a multilingual static embedding of the same text
(`multilingual.py`) with random Fourier features of it (`Kernel`), and the fast tier's
signals and shape cues.

Why this and not an embedding of a window: on this project's AVX2 machines MiniLM costs
~1 ms of CPU a token, so even a 40-token window cost ~25-35 ms, and a 160-character
window sees a tenth of a 2,000-character message. Hashed n-grams (`features.py`) cost a
few hundred microseconds for the whole message, need no model at run time, and in
5-fold cross-validation over families of train + validation they caught far more unseen
families at the same false-positive rate (PROVENANCE.md, BENCHMARKS.md issue 10).

A message longer than `WHOLE` characters (its readings joined) is scored in overlapping
pieces of `PIECE` characters and the highest probability counts: an attack pasted into
a long, ordinary message is not averaged away by the rest of it.

Train with `python -m keel.guardrails.injection.training` (writes `data/classifier.npz`);
the test split is never read there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from keel.exceptions import ConfigurationError
from keel.guardrails.injection.fast import SIGNALS, FastScore, fast_score
from keel.guardrails.injection.features import BITS, Sparse, hashed, stack
from keel.guardrails.injection.multilingual import DIMS, multilingual
from keel.guardrails.injection.normalize import views

__all__ = [
    "FEATURES",
    "InjectionClassifier",
    "Kernel",
    "flag_rows",
    "joined",
    "pieces",
    "scored_whole",
]

WEIGHTS = Path(__file__).parent / "data" / "classifier.npz"
"""Beside the labelled set (`corpus.DATA`), named here rather than imported from `corpus`,
which parses every template file at import (~17 ms): the guard loads this module on its
first message, and needs the weights, not the set."""
KERNEL, BANDWIDTH = 1024, 0.45
"""Random Fourier features of the multilingual embedding, and the Gaussian kernel's width
they approximate (`Kernel`)."""
FEATURES = f"ngrams-3-5-words-1-2-b{BITS}-usem{DIMS}-rff{KERNEL}-v3"
"""Names the feature space the weights were trained in; a file for another is refused."""
SIGNAL_NAMES = (*(s[0] for s in SIGNALS), "obfuscated", "spaced_out")
BLOCK_AT = 0.85
"""Fast-tier scores at or above this flag a message: it is blocked when the classifier's
probability reaches `confirm_at`, a lower bar than `threshold`."""
WHOLE = 1200
PIECE, STEP = 600, 300

Floats = npt.NDArray[np.float32]


def joined(text: str, scored: FastScore | None = None) -> str:
    """Every reading of `text` (folded, de-obfuscated, decoded), one per line."""
    readings = scored.readings if scored is not None and scored.readings else views(text)
    return "\n".join(readings)


def pieces(text: str) -> list[str]:
    """`text` whole, or in overlapping pieces when it is long."""
    if len(text) <= WHOLE:
        return [text]
    return [text[i : i + PIECE] for i in range(0, len(text) - PIECE + STEP, STEP)]


def scored_whole(text: str, scored: FastScore | None = None) -> bool:
    """Whether the classifier scores `text` in one piece. A fast-tier flag on a longer
    message needs only a low bar to block (`InjectionClassifier.long_confirm_at`): in
    pieces, an attack's n-grams are diluted by the text around it, and at `confirm_at`
    the classifier confirmed 12 of 200 attacks padded inside a complaint that the fast
    tier had flagged (tests/guardrails/test_injection.py)."""
    return len(pieces(joined(text, scored))) == 1


def flag_rows(scores: list[FastScore]) -> Floats:
    """The fast tier's signals (1 or 0 each) and its score, one row per message."""
    return np.array(
        [[1.0 if n in s.signals else 0.0 for n in SIGNAL_NAMES] + [s.score] for s in scores],
        dtype=np.float32,
    ).reshape(len(scores), len(SIGNAL_NAMES) + 1)


@dataclass(frozen=True, slots=True)
class Kernel:
    """Random Fourier features (Rahimi and Recht, 2007) of the multilingual embedding: a
    linear weight on `features` approximates a Gaussian-kernel machine on it, so the
    classifier can weigh regions of the embedding (an attack's translations, a kind of
    customer message) that no single direction separates.

    Why: in the trainer's cross-validation by family, 74.1 % of attacks caught at the
    0.5 % FPR budget with these features against 72.8 % without, run side by side on the
    same data; on the embedding alone the gap is wider (`benchmarks/injection_kernel.py`,
    BENCHMARKS.md issue 10). Drawn once from a fixed seed at training and saved with the
    weights, so scoring never depends on numpy's random generator staying the same."""

    projection: Floats
    phase: Floats

    @classmethod
    def drawn(cls, seed: int = 0, width: float = BANDWIDTH) -> Kernel:
        rng = np.random.default_rng(seed)
        projection = rng.normal(0.0, 1.0 / width, (DIMS, KERNEL)).astype(np.float32)
        return cls(projection, rng.uniform(0.0, 2 * np.pi, KERNEL).astype(np.float32))

    def features(self, embedding: Floats) -> Floats:
        """Each row of `embedding`, then its `KERNEL` waves (unit length on average)."""
        waves = np.cos(embedding @ self.projection + self.phase)
        return np.hstack([embedding, waves * np.float32(np.sqrt(2.0 / KERNEL))])


@dataclass(frozen=True, slots=True)
class InjectionClassifier:
    ngram_weights: Floats
    dense_weights: Floats
    flag_weights: Floats
    bias: float
    threshold: float
    kernel: Kernel
    confirm_at: float = 0.0
    """The probability at which the classifier confirms a message the fast tier flagged
    (score >= `BLOCK_AT`) and scores whole (`scored_whole`); below it the fast tier's
    block is overruled. 0.0: every flag blocks, as before the seventh session."""
    piece_threshold: float | None = None
    """The threshold for a message scored in pieces, whose most suspicious piece counts:
    the highest of several probabilities calls for a higher bar than one (`threshold`,
    calibrated on messages scored whole, blocked 22 % of ordinary messages padded to 3,000
    characters against 2.5 % at this one). None: `threshold` for every message."""
    long_confirm_at: float = 0.0
    """`confirm_at` for a flagged message scored in pieces, a far lower bar: pieces dilute
    an attack padded into ordinary text, so a flag there may overrule at most a confident
    benign verdict. 0.0, every such flag blocks: the trainer's choice
    (`operating.LONG_CONFIRM_AT`, which says what a higher bar costs)."""
    features: str = FEATURES

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> InjectionClassifier:
        with np.load(path) as data:
            names = str(data["features"]) if "features" in data else "minilm-window"
            if names != FEATURES:
                raise ConfigurationError(
                    f"the injection classifier in {path} was trained on {names!r} features "
                    f"but this Keel computes {FEATURES!r}; retrain it with "
                    "`python -m keel.guardrails.injection.training`"
                )
            return cls(
                data["ngrams"].astype(np.float32),
                data["dense"].astype(np.float32),
                data["flags"].astype(np.float32),
                float(data["bias"]),
                float(data["threshold"]),
                Kernel(data["projection"], data["phase"]),
                float(data["confirm_at"]) if "confirm_at" in data else 0.0,
                float(data["piece_threshold"]) if "piece_threshold" in data else None,
                float(data["long_confirm_at"]) if "long_confirm_at" in data else 0.0,
            )

    def save(self, path: Path = WEIGHTS) -> None:
        arrays: dict[str, Any] = {
            "ngrams": self.ngram_weights.astype(np.float16),
            "dense": self.dense_weights,
            "flags": self.flag_weights,
            "bias": np.float32(self.bias),
            "threshold": np.float32(self.threshold),
            "projection": self.kernel.projection,
            "phase": self.kernel.phase,
            "confirm_at": np.float32(self.confirm_at),
            "long_confirm_at": np.float32(self.long_confirm_at),
            "features": np.str_(self.features),
        }
        if self.piece_threshold is not None:
            arrays["piece_threshold"] = np.float32(self.piece_threshold)
        np.savez_compressed(path, **arrays)

    def logits(self, rows: Sparse, dense: Floats, flags: Floats) -> npt.NDArray[np.float64]:
        return (
            rows.dot(self.ngram_weights)
            + dense @ self.dense_weights
            + flags @ self.flag_weights
            + self.bias
        )

    def confirms(self, probability: float, whole: bool) -> bool:
        """Whether `probability` confirms a fast-tier flag on a message scored `whole`
        (`scored_whole`) or in pieces."""
        return probability >= (self.confirm_at if whole else self.long_confirm_at)

    def threshold_for(self, text: str, scored: FastScore | None = None) -> float:
        """`threshold`, or `piece_threshold` where `text` is scored in pieces."""
        if self.piece_threshold is None or scored_whole(text, scored):
            return self.threshold
        return self.piece_threshold

    def dense(self, texts: list[str]) -> Floats:
        """The multilingual embedding of each text and its kernel features."""
        return self.kernel.features(multilingual().embed(texts))

    def probability(self, text: str, scored: FastScore) -> float:
        """The probability that `text` is an injection: its most suspicious piece's.

        Each piece of a long message carries the fast tier's signals *of that piece*: the
        whole message's signals, repeated on every piece, added up the faint cues of
        many ordinary paragraphs: out of fold, 64 % of ~3,000-character benign messages
        were blocked that way, 23.5 % with each piece's own (BENCHMARKS.md issue 10)."""
        parts = pieces(joined(text, scored))
        rows, dense = stack([hashed(p) for p in parts]), self.dense(parts)
        fast = [scored] if len(parts) == 1 else [fast_score(p) for p in parts]
        return float(1.0 / (1.0 + np.exp(-self.logits(rows, dense, flag_rows(fast)).max())))
