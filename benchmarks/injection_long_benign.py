"""How often `InjectionGuard` blocks long benign text from outside its training set.

The injection set is customer messages; this reads long text nobody wrote as a message:
the knowledge tests' support documents, the seed articles about LLM agents (they discuss
prompts, guardrails and injection), and Keel's README, cut into ~2,500-character pieces
every 1,500 characters (at most 60 per source). Every piece is benign, so every block is
a false positive. Run from the repository root:

    .venv/bin/python benchmarks/injection_long_benign.py [SEEDS_DIR]   # ../shared/seeds
"""

from __future__ import annotations

import glob
import sys

from _common import machine_line
from keel.guardrails.injection import InjectionGuard

SOURCES = (
    ("support documents", "tests/knowledge/corpus/*.md"),
    ("seed articles on LLM agents", "{seeds}/*"),
    ("Keel's README", "README.md"),
)


def pieces(pattern: str, size: int = 2500, step: int = 1500, most: int = 60) -> list[str]:
    cut: list[str] = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8", errors="replace") as file:
            text = file.read()
        cut += [text[i : i + size] for i in range(0, max(1, len(text) - 500), step)]
    return cut[:most]


def main() -> None:
    print(machine_line())
    guard = InjectionGuard()
    seeds = sys.argv[1] if len(sys.argv) > 1 else "../shared/seeds"
    for name, source in SOURCES:
        pattern = source.format(seeds=seeds)
        texts = pieces(pattern)
        if not texts:
            print(f"  {name:30} no files at {pattern}")
            continue
        blocked = sum(guard.inspect(t).action == "block" for t in texts)
        share = blocked / len(texts)
        print(f"  {name:30} {len(texts):3} pieces, blocked {blocked:3} ({share:.0%})")


if __name__ == "__main__":
    main()
