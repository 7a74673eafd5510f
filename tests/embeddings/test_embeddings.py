"""The local embedder against figures published for all-MiniLM-L6-v2, and the protocol."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keel.embeddings import (
    Embedder,
    HashEmbedder,
    LocalEmbedder,
    default_embedder,
    int8_embedder,
)
from keel.exceptions import MissingExtraError


def test_matches_the_similarities_published_for_the_model() -> None:
    # sentence-transformers' own README, all-MiniLM-L6-v2: 0.6660, 0.1046, 0.1411.
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    vectors = default_embedder().embed(texts)
    sims = vectors @ vectors.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=0.02)
    assert sims[0, 2] == pytest.approx(0.1046, abs=0.02)
    assert sims[1, 2] == pytest.approx(0.1411, abs=0.02)


def test_rows_are_unit_float32_in_input_order_whatever_the_batching() -> None:
    texts = [f"{'word ' * (i % 7 + 1)}number {i}" for i in range(40)]
    small = LocalEmbedder(batch_size=3).embed(texts)
    whole = default_embedder().embed(texts)
    assert small.shape == (40, 384) and small.dtype == np.float32
    assert np.allclose(np.linalg.norm(small, axis=1), 1.0, atol=1e-5)
    assert np.allclose(small, whole, atol=1e-3)  # padding to a batch changes nothing
    alone = default_embedder().embed([texts[17]])
    assert float(alone[0] @ whole[17]) > 0.999


def test_long_empty_and_unusual_texts_embed() -> None:
    vectors = default_embedder().embed(["", "word " * 5000, "日本語のテキスト", "\x00\ufffd"])
    assert vectors.shape == (4, 384)
    assert np.isfinite(vectors).all()


def test_no_texts_give_an_empty_matrix() -> None:
    assert default_embedder().embed([]).shape == (0, 384)


def test_a_single_string_is_refused_not_split_into_characters() -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        default_embedder().embed("hello")


def test_default_embedder_is_shared_and_satisfies_the_protocol() -> None:
    assert default_embedder() is default_embedder()
    assert isinstance(default_embedder(), Embedder)
    assert isinstance(HashEmbedder(), Embedder)


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_onnx(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(MissingExtraError, match=r"keel\[embeddings\]"):
        LocalEmbedder()


def test_hash_embedder_relates_texts_that_share_words() -> None:
    rows = HashEmbedder(256).embed(["refund for order 42", "order 42 refund", "weather"])
    assert rows[0] @ rows[1] > 0.8 > rows[0] @ rows[2]


def test_one_short_text_on_its_own_session_matches_the_batch() -> None:
    texts = ["where is my parcel", "I was charged twice for one invoice", "hi"]
    whole = default_embedder().embed(texts)
    for i, text in enumerate(texts):
        alone = default_embedder().embed([text])
        assert alone.shape == (1, 384)
        assert float(alone[0] @ whole[i]) > 0.9999


def test_int8_matmul_embedder_is_its_own_space_close_to_the_float_one() -> None:
    texts = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    fast = int8_embedder()
    assert fast is int8_embedder()
    assert fast.name != default_embedder().name  # never compared with float vectors
    vectors = fast.embed(texts)
    assert (vectors * default_embedder().embed(texts)).sum(axis=1).min() > 0.95
    sims = vectors @ vectors.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=0.05)
    assert sims[0, 2] == pytest.approx(0.1046, abs=0.05)
    assert float(fast.embed([texts[1]])[0] @ vectors[1]) > 0.9999


def test_the_int8_model_is_converted_once_into_keel_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEL_CACHE", str(tmp_path))
    fresh = LocalEmbedder(int8_matmul=True)
    [converted] = (tmp_path / "models").glob("minilm-l6-int8-matmul-*.onnx")
    assert [p.name for p in (tmp_path / "models").iterdir()] == [converted.name]  # no temps
    text = ["where is my parcel"]
    assert float(fresh.embed(text)[0] @ int8_embedder().embed(text)[0]) > 0.9999
    stamp = converted.stat().st_mtime_ns
    LocalEmbedder(int8_matmul=True)
    assert converted.stat().st_mtime_ns == stamp  # the second load reads the cached file
