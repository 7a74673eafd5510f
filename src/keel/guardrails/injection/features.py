"""The second tier's hashed features: character and word n-grams of every reading the fast
tier made — a few hundred microseconds for a 2,000-character message. (Beside them the
classifier uses the fast tier's signals and a multilingual embedding, `multilingual.py`.)

Why not MiniLM here: on an AVX2-only CPU its int8 matrix products cost ~1 ms of CPU a
token, so even a 40-token window went past the 15 ms budget, and a window that small
misses most of a long message. Character n-grams see through what normalisation left
(typos, split words, other languages), word n-grams carry the phrasing of a directive.
Chosen by cross-validation over families of train + validation (`classifier.py`,
PROVENANCE.md); an English static table distilled from MiniLM lost to them there.

Hashing is numpy arithmetic on code points (a polynomial over each n-gram, mixed, top
bits kept) and CRC-32 for words, never Python's `hash`, which changes per process.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

__all__ = ["BITS", "Sparse", "concat", "hashed", "stack"]

BITS = 18
"""2**18 hashed n-gram slots: a 1 MB weight vector, few collisions at this vocabulary."""
CHAR_SIZES = (3, 4, 5)
_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(64 - BITS)
_WORD = re.compile(r"\w+")
_WORD_SALT = np.uint64(0x9E3779B97F4A7C15)

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


def _slots(h: npt.NDArray[np.uint64]) -> Ints:
    """64-bit hashes mixed (splitmix-style) and cut to `BITS` bits."""
    h = h ^ (h >> np.uint64(31))
    h = h * _MIX
    h = h ^ (h >> np.uint64(29))
    return (h >> _SHIFT).astype(np.int64)


def char_slots(text: str) -> Ints:
    """Hashed character 3-, 4- and 5-grams of `text` padded with a space each side."""
    codes = np.frombuffer(f" {text} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts: list[Ints] = []
    for n in CHAR_SIZES:
        count = len(codes) - n + 1
        if count <= 0:
            continue
        h = np.full(count, n, dtype=np.uint64)
        for k in range(n):
            h = h * _PRIME + codes[k : k + count]
        parts.append(_slots(h))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def word_slots(text: str) -> Ints:
    """Hashed words and word pairs (CRC-32 of each word, pairs combined in numpy)."""
    words = np.fromiter((zlib.crc32(w.encode()) for w in _WORD.findall(text)), dtype=np.uint64)
    if not len(words):
        return np.zeros(0, dtype=np.int64)
    pairs = words[:-1] * _PRIME + words[1:] + np.uint64(1)
    return _slots(np.concatenate([words, pairs]) ^ _WORD_SALT)


def hashed(text: str) -> tuple[Ints, Floats]:
    """Slots and values of `text`'s n-grams: 1 + log(count), scaled to unit length."""
    slots, counts = np.unique(
        np.concatenate([char_slots(text), word_slots(text)]), return_counts=True
    )
    values = (1.0 + np.log(counts)).astype(np.float32)
    norm = float(np.sqrt(values @ values)) or 1.0
    return slots, values / norm


@dataclass(frozen=True, slots=True)
class Sparse:
    """Rows of hashed features (CSR without scipy): row i is `indices[indptr[i]:indptr[i+1]]`."""

    indptr: Ints
    indices: Ints
    data: Floats

    @property
    def rows(self) -> int:
        return len(self.indptr) - 1

    def dot(self, w: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Each row's dot product with the weight vector `w`."""
        products = self.data * w[self.indices]
        sums = np.concatenate([[0.0], np.cumsum(products, dtype=np.float64)])
        return sums[self.indptr[1:]] - sums[self.indptr[:-1]]

    def t_dot(self, g: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """`rows.T @ g`: the gradient of every slot."""
        lengths = np.diff(self.indptr)
        sums = np.bincount(
            self.indices, weights=self.data * np.repeat(g, lengths), minlength=1 << BITS
        )
        return cast("npt.NDArray[np.float64]", sums)  # float with weights; stubs say int

    def take(self, mask: npt.NDArray[np.bool_]) -> Sparse:
        rows = [(int(a), int(b)) for (a, b), m in zip(self._spans(), mask, strict=True) if m]
        return stack([(self.indices[a:b], self.data[a:b]) for a, b in rows])

    def _spans(self) -> list[tuple[int, int]]:
        return list(zip(self.indptr[:-1].tolist(), self.indptr[1:].tolist(), strict=True))


def concat(a: Sparse, b: Sparse) -> Sparse:
    """The rows of `a`, then the rows of `b`."""
    indptr = np.concatenate([a.indptr, b.indptr[1:] + a.indptr[-1]])
    return Sparse(indptr, np.concatenate([a.indices, b.indices]), np.concatenate([a.data, b.data]))


def stack(rows: Sequence[tuple[Ints, Floats]]) -> Sparse:
    lengths = [len(i) for i, _ in rows]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if not rows:
        return Sparse(indptr, np.zeros(0, np.int64), np.zeros(0, np.float32))
    indices = np.concatenate([i for i, _ in rows]).astype(np.int64)
    return Sparse(indptr, indices, np.concatenate([v for _, v in rows]).astype(np.float32))
