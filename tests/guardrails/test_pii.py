from __future__ import annotations

import pytest

from keel.guardrails.pii import PII_KINDS, PiiKind, find_pii, scrub
from keel.guardrails.pii.checks import iban_ok, luhn_ok
from keel.guardrails.pii.samples import samples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mail jane@example.com today", "Mail [EMAIL] today"),
        ("call +44 20 7946 0958 now", "call [PHONE] now"),
        ("or (555) 123-4567", "or [PHONE]"),
        ("card 4111 1111 1111 1111 please", "card [CARD] please"),
        ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN [IBAN]"),
        ("ssn 123-45-6789", "ssn [SSN]"),
        ("NINO AB 12 34 56 C", "NINO [NATIONAL_ID]"),
        ("DNI 12345678Z", "DNI [NATIONAL_ID]"),
        ("from 192.168.1.20 and 2001:db8::1", "from [IP] and [IP]"),
        ("I was born on 12/05/1987", "I was born on [DOB]"),
        ("at 221B Baker Street, apt 4", "at [ADDRESS]"),
        ("key AKIAIOSFODNN7EXAMPLE", "key [SECRET]"),
        ("password: hunter2abc", "password: [SECRET]"),
        ("https://bob:s3cretpw@host/x", "https://bob:[SECRET]@host/x"),
    ],
)
def test_scrub_replaces_each_kind_with_its_placeholder(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Order 12345 cost 99.50 EUR, shipped 2024-01-05.",
        "Version 1.2.3 is out; call 3 times.",
        "I have 4111111111111112 reasons",  # fails Luhn: not a card
        "The meeting is at 10:30:00 in room 12.",
        "My order number is 555-1234-AB.",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_checksums_reject_near_misses() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB83WEST12345698765432")


@pytest.mark.parametrize("kind", PII_KINDS)
def test_recall_on_generated_samples_is_at_least_99_percent(kind: PiiKind) -> None:
    found = 0
    batch = list(samples(kind, 300, seed=7))
    for sample in batch:
        start = sample.text.index(sample.value)
        end = start + len(sample.value)
        found += any(
            m.kind == kind and m.start <= start and m.end >= end for m in find_pii(sample.text)
        )
    assert found / len(batch) >= 0.99


def test_kinds_limit_what_is_scrubbed() -> None:
    assert scrub("jane@example.com 123-45-6789", kinds={"SSN"}) == "jane@example.com [SSN]"


@pytest.mark.parametrize(
    "text",
    [
        "9" * 300_000,
        "1 " * 100_000,
        "a@" * 50_000,
        "\u202e\u200b\x00\x07" * 20_000,
        "+1 (" * 50_000,
        "%2541" * 40_000,
    ],
)
def test_huge_and_hostile_inputs_get_an_answer(text: str) -> None:
    out = scrub(text)
    assert isinstance(out, str) and len(out) <= len(text) + len("[TRUNCATED]")


def test_matches_carry_spans_and_values() -> None:
    text = "write to a@b.io"
    [match] = find_pii(text)
    assert (match.kind, text[match.start : match.end], match.value) == ("EMAIL", "a@b.io", "a@b.io")
