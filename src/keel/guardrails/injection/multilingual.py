"""The second tier's multilingual signal: a static embedding of each piece of a message,
the mean of per-token vectors distilled from Google's Universal Sentence Encoder
multilingual v3 (16 languages, Apache-2.0; `distill.py` builds the table).

Why: the hashed n-grams learn a language only from families written in it. On the third
blind split, attacks in Portuguese, Chinese, French, German, Russian and Spanish were
caught 30-62 % of the time against ~80 % overall (BENCHMARKS.md issue 10). USE-m maps a
sentence and its translation close together; its token vectors, each encoded alone and
averaged (Model2Vec's recipe), keep much of that: "ignore all previous instructions..." and
its Spanish, Portuguese, Chinese, German and Russian translations sit at cosine 0.75-0.95
(centred, 64 dimensions), unrelated sentences at 0.6-0.7.

Why static and not the encoder itself: its numpy DAN + CNN costs ~6 ms per 600 characters
on this project's 2-core machines, past the 15 ms budget on a 2,000-character message;
a unigram tokenizer in Rust (`tokenizers`, the same vocabulary and scores, which segments
exactly as SentencePiece did on every sentence checked) and a table lookup cost about a
millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

__all__ = ["DIMS", "TABLE", "Multilingual", "multilingual", "unigram"]

TABLE = Path(__file__).parent / "data" / "multilingual.npz"
DIMS = 64
"""Principal components kept of the 512-d distilled vectors: translation pairs stayed as
close as at 128 or 512 (mean cosine 0.87), and int8 at 64 keeps the file near 8 MB."""

BATCH = 64
Floats = npt.NDArray[np.float32]


def unigram(pieces: list[str], scores: list[float]) -> Tokenizer:
    """A SentencePiece-compatible unigram tokenizer over `pieces` and their log-probabilities."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tokenizer = Tokenizer(
        models.Unigram(list(zip(pieces, scores, strict=True)), unk_id=0, byte_fallback=False)
    )
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    return tokenizer


@dataclass(frozen=True, slots=True)
class Multilingual:
    tokenizer: Tokenizer
    vectors: Floats

    @classmethod
    def load(cls, path: Path = TABLE) -> Multilingual:
        with np.load(path) as data:
            pieces = bytes(data["pieces"]).decode().split("\x00")
            vectors = data["vectors"].astype(np.float32) * data["scale"].astype(np.float32)
            return cls(unigram(pieces, data["scores"].tolist()), vectors)

    def embed(self, texts: list[str]) -> Floats:
        """One row per text: the mean of its tokens' vectors, scaled to unit length like
        the n-gram rows, so one learning rate suits both (zeros for no tokens)."""
        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        for i, encoding in enumerate(self._encodings(texts)):
            if encoding.ids:
                mean = self.vectors[encoding.ids].mean(axis=0)
                out[i] = mean / (float(np.linalg.norm(mean)) or 1.0)
        return out

    def _encodings(self, texts: list[str]) -> list[Encoding]:
        """A guard's few pieces on the calling thread (its CPU time is then counted, and it
        takes no core from other requests); training's many in `tokenizers`' thread pool."""
        if len(texts) > BATCH:
            return self.tokenizer.encode_batch(texts)
        return [self.tokenizer.encode(t) for t in texts]


@cache
def multilingual() -> Multilingual:
    """The shipped table, loaded once (~0.4 s) on the second tier's first message."""
    return Multilingual.load()
