"""The audit chain: append-only, and `keel audit verify` finds any manual edit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel import tool
from keel.cli import cli
from keel.settings import data_dir
from keel.tools.gateway import GatewayStore, ToolGateway
from tests.gateway.support import call_once


@tool(read_only=True)
def lookup_order(order_id: str) -> str:
    """Look up an order."""
    return f"{order_id}: shipped"


async def _three_calls() -> Path:
    gateway = ToolGateway()  # the app's default database, as `keel audit` reads it
    for order in ("A1", "A2", "A3"):
        await call_once(gateway, [lookup_order], "lookup_order", {"order_id": order})
    gateway.store.flush()  # written behind: on disk before anyone edits the file
    return data_dir() / "keel.db"


def _edit(path: Path, *statements: str) -> None:
    """What someone with the sqlite3 shell could do: drop the guards, then edit."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def _verify() -> tuple[int, dict[str, object]]:
    done = CliRunner().invoke(cli, ["audit", "verify", "--json"])
    return done.exit_code, json.loads(done.stdout)


async def test_an_untouched_chain_verifies() -> None:
    await _three_calls()
    code, report = _verify()
    assert code == 0 and report["ok"] is True and report["checked"] == 3
    plain = CliRunner().invoke(cli, ["audit", "verify"])
    assert plain.exit_code == 0 and "audit chain intact: 3 entries checked" in plain.stdout


async def test_the_table_refuses_updates_and_deletes() -> None:
    path = await _three_calls()
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET decision = 'denied' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    conn.close()


async def test_a_changed_field_is_found_and_named() -> None:
    path = await _three_calls()
    _edit(path, 'UPDATE audit_log SET arguments = \'{"order_id":"B9"}\' WHERE seq = 2')
    code, report = _verify()
    assert code == 1 and report["ok"] is False
    assert report["problems"] == [{"seq": 2, "problem": "its fields were changed after writing"}]
    plain = CliRunner().invoke(cli, ["audit", "verify"])
    assert plain.exit_code == 1
    assert "audit chain broken: entry 2: its fields were changed after writing" in plain.stderr


async def test_a_deleted_entry_is_found() -> None:
    path = await _three_calls()
    _edit(path, "DELETE FROM audit_log WHERE seq = 2")
    code, report = _verify()
    assert code == 1
    problems = report["problems"]
    assert {"seq": 3, "problem": "the entry before it (2) is missing (deleted)"} in problems  # type: ignore[operator]


async def test_a_cut_off_tail_is_found_by_the_anchor() -> None:
    path = await _three_calls()
    _edit(path, "DELETE FROM audit_log WHERE seq = 3")
    code, report = _verify()
    assert code == 1
    assert report["problems"] == [
        {"seq": None, "problem": "the newest entry should be 3, found 2 (cut)"}
    ]


async def test_a_chain_rebuilt_without_the_key_fails_with_it(tmp_path: Path) -> None:
    keyed = GatewayStore(tmp_path / "a.db", key=b"secret")
    gateway = ToolGateway(store=keyed)
    await call_once(gateway, [lookup_order], "lookup_order", {"order_id": "A1"})
    assert keyed.verify().ok
    assert not GatewayStore(tmp_path / "a.db", key=b"guess").verify().ok


async def test_audit_list_shows_who_did_what() -> None:
    await _three_calls()
    done = CliRunner().invoke(cli, ["audit", "list", "--limit", "2"])
    lines = done.stdout.strip().splitlines()
    assert done.exit_code == 0 and len(lines) == 2
    assert lines[0].split("\t")[0] == "3" and "lookup_order" in lines[0]
    assert "anonymous@default" in lines[0] and "\tallowed\t" in lines[0]
    as_json = json.loads(CliRunner().invoke(cli, ["audit", "list", "--json"]).stdout)
    assert [e["seq"] for e in as_json] == [3, 2, 1]
    assert as_json[0]["arguments"] == '{"order_id":"A3"}'
