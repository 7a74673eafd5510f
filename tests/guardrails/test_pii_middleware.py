from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from keel import Agent, InMemorySessionStore, Runner, TextDelta, tool
from keel.guardrails.pii.middleware import RedactPII
from keel.guardrails.pii.vault import PiiVault
from keel.messages import ToolResultPart
from keel.security.crypto import DecryptionError, Encryptor, generate_key
from keel.testing import ScriptedModel, tool_call

EMAIL, CARD = "jane@example.com", "4111 1111 1111 1111"
seen_by_tool: list[str] = []


@tool
def send_receipt(to: str) -> str:
    """Email a receipt."""
    seen_by_tool.append(to)
    return f"sent to {to}"


@tool
def log_note(text: str) -> str:
    """Write a note."""
    seen_by_tool.append(text)
    return "noted"


@pytest.fixture
def vault(tmp_path: Path) -> PiiVault:
    return PiiVault(tmp_path / "vault.db", Encryptor([generate_key()]))


async def test_pii_is_redacted_before_the_model_and_never_stored(
    vault: PiiVault, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [
            tool_call("send_receipt", {"to": "<EMAIL_1>"}),
            tool_call("log_note", {"text": "<EMAIL_1>"}),
            "Sent to <EMAIL_1>, card <CARD_1> noted.",
        ]
    )
    store = InMemorySessionStore()
    guard = RedactPII(vault, reveal_to={"send_receipt": ["EMAIL"]})
    agent = Agent(name="a", model=model, tools=[send_receipt, log_note], middleware=[guard])
    seen_by_tool.clear()
    result = await Runner(session_store=store).run(
        agent, f"mail {EMAIL}, card {CARD}", session_id="s1"
    )
    sent_to_model = " ".join(m.text for m in model.requests[0].messages)
    assert EMAIL not in sent_to_model and CARD not in sent_to_model and "<EMAIL_1>" in sent_to_model
    assert seen_by_tool == [EMAIL, "<EMAIL_1>"]  # only the allowed tool sees the real value
    assert result.output == f"Sent to {EMAIL}, card <CARD_1> noted."  # cards are not restored
    stored = repr(await store.load("s1"))
    assert CARD not in stored
    raw = (tmp_path / "vault.db").read_bytes()
    assert EMAIL.encode() not in raw and b"4111" not in raw  # encrypted at rest


async def test_tool_results_are_redacted_before_the_model_reads_them(vault: PiiVault) -> None:
    @tool
    def lookup() -> str:
        """Look up the customer."""
        return "customer bob@corp.io, phone +44 20 7946 0958"

    model = ScriptedModel([tool_call("lookup"), "ok"])
    agent = Agent(name="a", model=model, tools=[lookup], middleware=[RedactPII(vault)])
    await Runner().run(agent, "who am I")
    [result] = [
        p for m in model.requests[1].messages for p in m.parts if isinstance(p, ToolResultPart)
    ]
    assert "bob@corp.io" not in result.content and "<EMAIL_1>" in result.content


async def test_streamed_replies_restore_placeholders_split_across_chunks(vault: PiiVault) -> None:
    model = ScriptedModel(["I will write to <EMAIL_1> today."])
    agent = Agent(name="a", model=model, middleware=[RedactPII(vault)])
    events = [e async for e in Runner().stream(agent, f"my mail is {EMAIL}")]
    assert (
        "".join(e.text for e in events if isinstance(e, TextDelta))
        == f"I will write to {EMAIL} today."
    )


async def test_the_vault_keeps_tenants_apart_and_reuses_placeholders(vault: PiiVault) -> None:
    a1 = await vault.placeholder("t1", "session:s", "EMAIL", "a@x.io")
    a2 = await vault.placeholder("t1", "session:s", "EMAIL", "a@x.io")
    b = await vault.placeholder("t1", "session:s", "EMAIL", "b@x.io")
    assert (a1, a2, b) == ("<EMAIL_1>", "<EMAIL_1>", "<EMAIL_2>")
    assert await vault.values("t2", "session:s") == {}
    assert (await vault.values("t1", "session:s"))["<EMAIL_2>"] == "b@x.io"


async def test_key_rotation_re_encrypts_every_row(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    path = tmp_path / "v.db"
    await PiiVault(path, Encryptor([old])).placeholder("t", "s", "SSN", "123-45-6789")
    rotating = PiiVault(path, Encryptor([new, old]))
    assert rotating.rotate() == 1
    assert await PiiVault(path, Encryptor([new])).values("t", "s") == {"<SSN_1>": "123-45-6789"}
    with pytest.raises(DecryptionError, match="dropped"):
        await PiiVault(path, Encryptor([old])).values("t", "s")
    with sqlite3.connect(path) as db:
        assert b"123-45" not in repr(db.execute("SELECT * FROM pii_vault").fetchall()).encode()


async def test_raw_pii_never_reaches_the_events_hooks_and_traces_see(vault: PiiVault) -> None:
    model = ScriptedModel([tool_call("send_receipt", {"to": "<EMAIL_1>"}), "Done."])
    guard = RedactPII(vault, reveal_to=["send_receipt"], restore=())
    agent = Agent(name="a", model=model, tools=[send_receipt], middleware=[guard])
    events = [e async for e in Runner().stream(agent, f"send it to {EMAIL}, card {CARD}")]
    assert seen_by_tool[-1] == EMAIL  # the allowed tool got the real value
    assert EMAIL not in repr(events) and CARD not in repr(events)
