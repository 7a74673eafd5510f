"""presidio-analyzer's pattern recognizers, mapped to Keel's PII kinds, for a side-by-side
recall figure in `guardrails.py`. Bench-only: Keel does not depend on presidio.

Only pattern recognizers are used (no spaCy model: `nlp_artifacts=None`, so presidio's
context words do not raise scores); a span counts when presidio reports a mapped entity
covering the sample's value, at any score. Kinds presidio has no pattern recognizer for
(street addresses, API keys) are "n/a".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Keel kind -> presidio recognizer class names (all pattern-based, no NLP model).
RECOGNIZERS: dict[str, tuple[str, ...]] = {
    "EMAIL": ("EmailRecognizer",),
    "PHONE": ("PhoneRecognizer",),
    "CARD": ("CreditCardRecognizer",),
    "IBAN": ("IbanRecognizer",),
    "SSN": ("UsSsnRecognizer",),
    "IP": ("IpRecognizer",),
    "DOB": ("DateRecognizer",),
    "NATIONAL_ID": (
        "UkNinoRecognizer",
        "CaSinRecognizer",
        "InAadhaarRecognizer",
        "EsNifRecognizer",
        "EsNieRecognizer",
    ),
}


@dataclass
class PresidioFinder:
    recognizers: dict[str, list[Any]]

    def covers(self, kind: str) -> bool:
        return kind in self.recognizers

    def names(self, kind: str) -> str:
        return ", ".join(RECOGNIZERS.get(kind, ())) or "none (no pattern recognizer)"

    def found(self, kind: str, text: str, start: int, end: int) -> bool:
        for recognizer in self.recognizers[kind]:
            results = recognizer.analyze(text, recognizer.supported_entities, None)
            if any(r.start <= start and r.end >= end for r in results):
                return True
        return False


def presidio_finder() -> PresidioFinder | None:
    """The recognizers, or None when presidio-analyzer is not installed."""
    try:
        import tldextract  # pyright: ignore[reportMissingImports]  # bench-guardrails extra
        from presidio_analyzer import (  # pyright: ignore[reportMissingImports]
            predefined_recognizers,
        )
    except ImportError:
        return None
    # The email recognizer validates domains with tldextract, which would fetch the public
    # suffix list over the network; use the snapshot bundled with tldextract instead.
    offline = tldextract.TLDExtract(suffix_list_urls=())
    tldextract.extract = offline  # type: ignore[assignment]
    return PresidioFinder(
        {
            kind: [getattr(predefined_recognizers, name)() for name in names]
            for kind, names in RECOGNIZERS.items()
        }
    )
