"""The long training families (`data/long_*.txt`): they parse, every message is long,
and none of them shares a family with the held-out test split."""

from __future__ import annotations

from keel.guardrails.injection.corpus import (
    LONG_ATTACKS,
    LONG_BENIGN,
    load_split,
    long_examples,
)


def test_the_long_files_parse_into_named_families() -> None:
    for pairs, least in ((LONG_ATTACKS, 50), (LONG_BENIGN, 80)):
        assert len(pairs) >= least
        families = {family for family, _ in pairs}
        assert all(family.startswith("long-") for family in families)
        assert all(template.strip() for _, template in pairs)
        assert len(families) >= 15


def test_every_long_message_is_long_after_slot_filling() -> None:
    splits = long_examples()
    examples = [e for split in splits.values() for e in split]
    assert set(splits) == {"train", "validation"}
    assert len(examples) == 3 * (len(LONG_ATTACKS) + len(LONG_BENIGN))
    assert all(len(str(e["text"])) >= 800 for e in examples)
    for pairs in (LONG_ATTACKS, LONG_BENIGN):
        assert all(800 <= len(template) <= 3000 for _, template in pairs)
    assert {e["label"] for e in examples} == {0, 1}
    assert {e["variant"] for e in examples} <= {"plain", "typo"}


def test_no_long_family_is_in_the_test_split() -> None:
    long_families = {f"attack:{f}" for f, _ in LONG_ATTACKS}
    long_families |= {f"benign:{f}" for f, _ in LONG_BENIGN}
    test_families = {str(e["family"]) for e in load_split("test")}
    assert not long_families & test_families


def test_the_long_examples_are_deterministic() -> None:
    assert long_examples() == long_examples()
