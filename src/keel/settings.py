"""Where Keel keeps files. Read from the environment when asked, never at import."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_dir", "variable_for"]


def data_dir() -> Path:
    """Databases and other state: `$KEEL_HOME`, else `~/.keel`."""
    return Path(os.environ.get("KEEL_HOME") or Path.home() / ".keel")


def cache_dir() -> Path:
    """Rebuildable files such as assembled model weights: `$KEEL_CACHE`, else `~/.cache/keel`."""
    return Path(os.environ.get("KEEL_CACHE") or Path.home() / ".cache" / "keel")


def variable_for(path: Path) -> str | None:
    """`KEEL_HOME` or `KEEL_CACHE` when `path` is that folder, inside it, or on the way to
    it (a parent that could not be created); else None. Error messages name the fix."""
    path = path.absolute()
    folders = (("KEEL_HOME", data_dir().absolute()), ("KEEL_CACHE", cache_dir().absolute()))
    for variable, folder in folders:
        if path.is_relative_to(folder) or folder.is_relative_to(path):
            return variable
    return None
