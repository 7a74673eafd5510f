"""`keel kb` as a person or a script uses it: ingest with a report, cited search, JSON,
exit codes, and a damaged index that names the command which repairs it."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keel.cli import cli
from keel.settings import data_dir

CORPUS = Path(__file__).parent / "corpus"
APP = "tests.cli_app:app"


def keel(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_ingest_then_search_with_citations_as_text_and_json(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "errors.md").write_bytes((CORPUS / "errors.md").read_bytes())
    (folder / "empty.txt").write_text("")
    code, out, _ = keel("kb", "ingest", str(folder), "--app", APP)
    assert code == 0
    assert "2 files: 1 ingested (9 chunks), 0 unchanged, 1 skipped" in out
    assert "skipped empty.txt: empty" in out

    code, out, _ = keel("kb", "ingest", str(folder), "--app", APP, "--json")
    assert code == 0 and json.loads(out)["unchanged"] == ["errors.md"]

    code, out, _ = keel("kb", "search", "E-5120", "--k", "1", "--app", APP)
    assert code == 0 and out.startswith("[1] errors.md > Error codes > E-5120 (chunk ")

    code, out, _ = keel("kb", "search", "E-5120", "--app", APP, "--json", "--k", "2")
    data = json.loads(out)
    assert data["hits"][0]["heading"] == "Error codes > E-5120" and not data["found_nothing"]

    code, out, _ = keel("kb", "list", "--app", APP, "--json")
    assert json.loads(out) == [{"document": "errors.md", "chunks": 9}]

    code, out, _ = keel("kb", "search", "E-5120", "--app", APP, "--tenant", "other", "--json")
    assert json.loads(out)["found_nothing"]


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    assert keel("kb", "search", "  ", "--app", APP)[0] == 2
    code, _, err = keel("kb", "search", "refund", "--mode", "fuzzy", "--app", APP)
    assert code == 2 and "mode must be hybrid, text or vector" in err
    code, _, err = keel("kb", "ingest", str(tmp_path / "missing"), "--app", APP)
    assert code == 2 and "no such file or folder" in err


def test_damaged_vectors_name_the_rebuild_command(tmp_path: Path) -> None:
    """The embedded store keeps no index on disk; what can be damaged is a stored vector.
    Rebuild removes the document it belongs to, and the next ingest redoes it."""
    for name in ("errors.md", "refunds.md"):
        assert keel("kb", "ingest", str(CORPUS / name), "--app", APP)[0] == 0
    with sqlite3.connect(data_dir() / "keel.db") as conn:  # a vector cut short
        conn.execute(
            "UPDATE kb_chunks SET embedding = x'0000' WHERE path = 'errors.md' AND ordinal = 2"
        )
    code, _, err = keel("kb", "search", "E-5120", "--app", APP)
    assert code == 1 and "keel kb rebuild" in err
    code, out, _ = keel("kb", "rebuild", "--app", APP)
    assert (
        code == 0
        and out.startswith("rebuilt: ")
        and "errors.md" not in keel("kb", "list", "--app", APP)[1]
    )
    assert keel("kb", "ingest", str(CORPUS / "errors.md"), "--app", APP)[0] == 0
    code, out, _ = keel("kb", "search", "E-5120", "--k", "1", "--app", APP)
    assert code == 0 and "E-5120" in out


def test_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "kb.ingest" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out == "refunds.md | Refunds > Card payments\n"


def test_ingest_with_another_embedder_then_search_and_reembed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "errors.md").write_bytes((CORPUS / "errors.md").read_bytes())
    code, out, _ = keel("kb", "ingest", str(folder), "--app", APP, "--embedder", "static")
    assert code == 0 and "1 ingested (9 chunks)" in out

    code, out, _ = keel("kb", "search", "E-5120", "--k", "1", "--app", APP)  # the recorded one
    assert code == 0 and out.startswith("[1] errors.md > Error codes > E-5120 (chunk ")

    code, _, err = keel("kb", "search", "E-5120", "--app", APP, "--embedder", "minilm")
    assert code == 2 and "keel kb reembed --embedder" in err and "static" in err

    code, out, _ = keel("kb", "reembed", "--embedder", "minilm", "--app", APP, "--json")
    assert code == 0 and json.loads(out) == {"chunks": 9, "embedder": "all-MiniLM-L6-v2-int8"}
    code, out, _ = keel("kb", "search", "E-5120", "--k", "1", "--app", APP, "--embedder", "minilm")
    assert code == 0 and out.startswith("[1] errors.md > Error codes > E-5120 (chunk ")

    code, _, err = keel("kb", "ingest", str(folder), "--app", APP, "--embedder", "bert")
    assert code == 2 and "no local embedder named 'bert'" in err
