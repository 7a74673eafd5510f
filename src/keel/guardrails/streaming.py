"""Output guardrails on a stream: text is held back to a safe boundary (the end of a
sentence or a line), checked, then released, rewritten or replaced.

What is held back is never shown once a guardrail blocks: the client sees the text
released before, then the polite reply, and nothing after. While a parallel input
guardrail is undecided, everything is held.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from keel.context import RunContext
from keel.guardrails.base import CheckReport, check_all

if TYPE_CHECKING:
    from keel.guardrails.middleware import Guardrails

__all__ = ["hold_back", "safe_boundary"]

MAX_HELD = 1_000
"""Past this many characters without a sentence end, text is cut at the last space."""

_SENTENCE_END = re.compile(r"[.!?;:\n][\"')\]]*\s")


def safe_boundary(text: str) -> int:
    """How much of `text` can be checked and released now (0: hold it all)."""
    ends = list(_SENTENCE_END.finditer(text))
    if ends:
        return ends[-1].end()
    if len(text) > MAX_HELD:
        space = text.rfind(" ")
        return space + 1 if space > 0 else len(text)
    return 0


async def hold_back(
    owner: Guardrails,
    ctx: RunContext,
    chunks: AsyncIterator[str],
    guard: asyncio.Task[CheckReport] | None,
) -> AsyncIterator[str]:
    buffer, shown_reply = "", False
    async for chunk in chunks:
        if shown_reply:
            continue  # blocked: the rest is drained and never shown
        buffer += chunk
        if guard is not None:
            if not guard.done():
                continue
            if guard.result().action == "block":
                shown_reply = True
                yield owner.reply
                continue
            guard = None
        cut = safe_boundary(buffer) if owner.output else len(buffer)
        if cut:
            piece, buffer = buffer[:cut], buffer[cut:]
            released = await _release(owner, ctx, piece)
            shown_reply = released is None
            yield owner.reply if released is None else released
    if not shown_reply:
        async for text in _finish(owner, ctx, buffer, guard):
            yield text


async def _finish(
    owner: Guardrails, ctx: RunContext, buffer: str, guard: asyncio.Task[CheckReport] | None
) -> AsyncIterator[str]:
    if guard is not None and (await guard).action == "block":
        yield owner.reply
        return
    if buffer:
        released = await _release(owner, ctx, buffer)
        yield owner.reply if released is None else released


async def _release(owner: Guardrails, ctx: RunContext, piece: str) -> str | None:
    """The piece as it may be shown, or None when an output guardrail blocked it."""
    if not owner.output:
        return piece
    report = await check_all(owner.output, piece, ctx)
    if report.action == "block":
        owner.mark_stream_blocked(ctx, report, "stream")
        return None
    return report.text
