"""Where Keel keeps files. Read from the environment when asked, never at import."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_dir"]


def data_dir() -> Path:
    """Databases and other state: `$KEEL_HOME`, else `~/.keel`."""
    return Path(os.environ.get("KEEL_HOME") or Path.home() / ".keel")


def cache_dir() -> Path:
    """Rebuildable files such as assembled model weights: `$KEEL_CACHE`, else `~/.cache/keel`."""
    return Path(os.environ.get("KEEL_CACHE") or Path.home() / ".cache" / "keel")
