"""Each durable-run test starts with no refunds recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import pg_database
from tests.runs.support import POSTGRES, REFUNDS

__all__ = ["pg_database"]


@pytest.fixture(autouse=True)
def _no_refunds() -> None:
    REFUNDS.clear()


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a module's tests against both backends (`pytestmark = usefixtures(...)`)."""
    if request.param == "postgres":
        POSTGRES.append(request.getfixturevalue("pg_database"))
    yield request.param
    POSTGRES.clear()
