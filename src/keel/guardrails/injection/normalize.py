"""Undo the obfuscations attackers use so that patterns see the plain words.

`views(text)` returns the text as a reader would understand it, in several readings:
NFKC-folded with zero-width, bidi and control characters removed and look-alike letters
mapped to Latin; with leetspeak undone; with spaced-out letters joined; and any payload
hidden as base64, hex, URL-encoding or unicode escapes, decoded, and the rot13 reading (nested up to
`MAX_DEPTH` levels). Every step is linear in the input and the input is capped, so a
hostile message gets an answer in bounded time.

The confusables table is a short hand-made one (Cyrillic and Greek letters that look
Latin, fullwidth forms are handled by NFKC): the full Unicode table would cost a
dependency and a lookup per character for letters attackers rarely use.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from urllib.parse import unquote

from keel.guardrails.injection.patterns import compile_pattern

__all__ = ["MAX_CHARS", "fold", "views"]

MAX_CHARS = 20_000
"""Only the first and last `MAX_CHARS // 2` characters of a longer text are read."""
MAX_DEPTH = 3
MAX_DECODED = 8

_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0"
    "\U000e0000-\U000e007f]"  # the last: tag characters
)
"""Control, zero-width, bidi and tag characters, removed with one regex pass: `str.translate`
with a dict cost ~250 µs on 2,000 non-ASCII characters, this class of ranges ~25 µs (a class
of 170 single characters is as slow as the dict)."""
_LOOKALIKE = dict(
    zip("аеорсхуіјѕԁһӏԛԝᴀвнкмтӧαεορτυνκιχßɡɑ", "aeopcxyijsdhlqwabhkmtoaeoptuvkixbga", strict=True)
)
_CONFUSABLE = re.compile(f"[{''.join(_LOOKALIKE)}]")
"""Look-alikes replaced where the regex finds them: cost per look-alike, not per character."""
_LEET = str.maketrans("013457@$!|+", "oieastasiit")
_SPACED = compile_pattern(r"\b[a-z][ .\-_*/]{1,3}[a-z][ .\-_*/]{1,3}[a-z][ .\-_*/]{1,3}[a-z]\b")
_NON_LETTER = re.compile(r"[^a-z]+")
_DESPACE = re.compile(r"(?<=\S)[ .\-_*/](?=\S)")
_LEETY = compile_pattern(r"[a-z][0134579@$!|+]+[a-z]")  # "3rd" or "5pm" is no leet
_LONG_TOKEN = compile_pattern(r"[A-Za-z0-9+/=_\-]{16}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_B64 = compile_pattern(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX = compile_pattern(r"\b(?:[0-9a-fA-F]{2}[ :]?){8,}")
_URL = re.compile(r"%[0-9a-fA-F]{2}")
_UESC = re.compile(r"(?:\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}){3,}")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
"""Combining marks (accents split off by NFKD): one regex pass, not a loop per character."""
_ROT13_WORDS = ("gur ", " lbh", " naq ", " vf ", " gb ", "lbhe ", "ehyrf", "ahyr", "vtaber", "rot")
"""The commonest English words (and "rules", "ignore") as rot13 writes them, or a mention
of rot13 itself: only then is a rot13 reading worth a pass over the text."""
_ROT13 = str.maketrans("abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm")


def fold(text: str) -> str:
    """NFKC, invisible characters out, look-alikes to Latin, lower case, spaces squeezed."""
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = text[:half] + " " + text[-half:]
    if text.isascii():  # the common case: only control characters can hide here
        if _CONTROL.search(text):
            text = _CONTROL.sub("", text)
        return " ".join(text.lower().split())  # ~3x a regex sub over every space
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text)).casefold()
    return " ".join(_CONFUSABLE.sub(_look_alike, text).split())


def _look_alike(match: re.Match[str]) -> str:
    return _LOOKALIKE[match.group()]


def views(text: str) -> list[str]:
    """The readings of `text` worth matching, the plain folded one first."""
    base = fold(text)
    out = [base]
    if _LEETY.search(base):
        out.append(base.translate(_LEET))
    if any(w in base for w in _ROT13_WORDS):  # rot13 English: read it, else skip the pass
        out.append(base.translate(_ROT13))
    if _SPACED.search(base):  # letters spelled out: one space inside words, more between
        out.append(fold(_DESPACE.sub("", text)))
    if _maybe_encoded(text):
        out.extend(decoded(text))
    return out


def spaced_out(folded: str) -> bool:
    """Whether the text spells words out letter by letter (i g n o r e)."""
    return _SPACED.search(folded) is not None


def squash(folded: str) -> str:
    """Letters only: spaced-out words joined back (word gaps are lost too)."""
    return _NON_LETTER.sub("", folded)


def _maybe_encoded(text: str) -> bool:
    return "%" in text or "\\" in text or _LONG_TOKEN.search(text) is not None


def decoded(text: str, depth: int = 0) -> list[str]:
    """Payloads hidden inside `text`, decoded, folded; nested ones too."""
    if depth >= MAX_DEPTH:
        return []
    found: list[str] = []
    for payload in _payloads(text[:MAX_CHARS]):
        found.append(fold(payload))
        found.extend(decoded(payload, depth + 1))
        if len(found) >= MAX_DECODED:
            break
    return found[:MAX_DECODED]


def _payloads(text: str) -> list[str]:
    out: list[str] = []
    if "%" in text and len(_URL.findall(text, 0, 4000)) >= 3:
        out.append(unquote(text))
    if "\\" in text and _UESC.search(text):
        out.append(_unescape(text))
    for match in _B64.finditer(text):
        if (plain := _b64(match.group())) is not None:
            out.append(plain)
    for match in _HEX.finditer(text):
        if (plain := _hex(match.group())) is not None:
            out.append(plain)
    return out[:MAX_DECODED]


def _printable(raw: bytes) -> str | None:
    try:
        plain = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    letters = sum(c.isalpha() or c.isspace() for c in plain)
    return plain if plain and letters / len(plain) > 0.7 else None


def _b64(chunk: str) -> str | None:
    chunk = chunk.replace("-", "+").replace("_", "/")
    try:
        return _printable(base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


def _hex(chunk: str) -> str | None:
    try:
        return _printable(bytes.fromhex(re.sub(r"[ :]", "", chunk)))
    except ValueError:
        return None


def _unescape(text: str) -> str:
    return re.sub(
        r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})",
        lambda m: chr(int(m.group(1) or m.group(2), 16)),
        text,
    )
