"""`keel serve` from a config file: validated with errors naming the field, then served."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keel.exceptions import ConfigurationError
from keel.server import load_settings
from tests.server.conftest import API_KEY, spare_port

_APP = "tests.cli_app:app"


def test_a_yaml_config_error_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "keel.yaml"
    path.write_text("port: 80\nqueue:\n  max_active: 0\napi_keys:\n  - sha256: short\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "queue.max_active" in message
    assert "api_keys.0.sha256" in message


def test_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keel.toml"
    path.write_text('hots = "0.0.0.0"\n')
    with pytest.raises(ConfigurationError, match="hots"):
        load_settings(path)


def test_a_config_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keel.json"
    path.write_text("{}")
    with pytest.raises(ConfigurationError, match=r"\.toml, \.yaml"):
        load_settings(path)


def test_keel_serve_runs_from_a_toml_file_and_stops_cleanly(tmp_path: Path) -> None:
    from keel.server import hash_key

    port = spare_port()
    config = tmp_path / "keel.toml"
    config.write_text(
        f'app = "{_APP}"\nport = {port}\n'
        f'[[api_keys]]\nsha256 = "{hash_key(API_KEY)}"\nuser_id = "ops"\n'
    )
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        models = _wait_for(f"http://127.0.0.1:{port}/v1/models", process)
        assert models.status_code == 200
        assert models.json()["data"]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    # uvicorn shuts down gracefully, then re-raises the signal so its parent sees it.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    while True:
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0].decode())
        try:
            return httpx.get(url, headers=headers)
        except httpx.ConnectError:
            time.sleep(0.05)
