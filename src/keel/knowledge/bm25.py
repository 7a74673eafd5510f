"""`TermIndex`: BM25 over one tenant's chunks, in memory, as numpy postings.

Why not SQLite FTS5: its `bm25()` runs for every row a query matches, and the tenant
filter reads each matched row's content to check it. Natural-language queries joined
with OR match a third of a 100k-chunk store, so one query cost ~100 ms of CPU. Here a
term's postings are a slice of two arrays (chunk position, precomputed BM25 weight), so a
query is a few slices, one `bincount` and one `argpartition`: a few ms at 100k chunks.
The index is built from the stored chunks when a tenant's generation changes, like the
vector matrix beside it (`SQLiteKnowledgeStore`), and is never stored, so it cannot be
damaged on disk.

Scores follow FTS5's `bm25()` (k1 1.2, b 0.75, the heading counted twice, IDF
`log((N - n + 0.5) / (n + 0.5))` floored at 1e-6), so fusion sees the same scale as
before. Words are runs of letters and digits, lower-cased, with accents removed, as
FTS5's `unicode61 remove_diacritics` tokenizer makes them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["TermIndex", "words"]

K1, B, HEADING_WEIGHT = 1.2, 0.75, 2.0
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The index's words of `text` (queries go through the same function)."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(text.lower())


@dataclass(frozen=True, slots=True)
class TermIndex:
    vocabulary: dict[str, int]
    starts: npt.NDArray[np.int64]
    """Term t's postings are positions[starts[t]:starts[t + 1]] (and weights alike)."""
    positions: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]
    counts: npt.NDArray[np.float32]
    """Each posting's weighted term frequency, kept so `extended` need not re-tokenize."""
    lengths: npt.NDArray[np.float64]
    """Words per chunk, by position."""

    @property
    def size(self) -> int:
        return len(self.lengths)

    @classmethod
    def build(cls, chunks: Iterable[tuple[str, str]]) -> TermIndex:
        """Index (heading, text) pairs; a chunk's position is its place in `chunks`."""
        return _EMPTY.extended(np.zeros(0, dtype=bool), chunks)

    def extended(self, keep: npt.NDArray[np.bool_], chunks: Iterable[tuple[str, str]]) -> TermIndex:
        """This index without the chunks whose `keep` is False, then `chunks` after the
        rest: after a write only the new chunks are tokenized (weights are recomputed,
        since every IDF and the average length move)."""
        vocabulary = dict(self.vocabulary)
        live = keep[self.positions]
        term_of = np.repeat(np.arange(len(self.vocabulary)), np.diff(self.starts))
        remap = np.cumsum(keep) - 1
        terms, owners, counts, lengths = _tokenize(chunks, vocabulary, int(keep.sum()))
        return _weigh(
            vocabulary,
            np.concatenate([term_of[live], np.asarray(terms, dtype=np.int64)]),
            np.concatenate([remap[self.positions[live]], np.asarray(owners, dtype=np.int64)]),
            np.concatenate([self.counts[live], np.asarray(counts, dtype=np.float32)]),
            np.concatenate([self.lengths[keep], np.asarray(lengths, dtype=np.float64)]),
        )

    def search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(position, BM25 score) of the best `k` chunks holding any of `terms`."""
        slots = {self.vocabulary[w] for t in terms for w in words(t) if w in self.vocabulary}
        if not slots or k < 1:
            return []
        spans = [slice(self.starts[s], self.starts[s + 1]) for s in sorted(slots)]
        where = np.concatenate([self.positions[s] for s in spans])
        scores = np.bincount(
            where, weights=np.concatenate([self.weights[s] for s in spans]), minlength=self.size
        )
        k = min(k, int(np.count_nonzero(scores)))
        if not k:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # ties: the earlier chunk first
        return [(int(p), float(scores[p])) for p in top]


def _tokenize(
    chunks: Iterable[tuple[str, str]], vocabulary: dict[str, int], first: int
) -> tuple[list[int], list[int], list[float], list[int]]:
    """Postings (word id, position, weighted count) and lengths of `chunks`, numbered
    from position `first`; new words are added to `vocabulary`."""
    terms: list[int] = []
    owners: list[int] = []
    counts: list[float] = []
    lengths: list[int] = []
    for position, (heading, text) in enumerate(chunks, first):
        head, body = words(heading), words(text)
        tally: dict[str, float] = dict(Counter(body))
        for word in head:
            tally[word] = tally.get(word, 0.0) + HEADING_WEIGHT
        terms.extend(vocabulary.setdefault(w, len(vocabulary)) for w in tally)
        owners.extend([position] * len(tally))
        counts.extend(tally.values())
        lengths.append(len(head) + len(body))
    return terms, owners, counts, lengths


def _weigh(
    vocabulary: dict[str, int],
    term: npt.NDArray[np.int64],
    owner: npt.NDArray[np.int64],
    counts: npt.NDArray[np.float32],
    length: npt.NDArray[np.float64],
) -> TermIndex:
    """BM25 weight of every posting, postings grouped by word."""
    size = len(length)
    order = np.argsort(term, kind="stable")
    term, owner, counts = term[order], owner[order], counts[order]
    frequency = np.bincount(term, minlength=len(vocabulary))
    idf = np.log((size - frequency + 0.5) / (frequency + 0.5))
    idf[idf <= 0] = 1e-6  # FTS5's floor: a word in most chunks still counts a little
    norm = K1 * (1 - B + B * length / max(float(length.mean()) if size else 1.0, 1e-9))
    tf = counts.astype(np.float64)
    weight = idf[term] * tf * (K1 + 1) / (tf + norm[owner])
    starts = np.zeros(len(vocabulary) + 1, dtype=np.int64)
    np.cumsum(frequency, out=starts[1:])
    return TermIndex(
        vocabulary, starts, owner.astype(np.int32), weight.astype(np.float32), counts, length
    )


_EMPTY = TermIndex(
    {},
    np.zeros(1, dtype=np.int64),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.float32),
    np.zeros(0, dtype=np.float32),
    np.zeros(0, dtype=np.float64),
)
