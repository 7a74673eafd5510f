"""Every gateway test starts with fresh process-wide breakers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keel.resilience import reset_breakers


@pytest.fixture(autouse=True)
def _fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()
