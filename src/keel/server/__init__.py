"""`keel serve`: an `App` over HTTP — Keel's own API and an OpenAI-compatible one.

    from keel.server import create_server
    api = create_server(app)            # a FastAPI application; run it with uvicorn

Needs the `server` extra (`pip install 'keel[server]'`).
"""

from __future__ import annotations

import importlib.util

from keel.exceptions import MissingExtraError

if importlib.util.find_spec("fastapi") is None:  # pragma: no cover - depends on the install
    raise MissingExtraError("keel.server", "server")

from keel.server.app import create_server
from keel.server.auth import AllowAnonymous, Authenticator, HashedKeys, hash_key
from keel.server.config import ServerSettings, load_settings

__all__ = [
    "AllowAnonymous",
    "Authenticator",
    "HashedKeys",
    "ServerSettings",
    "create_server",
    "hash_key",
    "load_settings",
]
