"""The labelled customer-support messages the desk's router is built and measured on.

Written by hand for Keel (issue 9) — see `data/README.md` for provenance. Each message
is in exactly one split: `heldout` when the first byte of its SHA-256 is below 64 (about a
quarter, fixed by the text alone), `train` otherwise. Routes are built from `train` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["LABELS", "ROUTE_LABELS", "Labelled", "load_intents"]

ROUTE_LABELS = ("orders", "returns", "product", "billing")
LABELS = (*ROUTE_LABELS, "out_of_scope")
Split = Literal["train", "heldout"]


@dataclass(frozen=True, slots=True)
class Labelled:
    text: str
    label: str
    split: Split


def _split(text: str) -> Split:
    return "heldout" if hashlib.sha256(text.encode()).digest()[0] < 64 else "train"


def load_intents(split: Split | None = None) -> list[Labelled]:
    folder = resources.files("keel.examples.support_desk") / "data"
    found: list[Labelled] = []
    for label in LABELS:
        text = (folder / f"intents_{label}.txt").read_text(encoding="utf-8")
        for line in text.splitlines():
            if line.strip():
                found.append(Labelled(line.strip(), label, _split(line.strip())))
    return [x for x in found if split in (None, x.split)]
