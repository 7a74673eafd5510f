"""The fast tier's normalisation takes shortcuts for speed (`normalize.py`); these tests
hold each shortcut to the plain code it replaced, on random text built from the
characters where they could differ (separators, every kind of whitespace, controls,
invisible and combining characters, look-alikes)."""

from __future__ import annotations

import random
import re
import unicodedata

from keel.guardrails.injection import normalize as norm

_DESPACE = re.compile(r"(?<=\S)[ .\-_*/](?=\S)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ALPHABET = [
    *" .-_*/ab\n\t\r\x0b\x0c\x1c\x1f\x00\x7f",
    *"\u00a0\u3000\u2003\u2028\u0085\u200b\ufeff\u00ad\U000e0041",
    *"\u0301\u0308e\u00e9\u0430\u0435\u03bf\u00df\uff49\u0130\u03a3\ufb01\u65e5",
    "  ",
    "word",
]


def _random_texts(n: int, seed: int, *, ascii_only: bool = False) -> list[str]:
    rng = random.Random(seed)
    alphabet = [c for c in _ALPHABET if c.isascii()] if ascii_only else _ALPHABET
    return ["".join(rng.choices(alphabet, k=rng.randint(0, 16))) for _ in range(n)]


def _fold_reference(text: str) -> str:
    if text.isascii():
        return " ".join(_CONTROL.sub("", text).lower().split())
    text = norm._INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = norm._COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()
    text = norm._CONFUSABLE.sub(lambda m: norm._LOOKALIKE[m.group()], text)
    return " ".join(text.split())


def test_despace_removes_what_the_lookaround_regex_removes() -> None:
    for text in _random_texts(20_000, seed=1):
        assert norm.despace(text) == _DESPACE.sub("", text), repr(text)


def test_fold_shortcuts_give_what_the_plain_steps_give() -> None:
    texts = _random_texts(10_000, seed=2) + _random_texts(5_000, seed=3, ascii_only=True)
    for text in texts:
        assert norm.fold(text) == _fold_reference(text), repr(text)


def test_one_cue_pass_says_what_the_three_scans_say() -> None:
    words = ["gur ", " lbh", "ehyrf", "h3ll0", "1 g n o r e", "i.g.n.o.r.e", "rot", "a b", "x"]
    rng = random.Random(4)
    for _ in range(3_000):
        base = norm.fold(" ".join(rng.choices(words, k=rng.randint(0, 5))))
        leet = norm._LEETY.search(base) is not None
        rot13 = any(w in base for w in norm._ROT13_WORDS)
        assert norm._cues(base) == (leet, rot13, norm.spaced_out(base)), base


def test_squash_keeps_exactly_the_letters_a_to_z() -> None:
    for text in _random_texts(5_000, seed=5):
        assert norm.squash(text) == re.sub(r"[^a-z]+", "", text), repr(text)
