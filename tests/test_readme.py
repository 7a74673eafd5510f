"""Every Python example in the README runs, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


def test_hook_example_stops_the_refund(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in BLOCKS if "class NoRefunds" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out == "stopped: refunds need a person's approval\n"


@pytest.mark.local_model
def test_quickstart_runs_on_the_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in BLOCKS if "get_weather" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed and printed[-1].startswith("Usage(requests=")
