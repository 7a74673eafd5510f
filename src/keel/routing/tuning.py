"""Choosing a router's k, quantile and margin by cross-validation on training data only.

A held-out split says how well a router does only if nothing about the router was
chosen by looking at it. `cross_validate` splits the labelled *training* messages into
stratified folds; for each candidate `Setting` it builds a router from all but one fold
(the route examples and, when the setting says so, the out-of-scope examples) and scores
the left-out fold: a message is right when the router alone sends it to its label, or —
for an out-of-scope message (label None) — when no route takes it confidently. Every
message is embedded once, so a grid of a few hundred settings takes seconds.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from keel.embeddings import Embedder
from keel.embeddings.base import Vectors
from keel.routing.index import Method
from keel.routing.router import SemanticRouter
from keel.routing.routes import Route

__all__ = ["Fitted", "Setting", "choose_setting", "cross_validate", "grid"]

Labelled = tuple[str, str | None]
"""A message and the route it belongs to; None: out of scope (no route should take it)."""


@dataclass(frozen=True, slots=True)
class Setting:
    """The router's hyperparameters (see `SemanticRouter`)."""

    method: Method = "nearest"
    k: int = 3
    quantile: float = 0.05
    margin: float = 0.02
    use_out_of_scope: bool = False
    """Give the out-of-scope training examples to the router (they raise thresholds)."""

    def router(
        self, routes: Sequence[Route], out_of_scope: Sequence[str], embedder: Embedder
    ) -> SemanticRouter:
        return SemanticRouter(
            routes,
            embedder=embedder,
            method=self.method,
            k=self.k,
            quantile=self.quantile,
            margin=self.margin,
            out_of_scope=out_of_scope if self.use_out_of_scope else (),
        )


@dataclass(frozen=True, slots=True)
class Fitted:
    """A setting's cross-validated score: `balanced` is the mean of the per-label
    accuracies (every label counts alike), `per_label` has each one."""

    setting: Setting
    balanced: float
    per_label: Mapping[str, float]


def grid(
    ks: Iterable[int] = (1, 3, 5, 7, 9, 11, 15),
    quantiles: Iterable[float] = (0.0, 0.02, 0.05, 0.1, 0.15),
    margins: Iterable[float] = (0.0, 0.01, 0.02, 0.04),
) -> list[Setting]:
    """Nearest-k and centroid, each with every quantile and margin, with and without the
    out-of-scope examples."""
    shapes: list[tuple[Method, int]] = [("nearest", k) for k in ks]
    shapes.append(("centroid", 1))
    return [
        Setting(method, k, q, m, oos)
        for (method, k), q, m, oos in itertools.product(shapes, quantiles, margins, (False, True))
    ]


def cross_validate(
    labelled: Sequence[Labelled],
    descriptions: Mapping[str, str],
    settings: Sequence[Setting],
    embedder: Embedder,
    folds: int = 5,
) -> list[Fitted]:
    """Every setting's score over `folds` stratified folds, best first."""
    vectors = _Precomputed(embedder, [*descriptions.values(), *(t for t, _ in labelled)])
    assignment = _folds(labelled, folds)
    fitted = [
        _score(
            setting,
            labelled=labelled,
            descriptions=descriptions,
            assignment=assignment,
            folds=folds,
            embedder=vectors,
        )
        for setting in settings
    ]
    return sorted(fitted, key=lambda f: f.balanced, reverse=True)


def choose_setting(
    labelled: Sequence[Labelled],
    descriptions: Mapping[str, str],
    embedder: Embedder,
    settings: Sequence[Setting] | None = None,
) -> Fitted:
    """The best setting of `grid()` (or `settings`) by cross-validation on `labelled`."""
    return cross_validate(labelled, descriptions, settings or grid(), embedder)[0]


def _folds(labelled: Sequence[Labelled], folds: int) -> list[int]:
    """Stratified and fixed by the texts: each label's messages, ordered by their hash,
    dealt round-robin into the folds."""
    assignment = [0] * len(labelled)
    counters: dict[str | None, int] = {}
    order = sorted(
        range(len(labelled)), key=lambda i: hashlib.sha256(labelled[i][0].encode()).digest()
    )
    for i in order:
        label = labelled[i][1]
        assignment[i] = counters.get(label, 0) % folds
        counters[label] = counters.get(label, 0) + 1
    return assignment


def _score(
    setting: Setting,
    *,
    labelled: Sequence[Labelled],
    descriptions: Mapping[str, str],
    assignment: Sequence[int],
    folds: int,
    embedder: Embedder,
) -> Fitted:
    right: dict[str, int] = {}
    seen: dict[str, int] = {}
    for fold in range(folds):
        train = [x for x, f in zip(labelled, assignment, strict=True) if f != fold]
        routes = [
            Route(name, text, [t for t, label in train if label == name])
            for name, text in descriptions.items()
        ]
        outside = [t for t, label in train if label is None]
        router = setting.router(routes, outside, embedder)
        for (text, label), f in zip(labelled, assignment, strict=True):
            if f == fold:
                key = label or "out_of_scope"
                seen[key] = seen.get(key, 0) + 1
                right[key] = right.get(key, 0) + (router.classify(text).route == label)
    per_label = {key: right[key] / seen[key] for key in seen}
    return Fitted(setting, sum(per_label.values()) / len(per_label), per_label)


class _Precomputed:
    """The embedder's vectors of a fixed set of texts, looked up: cross-validation builds
    hundreds of routers over the same messages."""

    def __init__(self, embedder: Embedder, texts: Sequence[str]) -> None:
        unique = list(dict.fromkeys(texts))
        self._rows = dict(zip(unique, embedder.embed(unique), strict=True))
        self.dimensions = embedder.dimensions
        self.name = embedder.name

    def embed(self, texts: Sequence[str]) -> Vectors:
        import numpy as np

        return np.stack([self._rows[t] for t in texts]).astype(np.float32, copy=False)
