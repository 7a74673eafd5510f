"""The `Embedder` protocol, and `HashEmbedder`: a dependency-free stand-in for unit tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from keel.exceptions import MissingExtraError

try:
    import numpy as np
    import numpy.typing as npt
except ImportError as exc:  # pragma: no cover - the core install has no numpy
    raise MissingExtraError("keel.embeddings", "embeddings") from exc

__all__ = ["Embedder", "HashEmbedder", "Vectors", "WindowedEmbedder", "cosine", "normalize"]

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows of shape (len(texts), dimensions)."""

    @property
    def dimensions(self) -> int: ...

    @property
    def name(self) -> str:
        """Identifies the vector space: vectors of two names are never compared."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


@runtime_checkable
class WindowedEmbedder(Embedder, Protocol):
    """An embedder that reads at most `window` tokens of a text (the knowledge base cuts
    chunks to fit) and can count them."""

    @property
    def window(self) -> int:
        """Tokens of a text it reads, its own special tokens aside; the rest is cut."""
        ...

    def text_tokens(self, texts: Sequence[str]) -> list[int]:
        """Each text's tokens, uncut; for texts joined by whitespace, the sum of theirs."""
        ...


def normalize(rows: npt.NDArray[np.floating]) -> Vectors:
    """Each row scaled to unit length (a zero row stays zero)."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def cosine(a: Vectors, b: Vectors) -> float:
    """The cosine similarity of two unit vectors."""
    return float(np.dot(a.ravel(), b.ravel()))


_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """Bag of hashed words: texts sharing words are similar. For unit tests only — no
    semantics, but deterministic and instant, so tests of stores need no model."""

    def __init__(self, dimensions: int = 64) -> None:
        self._dimensions = dimensions

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def name(self) -> str:
        return f"hash-{self._dimensions}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                rows[i, int.from_bytes(digest, "little") % self._dimensions] += 1.0
        return normalize(rows)
