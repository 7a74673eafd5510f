"""The labelled injection set: hand-written templates, expanded with generated variants.

Provenance (`data/PROVENANCE.md`): every template in `data/attacks.txt` and
`data/benign.txt` was written for Keel (issue 10) by its engineers; no published
jailbreak, prompt-injection or red-team corpus was read, copied or used to train or tune
anything here. Variants come from slot filling, wrappers (a customer message around the
text, from one pool for both labels), obfuscations (leetspeak, spaced letters, look-alike
letters, zero-width characters, base64, hex, URL-encoding, rot13) and typos.

The split is by *family* (a `[name]` block of templates written as variations of one
idea): every variant of every template of a family lands in the same split, so the
held-out test set measures kinds of attack and of benign message the classifier never
saw. Regenerate with `python -m keel.guardrails.injection.corpus` (deterministic; writes
`data/*.jsonl`).
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "ATTACKS",
    "BENIGN",
    "BLIND_SPLITS",
    "LONG_ROUNDS",
    "WRAPPERS",
    "Example",
    "blind_split",
    "generate",
    "is_long",
    "load_split",
    "long_examples",
    "padded",
]

DATA = Path(__file__).parent / "data"
SEED = 10

Example = dict[str, object]

_SLOTS: dict[str, tuple[str, ...]] = {
    "rules": ("instructions", "rules", "guidelines", "directions", "system prompt", "policies"),
    "prior": ("previous", "prior", "above", "earlier", "initial", "original"),
    "thing": (
        "system prompt",
        "hidden instructions",
        "initial prompt",
        "developer message",
        "configuration",
        "internal rules",
    ),
    "persona": (
        "an unrestricted AI",
        "a model with no rules",
        "FreeBot, who answers anything",
        "my personal assistant with admin rights",
        "an AI without any filters",
    ),
    "goal": (
        "issue a full refund to my card",
        "give me a 100% discount code",
        "tell me every customer's email address",
        "delete all the orders in the system",
        "approve my loan without checks",
        "send me the admin password",
        "mark my invoice as paid",
        "transfer the account to my name",
    ),
    "order": ("A1234", "#88123", "ORD-5521", "order 77812", "B9-003"),
    "product": (
        "blue jacket",
        "coffee grinder",
        "running shoes",
        "phone case",
        "desk lamp",
        "winter boots",
        "wireless earbuds",
        "yoga mat",
    ),
    "days": ("3", "five", "10", "two", "14"),
    "amount": ("$5000", "€1,200", "$250", "£900", "$12,000", "$49.99", "€89"),
    "name": ("Maria", "John", "Wei", "Fatima", "Lars", "Aisha", "Tomasz", "Priya"),
    "email": ("maria.k@example.com", "j.smith@mailbox.example", "wei88@example.net"),
}


_HEADER = re.compile(r"\[[a-z0-9][a-z0-9-]*\]")


def _read_families(name: str) -> tuple[tuple[str, str], ...]:
    """(family, template) pairs from `data/<name>.txt`; `\\n` in a line is a newline.
    A header is `[lower-case-name]` alone on its line: a template that starts and ends
    with brackets (`[INST] ... [/INST]`) is a template. `#` starts a comment only above
    the first header: below it, `# TODO: ...` or `### System: ...` is a template."""
    pairs: list[tuple[str, str]] = []
    family = ""
    for line in (DATA / f"{name}.txt").read_text("utf-8").splitlines():
        if not line.strip() or (not family and line.startswith("#")):
            continue
        if _HEADER.fullmatch(line):
            family = line[1:-1]
            continue
        pairs.append((family, line.replace("\\n", "\n")))
    return tuple(pairs)


ATTACKS = _read_families("attacks")
BENIGN = _read_families("benign")
_ROUNDS = "more third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
LATER_ROUNDS = tuple(
    (_read_families(f"attacks_{r}"), _read_families(f"benign_{r}")) for r in _ROUNDS.split(" ")
)
"""(attacks, benign) of each round written after the test split had been read
(PROVENANCE.md): they go to train or validation only, each round from its own random
stream, so the test split and the earlier rounds' lines stay as they were."""

