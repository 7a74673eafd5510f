"""Numbered SQL migrations, read from `migrations/<backend>/NNNN_name.sql`.

Written by hand rather than with Alembic: the core install stays free of SQLAlchemy, and
applying ordered SQL files once each, recorded in `keel_schema`, is all stores need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Migration", "load_migrations", "split_statements"]

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(backend: str) -> list[Migration]:
    """All migrations shipped for `backend`, oldest first."""
    folder = resources.files("keel.storage") / "migrations" / backend
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {backend} migrations share a version number: {versions}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split a script into statements at `;` line ends; `--` comment lines are dropped.

    Migration files therefore keep one statement per `;`-terminated line group (no
    trigger bodies with inner `;` at a line end).
    """
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements
