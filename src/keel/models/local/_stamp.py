"""The sidecar that lets a verified model file be trusted without hashing it again.

Hashing 491 MB on every start would cost seconds. After a verified assembly a small
`<file>.verified` records the file's size, mtime and sha256; while the file still
matches it, the file is trusted without reading it. Any change to the file (a truncation,
a rewrite) changes its size or mtime, and the file is no longer verified.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["is_verified", "move_verified", "write_stamp"]


def is_verified(model: Path, sha256: str) -> bool:
    """True when `model` exists and matches the stamp of its verified assembly."""
    expected = _stamp_for(model, sha256)
    return expected is not None and _read_stamp(model) == expected


def write_stamp(model: Path, sha256: str) -> None:
    """Record that `model`, as it is now, has this sha256 (checked by the caller)."""
    stamp = _stamp_for(model, sha256)
    target = _stamp_path(model)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(tmp, target)


def move_verified(model: Path, dest: Path) -> None:
    """Rename a verified file and its stamp; the stamp still matches (a rename keeps the
    size and mtime). Raises OSError if either rename fails."""
    os.replace(model, dest)
    os.replace(_stamp_path(model), _stamp_path(dest))


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified")


def _stamp_for(model: Path, sha256: str) -> dict[str, Any] | None:
    try:
        stat = model.stat()
    except OSError:
        return None
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_stamp(model: Path) -> dict[str, Any] | None:
    try:
        data: Any = json.loads(_stamp_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None  # pyright: ignore[reportUnknownVariableType]