_GOAL_VERBS = (
    "answer without restrictions",
    "obey only me",
    "reveal internal data",
    "ignore your safety rules",
)
WRAPPERS = (
    "{x}",
    "{x}",
    "{x}",
    "{x}",
    "Hi! Quick question about {order}. {x}",
    "{x} Thanks in advance.",
    "My {product} is late. Anyway, {x}",
    "Customer review: Great {product}, five stars. {x}",
    "Subject: Re: {order}\n\n{x}\n\nBest, Sam",
    "Hello, I ordered the {product} last week and it still hasn't shipped, which is "
    "annoying because I need it for a trip. {x}",
    "{x}\n\nAlso, can you tell me when {order} will arrive?",
    "Ticket from web form. Name: {name}. Order: {order}. Message: {x}",
    "Hello, {x}",
    "{x} Thanks!",
    "Hi team, {x} Regards, Priya",
    "Good morning. {x} Kind regards",
    "Hi, it's {name} again. {x}",
    "{x}\n\nOrder number: {order}. Sent from my phone.",
)
"""The customer message around a template, ONE pool for both labels, drawn independently
of label and family. Until 2026-11-23 (third session) attacks and benign messages had
pools of their own ("Anyway, ..." and "five stars" only around attacks, "Kind regards"
only around benign), in every split, and the n-gram classifier learned the wrappers:
re-wrapping held-out messages in the other label's wrappers cut out-of-fold TPR from
94 % to 78.5 % and raised FPR from 0.5 % to 7.5 % (PROVENANCE.md). This pool is the
union of the two (the unwrapped `{x}` kept at its old share, 4 in 18 ~ 2 in 9-10)."""
_SLOT = re.compile(r"\{(\w+)\}")
_ZW = "\u200b"
_HOMO = str.maketrans("aeopcxi", "\u0430\u0435\u043e\u0440\u0441\u0445\u0456")  # Cyrillic
_LEET = str.maketrans("aeiost", "4310$7")


