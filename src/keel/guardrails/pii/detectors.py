"""The PII detectors: a pattern finds candidates, a check (a checksum, a range) keeps the
real ones. Order is priority: where two matches overlap, the earlier detector wins (a
card number is not also a phone number)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from keel.guardrails.pii.checks import dni_ok, iban_ok, ip_ok, luhn_ok, verhoeff_ok
from keel.guardrails.pii.secrets import SECRET_PATTERNS

__all__ = ["DETECTORS", "Detector", "PiiKind"]

PiiKind = Literal[
    "SECRET",
    "EMAIL",
    "IBAN",
    "CARD",
    "SSN",
    "NATIONAL_ID",
    "DOB",
    "IP",
    "PHONE",
    "ADDRESS",
]


@dataclass(frozen=True, slots=True)
class Detector:
    kind: PiiKind
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    group: int | str = 0
    """The group holding the value (the rest of the match is context, kept)."""


def _phone_ok(text: str) -> bool:
    return 7 <= sum(c.isdigit() for c in text) <= 15


def _card_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 13 <= digits <= 19 and luhn_ok(text)


_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
)
_DOB_CONTEXT = r"(?:born(?:\s+on)?|birth\s*date|date\s+of\s+birth|d\.?o\.?b\.?|birthday(?:\s+is)?)"
_STREET = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl"
    r"|terrace|square|sq|close|crescent|parkway|pkwy|highway|hwy|circle|cir)"
)
_UNIT = r"(?:,?\s+(?:apt|apartment|suite|ste|unit|flat|#)\.?\s*[A-Za-z0-9-]+)?"
_WORD = r"[A-Z][A-Za-z'\-]+"

_I = re.IGNORECASE
DETECTORS: tuple[Detector, ...] = (
    Detector(
        "SECRET",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]{0,8000}?-----END [A-Z ]*PRIVATE KEY-----"
        ),
    ),
    *(Detector("SECRET", p, group=g) for p, g in SECRET_PATTERNS),
    Detector("EMAIL", re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")),
    Detector("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b"), iban_ok),
    Detector("CARD", re.compile(r"(?<![\d\-])\d(?:[ \-]?\d){12,18}(?![\d\-])"), _card_ok),
    Detector(
        "SSN",
        re.compile(r"\b(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}\b"),
    ),
    Detector(  # UK National Insurance number
        "NATIONAL_ID",
        re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
    ),
    Detector("NATIONAL_ID", re.compile(r"\b\d{3}[ \-]\d{3}[ \-]\d{3}\b"), luhn_ok),  # CA SIN
    Detector("NATIONAL_ID", re.compile(r"\b[2-9]\d{3} \d{4} \d{4}\b"), verhoeff_ok),  # Aadhaar
    Detector("NATIONAL_ID", re.compile(r"\b(?:\d{8}|[XYZ]\d{7})-?[A-Z]\b"), dni_ok),  # ES
    Detector(
        "DOB",
        re.compile(rf"\b{_DOB_CONTEXT}\s*(?:is|was|:|-)?\s*(?:on\s+)?(?P<date>{_DATE})", _I),
        group="date",
    ),
    Detector("IP", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)"), ip_ok),
    Detector(
        "IP",
        re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])"),
        ip_ok,
    ),
    Detector(
        "PHONE",
        re.compile(
            r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?"
            r"\d{1,5}(?:[\s.\-]?\d{2,5}){1,4}(?!\w)"
        ),
        _phone_ok,
    ),
    Detector(
        "PHONE",
        re.compile(r"(?<![\w+])(?:\(\d{2,5}\)\s?|\d{2,5}[\s.\-])\d{3,4}[\s.\-]?\d{3,4}(?![\w\-])"),
        _phone_ok,
    ),
    Detector(
        "ADDRESS",
        re.compile(rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_WORD}\s+){{1,4}}{_STREET}\b\.?{_UNIT}", _I),
    ),
    Detector(  # continental style: Hauptstraße 5, Rue de Rivoli 12 is below
        "ADDRESS",
        re.compile(
            r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|weg|gasse|platz|allee)\s+\d{1,4}[a-z]?\b"
        ),
    ),
    Detector(
        "ADDRESS",
        re.compile(
            r"\b\d{1,4},?\s+(?:rue|avenue|boulevard|place|calle|via|viale)\s+(?:\w+\s?){1,4}", _I
        ),
    ),
    Detector(  # UK postcode
        "ADDRESS", re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2}\b")
    ),
)
