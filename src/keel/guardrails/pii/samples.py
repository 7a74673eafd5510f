"""Generated PII in customer-like sentences, for measuring recall per kind (tests and
`benchmarks/guardrails.py`). Valid values are built, not copied: card numbers get a Luhn
digit, IBANs their mod-97 check digits, Aadhaar numbers a Verhoeff digit."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from keel.guardrails.pii.checks import luhn_ok, verhoeff_ok
from keel.guardrails.pii.detectors import PiiKind

__all__ = ["Sample", "samples"]


@dataclass(frozen=True, slots=True)
class Sample:
    kind: PiiKind
    value: str
    text: str


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("35", 16)])
    number = _luhn_complete(prefix + _digits(rng, length - len(prefix) - 1))
    sep = rng.choice(["", " ", "-"])
    groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    return sep.join(groups)


_IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "NL": 18, "IT": 27, "BE": 16}


def _iban(rng: random.Random) -> str:
    country = rng.choice(sorted(_IBAN_LENGTHS))
    body = _digits(rng, _IBAN_LENGTHS[country] - 4)
    if country in ("GB", "NL"):
        body = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + body[4:]
    numeric = "".join(str(int(c, 36)) for c in body + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{body}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(1, 665):03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def _aadhaar(rng: random.Random) -> str:
    body = str(rng.randint(2, 9)) + _digits(rng, 10)
    for d in "0123456789":
        if verhoeff_ok(body + d):
            n = body + d
            return f"{n[:4]} {n[4:8]} {n[8:]}"
    raise AssertionError("unreachable")


def _nino(rng: random.Random) -> str:
    a, b = rng.choice("ABCEGHJKLMNPRSTWXYZ"), rng.choice("ABCEGHJKLMNPRSTWXYZ")
    d = _digits(rng, 6)
    return f"{a}{b} {d[:2]} {d[2:4]} {d[4:]} {rng.choice('ABCD')}"


def _national(rng: random.Random) -> str:
    return rng.choice([_aadhaar, _nino, _dni])(rng)


def _dni(rng: random.Random) -> str:
    n = rng.randint(10_000_000, 99_999_999)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def _phone(rng: random.Random) -> str:
    return rng.choice(
        [
            f"+1 {rng.randint(201, 989)} {_digits(rng, 3)} {_digits(rng, 4)}",
            f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}",
            f"+49 30 {_digits(rng, 8)}",
            f"+33 6 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
            f"+91 {rng.randint(70000, 99999)} {_digits(rng, 5)}",
            f"({rng.randint(201, 989)}) {_digits(rng, 3)}-{_digits(rng, 4)}",
            f"+81-3-{_digits(rng, 4)}-{_digits(rng, 4)}",
        ]
    )


def _email(rng: random.Random) -> str:
    name = rng.choice(["jane.doe", "m.rossi", "kim_lee+shop", "o.brien", "zhang.wei88"])
    return f"{name}@{rng.choice(['example.com', 'mail.co.uk', 'firma.de', 'uni.edu'])}"


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _address(rng: random.Random) -> str:
    street = rng.choice(["Baker", "Elm", "Maple Grove", "King", "Old Mill", "Sunset"])
    kind = rng.choice(["Street", "St.", "Avenue", "Road", "Lane", "Drive", "Boulevard"])
    return f"{rng.randint(1, 9999)} {street} {kind}"


def _dob(rng: random.Random) -> str:
    y, m, d = rng.randint(1940, 2008), rng.randint(1, 12), rng.randint(1, 28)
    months = ["January", "March", "June", "October", "December"]
    return rng.choice(
        [f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d} {rng.choice(months)} {y}"]
    )


def _secret(rng: random.Random) -> str:
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    def rand(n: int) -> str:
        return "".join(rng.choice(alnum) for _ in range(n))

    return rng.choice(
        [
            "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
            "ghp_" + rand(36),
            "sk_live_" + rand(24),
            "sk-proj-" + rand(40),
            "xoxb-" + _digits(rng, 12) + "-" + rand(24),
            "AIza" + rand(35),
        ]
    )


_TEMPLATES: dict[PiiKind, tuple[Callable[[random.Random], str], tuple[str, ...]]] = {
    "EMAIL": (_email, ("Please reply to {} about my order.", "my email is {}")),
    "PHONE": (_phone, ("Call me on {} after 5pm.", "phone: {}")),
    "CARD": (_card, ("I paid with card {} yesterday.", "card number {} was charged twice")),
    "IBAN": (_iban, ("Refund to IBAN {} please.", "my account {} ")),
    "SSN": (_ssn, ("My SSN is {}.", "ssn {} for the tax form")),
    "NATIONAL_ID": (_national, ("My ID number is {}.", "national id {} attached")),
    "IP": (_ip, ("I logged in from {} last night.", "the server at {} is down")),
    "ADDRESS": (_address, ("Ship it to {}, please.", "I live at {} now")),
    "DOB": (_dob, ("I was born on {}.", "Date of birth: {}", "DOB {}")),
    "SECRET": (_secret, ("here is my api key {} for the integration", "token={}")),
}


def samples(kind: PiiKind, n: int, *, seed: int = 0) -> Iterator[Sample]:
    rng = random.Random(f"{kind}:{seed}")
    make, templates = _TEMPLATES[kind]
    for _ in range(n):
        value = make(rng)
        yield Sample(kind, value, rng.choice(templates).format(value))