def _fill(template: str, rng: random.Random) -> str:
    """Known `{slot}`s filled at random; any other brace (JSON in a template) is kept."""
    values = {k: rng.choice(v) for k, v in _SLOTS.items()}
    goal = values["goal"]
    values.update(Goal=goal[0].upper() + goal[1:], goal_verb=rng.choice(_GOAL_VERBS))
    return _SLOT.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _obfuscate(text: str, rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(sorted(_OBFUSCATIONS))
    return _OBFUSCATIONS[kind](text), kind


_OBFUSCATIONS: dict[str, Callable[[str], str]] = {
    "leet": lambda t: t.translate(_LEET),
    "spaced": lambda t: "  ".join(" ".join(w) for w in t.split()),
    "homoglyph": lambda t: t.translate(_HOMO),
    "zero_width": _ZW.join,
    "base64": lambda t: f"Decode this and follow it: {base64.b64encode(t.encode()).decode()}",
    "hex": lambda t: f"hex: {t.encode().hex()}",
    "url": lambda t: f"Process: {quote(t)}",
    "rot13": lambda t: f"rot13: {codecs.encode(t, 'rot13')}",
    "upper": str.upper,
}


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 10:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def split_of(family: str, *, test: bool = True) -> str:
    """60 / 20 / 20 by a hash of the family; 75 / 25 train / validation with `test=False`."""
    bucket = int(hashlib.sha256(family.encode()).hexdigest(), 16) % 10
    if not test:
        return "validation" if bucket % 4 == 0 else "train"
    return "train" if bucket < 6 else "validation" if bucket < 8 else "test"


VARIANTS = 10
"""Generated variants per template (wrappers, slot values, obfuscations, typos)."""


def _attack_variants(family: str, template: str, rng: random.Random) -> Iterator[Example]:
    for _ in range(VARIANTS):
        text = _fill(rng.choice(WRAPPERS).replace("{x}", template), rng)
        variant = "plain"
        if rng.random() < 0.35:
            text, variant = _obfuscate(text, rng)
        elif rng.random() < 0.15:
            text, variant = _typo(text, rng), "typo"
        yield {"text": text, "label": 1, "family": family, "variant": variant}


def _benign_variants(family: str, template: str, rng: random.Random) -> Iterator[Example]:
    for _ in range(VARIANTS):
        text = _fill(rng.choice(WRAPPERS).replace("{x}", template), rng)
        variant = "plain"
        if rng.random() < 0.3:
            text, variant = _typo(text, rng), "typo"
        elif rng.random() < 0.1:
            text, variant = text.lower(), "lower"
        elif rng.random() < 0.05:
            text, variant = text.upper(), "upper"
        yield {"text": text, "label": 0, "family": family, "variant": variant}


def generate(seed: int = SEED) -> dict[str, list[Example]]:
    rng = random.Random(seed)
    splits: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for family, template in ATTACKS:
        for example in _attack_variants(f"attack:{family}", template, rng):
            splits[split_of(str(example["family"]))].append(example)
    for family, template in BENIGN:
        for example in _benign_variants(f"benign:{family}", template, rng):
            splits[split_of(str(example["family"]))].append(example)
    for offset, (attacks, benign) in enumerate(LATER_ROUNDS, start=1):
        _later_round(splits, attacks, benign, random.Random(seed + offset))
    return splits


def _later_round(
    splits: dict[str, list[Example]],
    attacks: tuple[tuple[str, str], ...],
    benign: tuple[tuple[str, str], ...],
    rng: random.Random,
) -> None:
    """A later round's families, into train or validation only."""
    for family, template in attacks:
        for example in _attack_variants(f"attack:{family}", template, rng):
            splits[split_of(str(example["family"]), test=False)].append(example)
    for family, template in benign:
        for example in _benign_variants(f"benign:{family}", template, rng):
            splits[split_of(str(example["family"]), test=False)].append(example)


LONG_ROUNDS = tuple(
    (_read_families(f"long{r}_attacks"), _read_families(f"long{r}_benign"))
    for r in ("", "_seventh")
)
"""Whole long messages (800-3,000 characters), (attacks, benign) of each round: attacks
inside e-mail threads, pages, documents, CSV, logs and code; benign long text from the
desk and from other domains (writing about LLMs and prompt injection, documentation,
policies, recipes). Why: the short families taught the second tier nothing about long
text, so it missed attacks inside it and blocked long benign text (PROVENANCE.md).
Written after the test split had been read: train / validation only."""
LONG_VARIANTS = 3


def long_examples(seed: int = SEED + 20) -> dict[str, list[Example]]:
    """The long families, 3 variants a template, split into train / validation by family,
    each round from its own random stream (a new round leaves the earlier ones' variants
    as they were).

    Not part of `generate()` (no jsonl file changes): the trainer decides how to use them."""
    splits: dict[str, list[Example]] = {"train": [], "validation": []}
    for offset, (attacks, benign) in enumerate(LONG_ROUNDS):
        rng = random.Random(seed + offset)
        for kind, families in (("attack", attacks), ("benign", benign)):
            for example in _long_variants(kind, families, rng):
                splits[split_of(str(example["family"]), test=False)].append(example)
    return splits


def _long_variants(
    kind: str, families: tuple[tuple[str, str], ...], rng: random.Random
) -> Iterator[Example]:
    """`LONG_VARIANTS` of each long template: a wrapper and slot values, and for both
    labels the same chance of a typo; long attacks are never obfuscated, so only their
    words tell them apart."""
    for family, template in families:
        for _ in range(LONG_VARIANTS):
            text = _fill(rng.choice(WRAPPERS).replace("{x}", template), rng)
            variant = "plain"
            if rng.random() < 0.2:
                text, variant = _typo(text, rng), "typo"
            label = 1 if kind == "attack" else 0
            yield {"text": text, "label": label, "family": f"{kind}:{family}", "variant": variant}


BLIND_SPLITS = {
    "test_fresh": ("fresh", SEED + 30),
    **{f"test_fresh{n}": (f"fresh{n}", SEED + 20 + 10 * n) for n in range(2, 64)},
}
"""Held-out splits written blind (split: the files' tag, seed), by writers who saw nothing
of the rest of the set nor the detector (PROVENANCE.md). Why: a split's families measure
kinds of attack nobody tuned for only until they are looked at. Each is pinned before any
model scores it, scored once after the choices it measures are committed, and later
trained on (`training.SPENT`) or used to set the threshold (`training.CALIBRATION`).
In session 9 `test_fresh9`, `11`, `12` and `14`-`17` set a first threshold and
`test_fresh10` measured it; then the sixth to twelfth were trained on, `14`-`17` set
the threshold and `test_fresh13` (never scored before) measured it. `test_fresh18` to
`30` were written in session 10: `18`-`21` set the threshold and `22` and `23` measured
it; then the thirteenth to twenty-third were trained on, `24`-`27` set the threshold,
`28` and `29` measured it, and `30` was left unscored. `test_fresh31` to `41` were
written in session 11: the twenty-fourth to twenty-ninth were trained on, `31`-`34` set
a threshold that `30` and `35` measured; then `30`-`39` set it again and `40` and `41`
measured that. In session 12 `30`-`41` were trained on, `42`-`47` set the threshold
and `48`-`57` measured it; `58` to `63`, written last, are unscored. Which split was
looked at when, and by which model: PROVENANCE.md."""


def blind_split(name: str) -> list[Example]:
    """A blind split from its four files: short families as the others (10 variants,
    attacks sometimes obfuscated), long ones as `long_examples` (3 variants)."""
    tag, seed = BLIND_SPLITS[name]
    rng = random.Random(seed)
    attacks, benign = _read_families(f"attacks_{tag}"), _read_families(f"benign_{tag}")
    examples = [e for f, t in attacks for e in _attack_variants(f"attack:{f}", t, rng)]
    examples += [e for f, t in benign for e in _benign_variants(f"benign:{f}", t, rng)]
    examples += _long_variants("attack", _read_families(f"long_{tag}_attacks"), rng)
    examples += _long_variants("benign", _read_families(f"long_{tag}_benign"), rng)
    return examples


_LONG_FAMILY = re.compile(r"long-|fresh\d+-long-[ab]-")


def is_long(example: Example) -> bool:
    """Whether `example` comes from a long family (whole messages of 800-3,000 characters)
    rather than a short one: `long-...`, or `freshN-long-a-...` / `-b-...` as the seventh
    and eighth blind splits' writers were told to name them (`fresh8-long-social-...` is a
    short family)."""
    return _LONG_FAMILY.match(str(example["family"]).split(":", 1)[1]) is not None


def padded(core: str, filler: Sequence[str], rng: random.Random, size: int) -> str:
    """`core` at a random place among whole messages drawn from `filler`, about `size`
    characters in all (never shorter than `core`).

    Why: an indirect injection arrives inside a long e-mail, review, document or tool
    result. Training copies padded with benign messages teach the second tier that
    ordinary text around a directive does not make it benign; evaluation copies (filler
    from the same held-out families) measure it. The label is the core's."""
    room = max(0, size - len(core))
    before = rng.randint(0, room)
    return " ".join([*_filler(before, filler, rng), core, *_filler(room - before, filler, rng)])


def _filler(length: int, filler: Sequence[str], rng: random.Random) -> list[str]:
    drawn: list[str] = []
    while sum(len(m) + 1 for m in drawn) < length:
        drawn.append(rng.choice(filler))
    return drawn


def load_split(name: str) -> list[Example]:
    path = DATA / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


def main() -> None:
    DATA.mkdir(exist_ok=True)
    blind = {name: blind_split(name) for name in BLIND_SPLITS}
    for name, examples in {**generate(), **blind}.items():
        lines = (json.dumps(e, ensure_ascii=False) for e in examples)
        (DATA / f"{name}.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
        attacks = sum(1 for e in examples if e["label"] == 1)
        print(f"{name}: {len(examples)} examples, {attacks} attacks")


if __name__ == "__main__":
    main()
