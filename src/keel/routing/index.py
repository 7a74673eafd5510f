"""The embedding index behind a router: example vectors per route, scores, and
leave-one-out calibration of each route's threshold.

Scoring is "mean of the k nearest examples" of each route (k=1: nearest example; a
large k approaches the centroid) or the route's centroid. Calibration scores every
example against its own route *without itself* — what an unseen message that should go
there would score — and puts the threshold at a low quantile of those scores, raised to
clear the out-of-scope examples when there are some.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from keel.exceptions import MissingExtraError

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:  # pragma: no cover - the core install has no numpy
    raise MissingExtraError("keel.routing", "embeddings") from exc

__all__ = ["Method", "RouteIndex"]

Method = Literal["nearest", "centroid"]
Vectors = npt.NDArray[np.float32]


@dataclass(slots=True)
class RouteIndex:
    names: list[str]
    vectors: Vectors
    """All examples, route after route (rows L2-normalised)."""
    owner: npt.NDArray[np.int64]
    """Row → route index."""
    method: Method = "nearest"
    k: int = 1

    @classmethod
    def build(
        cls, names: list[str], groups: Sequence[Vectors], method: Method, k: int
    ) -> RouteIndex:
        owner = np.concatenate([np.full(len(g), i, dtype=np.int64) for i, g in enumerate(groups)])
        return cls(names, np.vstack(groups).astype(np.float32), owner, method, k)

    def scores(self, query: Vectors) -> npt.NDArray[np.float64]:
        """Per route, for each query row: shape (queries, routes)."""
        sims = query @ self.vectors.T
        return self._aggregate(sims, exclude=None)

    def _aggregate(
        self, sims: npt.NDArray[np.float32], exclude: npt.NDArray[np.int64] | None
    ) -> npt.NDArray[np.float64]:
        out = np.empty((sims.shape[0], len(self.names)), dtype=np.float64)
        for r in range(len(self.names)):
            cols = sims[:, self.owner == r].astype(np.float64)
            if exclude is not None:  # leave one out: a row never matches itself
                mask = self.owner == r
                positions = np.cumsum(mask) - 1
                for i, row in enumerate(exclude):
                    if row >= 0 and mask[row]:
                        cols[i, positions[row]] = np.nan
            out[:, r] = self._reduce(cols)
        return out

    def _reduce(self, cols: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if self.method == "centroid":
            return np.nanmean(cols, axis=1)  # mean cosine to the examples ∝ cosine to centroid
        filled = np.where(np.isnan(cols), -np.inf, cols)
        k = min(self.k, cols.shape[1] - 1 if np.isnan(cols).any() else cols.shape[1])
        top = -np.sort(-filled, axis=1)[:, : max(k, 1)]
        return top.mean(axis=1)

    def leave_one_out(self) -> npt.NDArray[np.float64]:
        """Each example's scores with itself left out: shape (examples, routes)."""
        sims = self.vectors @ self.vectors.T
        return self._aggregate(sims, exclude=np.arange(len(self.vectors), dtype=np.int64))

    def calibrate(self, quantile: float, outside: Vectors | None) -> list[float]:
        """One threshold per route from leave-one-out scores (see the module doc)."""
        loo = self.leave_one_out()
        foreign = None if outside is None or not len(outside) else self.scores(outside)
        thresholds: list[float] = []
        for r in range(len(self.names)):
            own = loo[self.owner == r, r]
            value = float(np.quantile(own, quantile))
            if foreign is not None:
                value = max(value, float(np.quantile(foreign[:, r], 1 - quantile)))
            thresholds.append(value)
        return thresholds
