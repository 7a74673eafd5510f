"""Shared fixtures. Every test gets its own KEEL_HOME so nothing touches ~/.keel."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_keel_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("keel-home")
    monkeypatch.setenv("KEEL_HOME", str(home))
    return home
