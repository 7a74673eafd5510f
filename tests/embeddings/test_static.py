"""The static embedder distilled from MiniLM: deterministic unit vectors that still put
near-duplicates together, a table distilled and fitted once into the cache, vectors
closer to MiniLM's than the distilled table's on text the fit never saw, names that
resolve."""

from __future__ import annotations

from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keel.embeddings import Embedder, default_embedder
from keel.embeddings.base import WindowedEmbedder
from keel.embeddings.named import EMBEDDERS, embedder_named
from keel.embeddings.static import FIT, StaticEmbedder, distilled, fitted, static_embedder
from keel.exceptions import ConfigurationError
from keel.knowledge.chunking import chunk_text

CORPUS = Path(__file__).parents[1] / "knowledge" / "corpus"
TEXTS = [
    "How long does a refund to a card take?",
    "",
    "Ünïcödé, 日本語 and emoji 🙂",
    "word " * 2_000,
    "E-4017",
]


def test_vectors_are_deterministic_unit_float32_whatever_the_batching() -> None:
    embedder = static_embedder()
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([embedder.embed([t])[0] for t in TEXTS])
    assert np.array_equal(vectors, one_by_one)
    assert np.array_equal(vectors, StaticEmbedder().embed(TEXTS))  # a fresh load agrees
    assert embedder.embed([]).shape == (0, 384)
    counted = StaticEmbedder()
    assert counted.text_tokens(TEXTS)[3] == 2_000  # uncut; embed reuses the ids, cut
    assert np.array_equal(counted.embed(TEXTS), vectors)


def test_near_duplicates_score_higher_than_unrelated_texts() -> None:
    rows = static_embedder().embed(
        [
            "Card refunds take five to ten business days to reach the customer.",
            "A refund to a card reaches the customer in five to ten business days.",
            "The warehouse in Lyon ships parcels every morning except Sunday.",
            "Reset the watch by holding both buttons for ten seconds.",
        ]
    )
    sims = rows @ rows.T
    assert sims[0, 1] > 0.8
    assert sims[0, 1] > sims[0, 2] + 0.2 and sims[0, 1] > sims[0, 3] + 0.2


def test_the_table_is_distilled_and_fitted_once_into_keel_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_CACHE", str(tmp_path))
    table = np.random.default_rng(0).normal(size=(30_523, 384)).astype(np.float32)
    calls: list[Any] = []

    def distil(model: Any) -> np.ndarray:
        calls.append(model)
        return table

    monkeypatch.setattr("keel.embeddings.static.distil", distil)
    first = StaticEmbedder().embed(["where is my parcel"])
    saved = sorted((tmp_path / "models").iterdir())  # no temporary files left behind
    assert [p.suffix for p in saved] == [".npy", ".npy"]
    assert all(p.name.startswith("minilm-l6-static-") for p in saved)
    second = StaticEmbedder().embed(["where is my parcel"])
    assert len(calls) == 1 and np.array_equal(first, second)
    rounded = table.astype(np.float16)
    [raw] = [p for p in saved if "-v1-" in p.name]
    [fit] = [p for p in saved if p != raw]
    assert np.array_equal(np.load(raw), rounded)
    shipped = np.load(BytesIO((resources.files("keel.embeddings") / "assets" / FIT).read_bytes()))
    want = fitted(rounded.astype(np.float32), shipped).astype(np.float16)
    assert np.array_equal(np.load(fit), want)


def test_fitted_vectors_are_closer_to_minilm_than_distilled_ones_on_unseen_text() -> None:
    # The knowledge test corpus is not in the fitting corpus (benchmarks/static_fit.py).
    texts = [c.text for p in sorted(CORPUS.glob("*.md")) for c in chunk_text(p.read_text())]
    minilm = default_embedder().embed(texts)
    before = (StaticEmbedder(distilled()).embed(texts) * minilm).sum(axis=1)
    after = (static_embedder().embed(texts) * minilm).sum(axis=1)
    assert after.mean() > before.mean() + 0.05  # 0.55 -> 0.66 when written
    assert (after > before).mean() > 0.8  # most texts, not a few by a lot


def test_local_embedders_are_found_by_short_and_full_name() -> None:
    for short, (full, _) in EMBEDDERS.items():
        embedder = embedder_named(short)
        assert embedder.name == full and embedder_named(full) is embedder
        assert isinstance(embedder, Embedder) and isinstance(embedder, WindowedEmbedder)
    with pytest.raises(ConfigurationError, match="minilm, minilm-int8, static"):
        embedder_named("bert-large")
