"""The long training families (`data/long*_attacks.txt`, `data/long*_benign.txt`): they
parse, every message is long, and none of them shares a family with the held-out test
split."""

from __future__ import annotations

import hashlib
import json

from keel.guardrails.injection.corpus import LONG_ROUNDS, load_split, long_examples

LONG_FILES = [pairs for round_ in LONG_ROUNDS for pairs in round_]


def test_the_long_files_parse_into_named_families() -> None:
    for pairs in LONG_FILES:
        families = {family for family, _ in pairs}
        assert all(family.startswith("long-") for family in families)
        assert all(template.strip() for _, template in pairs)
        assert len(families) >= 15 and len(pairs) >= 2 * len(families)


def test_every_long_message_is_long_after_slot_filling() -> None:
    splits = long_examples()
    examples = [e for split in splits.values() for e in split]
    assert set(splits) == {"train", "validation"}
    assert len(examples) == 3 * sum(len(pairs) for pairs in LONG_FILES)
    assert all(len(str(e["text"])) >= 800 for e in examples)
    for pairs in LONG_FILES:
        assert all(800 <= len(template) <= 3000 for _, template in pairs)
    assert {e["label"] for e in examples} == {0, 1}
    assert {e["variant"] for e in examples} <= {"plain", "typo"}


FIRST_ROUND_SHA256 = "92076126fbac2788a4be0a001910d7d8095dc30b59d49da74b81d88cc1a55410"
"""`long_examples()` before the seventh round was added (fifth session's commit 43baf08)."""


def test_a_new_long_round_leaves_the_earlier_variants_as_they_were() -> None:
    """Each round has its own random stream, so the first round's variants are still the
    ones every earlier model was trained and measured on."""
    first = {
        f"{kind}:{f}"
        for kind, pairs in zip(("attack", "benign"), LONG_ROUNDS[0], strict=True)
        for f, _ in pairs
    }
    kept = {
        name: [e for e in split if e["family"] in first] for name, split in long_examples().items()
    }
    text = json.dumps(kept, ensure_ascii=False, sort_keys=True).encode()
    assert hashlib.sha256(text).hexdigest() == FIRST_ROUND_SHA256


def test_no_long_family_is_in_the_test_split() -> None:
    long_families = {str(e["family"]) for split in long_examples().values() for e in split}
    test_families = {str(e["family"]) for e in load_split("test")}
    assert len(long_families) == sum(len({f for f, _ in pairs}) for pairs in LONG_FILES)
    assert not long_families & test_families


def test_the_long_examples_are_deterministic() -> None:
    assert long_examples() == long_examples()
