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

from keel.guardrails.injection.patterns import PatternSet, compile_pattern

__all__ = ["MAX_CHARS", "despace", "encodable", "fold", "views", "views_spaced"]

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
_NOT_A_TO_Z = bytes(c for c in range(256) if not ord("a") <= c <= ord("z"))
_SEP_INSIDE = re.compile(r"[.\-_*/](?<=\S.)(?=\S)")  # the class first: re's fast prefix scan
_OTHER_SPACE = re.compile(r"([^\S ]+)")
_SPACE_RUN = re.compile(r"( {2,})")
_LEETY = compile_pattern(r"[a-z][0134579@$!|+]+[a-z]")  # "3rd" or "5pm" is no leet
_LONG_TOKEN = compile_pattern(r"[A-Za-z0-9+/=_\-]{16}")
_CONTROL_BYTES = bytes([*range(0x09), *range(0x0B, 0x20), 0x7F])
_ASCII_LETTERS_SPACES = bytes(c for c in range(128) if chr(c).isalpha() or chr(c).isspace())
_B64 = compile_pattern(r"[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX = compile_pattern(r"\b(?:[0-9a-fA-F]{2}[ :]?){8,}")
_PAYLOAD_KINDS = PatternSet([_B64.pattern, _HEX.pattern])
_URL = re.compile(r"%[0-9a-fA-F]{2}")
_UESC = re.compile(r"(?:\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}){3,}")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
"""Combining marks (accents split off by NFKD): one regex pass, not a loop per character."""
_ROT13_WORDS = ("gur ", " lbh", " naq ", " vf ", " gb ", "lbhe ", "ehyrf", "ahyr", "vtaber", "rot")
"""The commonest English words (and "rules", "ignore") as rot13 writes them, or a mention
of rot13 itself: only then is a rot13 reading worth a pass over the text."""
_CUES = PatternSet([_LEETY.pattern, "|".join(_ROT13_WORDS), _SPACED.pattern])
_ROT13 = str.maketrans("abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm")
_PROBES = {chars: PatternSet([chars.pattern]) for chars in (_INVISIBLE, _COMBINING, _CONFUSABLE)}
"""The same classes as RE2 sets, to find out whether a text has any at all (`_may_have`)."""


def fold(text: str) -> str:
    """NFKC, invisible characters out, look-alikes to Latin, lower case, spaces squeezed."""
    if len(text) > MAX_CHARS:
        half = MAX_CHARS // 2
        text = text[:half] + " " + text[-half:]
    if text.isascii():  # the common case: only control characters can hide here
        return _fold_ascii(text)
    text = unicodedata.normalize("NFKC", text)
    if _may_have(_INVISIBLE, text):
        text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKD", text)
    if _may_have(_COMBINING, text):
        text = _COMBINING.sub("", text)
    text = text.casefold()
    if _may_have(_CONFUSABLE, text):
        text = _CONFUSABLE.sub(_look_alike, text)
    if text.isprintable() and not ("  " in text or text[:1] == " " or text[-1:] == " "):
        return text  # only single spaces (the rest of whitespace is unprintable): as is
    return " ".join(text.split())


def _may_have(chars: re.Pattern[str], text: str) -> bool:
    """Whether `text` may hold one of `chars` (always, without RE2). Most texts have none,
    and an RE2 set pass that says so (~7 µs on 2,000 characters) is about half an `re`
    scan of a class of ranges, so the `re` pass that would remove nothing is skipped."""
    found = _PROBES[chars].matching(text)
    return found is None or bool(found)


def _fold_ascii(text: str) -> str:
    """`fold` of ASCII text, as bytes: `bytes.translate` deletes the control characters in
    one C loop (the regex class scan cost ~10 µs on 2,000 characters), and split/join,
    which builds a string per word (~30 µs), runs only where whitespace is not already
    single spaces. Tabs and newlines are the only whitespace left once controls are gone."""
    raw = text.encode("ascii").translate(None, _CONTROL_BYTES).lower()
    raw = raw.replace(b"\n", b" ").replace(b"\t", b" ")
    if b"  " in raw or raw.startswith(b" ") or raw.endswith(b" "):
        raw = b" ".join(raw.split())
    return raw.decode("ascii")


def _look_alike(match: re.Match[str]) -> str:
    return _LOOKALIKE[match.group()]


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> str:
    """`text` with any lone surrogate replaced by U+FFFD. JSON can carry one (`"\\ud800"`
    decodes to it), and RE2 and the hashed n-grams encode the text, which raised on it."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def views(text: str) -> list[str]:
    """The readings of `text` worth matching, the plain folded one first."""
    return views_spaced(text)[0]


def views_spaced(text: str) -> tuple[list[str], bool]:
    """`views(text)`, and whether the plain reading is `spaced_out` (found on the way)."""
    text = encodable(text)
    base = fold(text)
    out = [base]
    leet, rot13, spaced = _cues(base)
    if leet:
        out.append(base.translate(_LEET))
    if rot13:  # rot13 English: read it, else skip the pass
        out.append(base.translate(_ROT13))
    if spaced:  # letters spelled out: one space inside words, more between
        out.append(fold(despace(text)))
    if _maybe_encoded(text):
        out.extend(decoded(text))
    return out, spaced


def _cues(base: str) -> tuple[bool, bool, bool]:
    """Whether the folded text has leetspeak, rot13 words, spaced-out letters: one RE2
    `Set` pass for the three (~4 µs on 2,000 characters; the three scans cost ~27)."""
    found = _CUES.matching(base)
    if found is None:  # no RE2
        rot13 = any(w in base for w in _ROT13_WORDS)
        return _LEETY.search(base) is not None, rot13, _SPACED.search(base) is not None
    return 0 in found, 1 in found, 2 in found


def despace(text: str) -> str:
    """Every separator between two non-spaces taken out: `re.sub(r"(?<=\\S)[ .\\-_*/](?=\\S)",
    "", text)`, which was ~90 µs on ordinary text (a match per space between words), done
    in two passes. A separator next to whitespace stays, so a removed "." or "-" never
    touches a space and the passes cannot change each other's neighbours: first the
    separators other than the space (few), then the single spaces between words, by
    `str.replace` in each stretch between other whitespace (a printable text has none)."""
    text = _SEP_INSIDE.sub("", text)
    parts = [text] if text.isprintable() else _OTHER_SPACE.split(text)
    parts[::2] = [_join_words(part) for part in parts[::2]]
    return "".join(parts)


def _join_words(stretch: str) -> str:
    """Single spaces out of a stretch whose only whitespace is spaces; runs of two or
    more stay, and so do spaces at either end (next to other whitespace, or the end)."""
    core = stretch.strip(" ")
    if " " not in core:
        return stretch
    lead = stretch[: len(stretch) - len(stretch.lstrip(" "))]
    trail = stretch[len(lead) + len(core) :]
    if "  " not in core:
        return lead + core.replace(" ", "") + trail
    parts = _SPACE_RUN.split(core)
    parts[::2] = [part.replace(" ", "") for part in parts[::2]]
    return lead + "".join(parts) + trail


def spaced_out(folded: str) -> bool:
    """Whether the text spells words out letter by letter (i g n o r e)."""
    return _SPACED.search(folded) is not None


def squash(folded: str) -> str:
    """Letters only: spaced-out words joined back (word gaps are lost too). Deleting the
    other bytes of the UTF-8 keeps exactly a-z (a character outside ASCII is bytes >= 0x80
    only): one C loop, where `re.sub(r"[^a-z]+", "", folded)` was a match per word gap."""
    raw = folded.encode("utf-8", "surrogatepass")
    return raw.translate(None, _NOT_A_TO_Z).decode("ascii")


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
    kinds = _PAYLOAD_KINDS.matching(text)  # one RE2 pass: is there base64, hex at all?
    for match in _B64.finditer(text) if kinds is None or 0 in kinds else ():
        if (plain := _b64(match.group())) is not None:
            out.append(plain)
    for match in _HEX.finditer(text) if kinds is None or 1 in kinds else ():
        if (plain := _hex(match.group())) is not None:
            out.append(plain)
    return out[:MAX_DECODED]


def _printable(raw: bytes) -> str | None:
    try:
        plain = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if raw.isascii():  # letters and whitespace counted by deleting them, in C
        letters = len(raw) - len(raw.translate(None, _ASCII_LETTERS_SPACES))
    else:
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
