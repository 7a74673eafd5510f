"""PostgreSQL for tests: one database per test session (unique name, dropped at the end)
on the local server, and a schema per store path, so each test starts empty."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SERVER = "postgresql://postgres@127.0.0.1:5432"


def create_database() -> str:
    name = f"keel_i12_{os.getpid()}_{os.urandom(3).hex()}"
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def schema_url(database: str, key: str) -> str:
    """A URL whose connections see only the schema named after `key` (created here)."""
    schema = "s_" + hashlib.sha1(key.encode()).hexdigest()[:16]
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    return f"{SERVER}/{database}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = create_database()
    yield name
    drop_database(name)


def app_module(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`module:app` naming an importable App on `url` (agents `echo` and `other`), for
    CLI commands that take `--app`."""
    module = f"pgapp_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(
        "from keel import Agent, App\n"
        f"app = App(agents=[Agent(name='echo', model='test:echo'),"
        f" Agent(name='other', model='test:echo')], database={url!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{module}:app"
