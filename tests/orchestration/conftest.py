"""Each durable-run test starts with no refunds recorded."""

from __future__ import annotations

import pytest

from tests.runs.support import REFUNDS


@pytest.fixture(autouse=True)
def _no_refunds() -> None:
    REFUNDS.clear()
