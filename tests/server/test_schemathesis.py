"""schemathesis generates requests from the OpenAPI spec: no input gives a 5xx."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from keel.server import create_server
from tests.server.conftest import API_KEY, make_app
from tests.server.conftest import settings as server_settings

_app = make_app(Path(__import__("tempfile").mkdtemp()) / "keel.db")
schema = schemathesis.openapi.from_asgi("/openapi.json", create_server(_app, server_settings()))


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {API_KEY}"})
    case.validate_response(response, checks=[not_a_server_error])
