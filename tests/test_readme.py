"""Every Python example in the README runs, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


def test_middleware_example_denies_and_the_run_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (block,) = [b for b in BLOCKS if "class NoDeletes" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out == "I've passed it on.\n"


def test_approval_example_suspends_then_completes(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in BLOCKS if "requires_approval=True" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == [
        "suspended [('s1c1', 'refund', {'order_id': 'A1', 'amount': 20.0})]",
        "completed Done.",
    ]


@pytest.mark.local_model
def test_quickstart_runs_on_the_local_model(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in BLOCKS if "get_weather" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed and printed[-1].startswith("Usage(requests=")


def test_gateway_example_falls_back_and_prices_the_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from keel.resilience import reset_breakers

    reset_breakers()
    (block,) = [b for b in BLOCKS if "ModelGateway(" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    # gpt-4o-mini: 200 fresh input at $0.15/M, 1000 cached at $0.075/M, 9 output at $0.60/M
    assert capsys.readouterr().out.splitlines() == [
        "Your order shipped on Monday.",
        "1200 in (1000 cached), $0.000110",
    ]


def test_gateway_example_denies_with_the_reason_and_audits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (block,) = [b for b in BLOCKS if "ToolGateway(policy" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == [
        "not allowed: refunds over 500 go through finance",
        "['denied'] True",
    ]


def test_observability_example_exports_redacted_spans_and_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (block,) = [b for b in BLOCKS if "capture_content=True" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == [
        'invoke_agent desk <- chat scripted [{"role": "assistant", "parts": [{"type": "text", '
        '"content": "Mail sent to [EMAIL]."}]}]',
        "True",
    ]


def test_handoff_example_moves_the_run_to_billing(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in BLOCKS if "transfer_to_billing" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out == "billing ['triage', 'billing']\n"


def test_server_example_answers_natively_and_as_openai(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (block,) = [b for b in BLOCKS if "create_server" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == ["echo: hi", "echo: hey"]


def test_guardrails_example_blocks_redacts_and_filters(capsys: pytest.CaptureFixture[str]) -> None:
    (block,) = [b for b in BLOCKS if "class" not in b and "Guardrails(" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == [
        "Sorry, I can't help with that.",
        "Sorry, I can't help with that. | My card [CARD] was charged twice",
        "Mail [EMAIL] or call [PHONE]",
    ]


def test_fact_extraction_example_supersedes_with_provenance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (block,) = [b for b in BLOCKS if "ExtractFacts(" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.splitlines() == [
        "Lives in Lyon | message 0 | superseded",
        "Lives in Berlin | message 2 | current",
    ]
