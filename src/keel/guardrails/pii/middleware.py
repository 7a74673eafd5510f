"""`RedactPII`: PII is replaced by per-session placeholders before the model sees it.

- Input: each piece of PII becomes `<KIND_n>`; the real value goes to the encrypted
  vault. The redacted text is what is stored, traced and logged: the raw value is never
  recorded anywhere but the vault.
- Tool calls: tools named in `reveal_to` get the real values in their arguments (a
  view for that one call; the recorded call keeps the placeholders); other tools see
  placeholders. Tool results are redacted the same way before the model reads them.
- Output: placeholders of the kinds in `restore` are put back in the reply (the user
  gave those values); others stay as placeholders. Streamed text is restored too,
  holding back a placeholder cut between two chunks.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import replace
from typing import Any, cast

from keel.context import RunContext
from keel.events import GuardrailTripped
from keel.guardrails.pii import PiiKind, find_pii
from keel.guardrails.pii.vault import PiiVault
from keel.messages import Message, TextPart, ToolResultPart
from keel.middleware.base import Middleware, Respond, ToolCall, ToolHandler

__all__ = ["RedactPII"]

_PLACEHOLDER = re.compile(r"<([A-Z_]+)_(\d+)>")
_PARTIAL = re.compile(r"<[A-Z_0-9]{0,24}$")


class RedactPII(Middleware):
    def __init__(
        self,
        vault: PiiVault,
        *,
        kinds: Collection[PiiKind] | None = None,
        reveal_to: Mapping[str, Collection[PiiKind]] | Collection[str] = (),
        restore: Collection[PiiKind] = ("EMAIL", "PHONE", "ADDRESS"),
        redact_tool_results: bool = True,
    ) -> None:
        self.vault, self.kinds = vault, kinds
        self.reveal_to = _reveal_map(reveal_to)
        self.restore, self.redact_tool_results = frozenset(restore), redact_tool_results

    async def redact(self, ctx: RunContext, text: str, stage: str) -> str:
        matches = find_pii(text, kinds=self.kinds)
        if not matches:
            return text
        parts: list[str] = []
        cursor = 0
        for match in matches:
            placeholder = await self.vault.placeholder(
                ctx.principal.tenant_id, _scope(ctx), match.kind, match.value
            )
            parts += [text[cursor : match.start], placeholder]
            cursor = match.end
        kinds = sorted({m.kind for m in matches})
        ctx.emit(GuardrailTripped(ctx, self.name, stage, "modify", 1.0, f"redacted {kinds}"))
        return "".join([*parts, text[cursor:]])

    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        out: list[Message] = []
        for message in messages:
            if message.role == "user" and all(isinstance(p, TextPart) for p in message.parts):
                redacted = await self.redact(ctx, message.text, "input")
                out.append(message if redacted == message.text else Message.user(redacted))
            else:
                out.append(message)
        return out

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        name = call.call.tool_name
        if name in self.reveal_to:
            values = await self._values(call.context, self.reveal_to[name])
            if values:
                arguments = _fill(call.arguments, values)
                call = replace(call, call=replace(call.call, arguments=arguments))
        result = await call_next(call)
        if not self.redact_tool_results or result.is_error:
            return result
        content = await self.redact(call.context, result.content, "tool_result")
        return result if content == result.content else replace(result, content=content)

    async def on_output(self, ctx: RunContext, message: Message) -> Message:
        if not self.restore or message.tool_calls or "<" not in message.text:
            return message
        values = await self._values(ctx, self.restore)
        restored = _restore(message.text, values)
        return message if restored == message.text else Message.assistant(restored)

    def stream_output(self, ctx: RunContext, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        return self._restore_stream(ctx, chunks) if self.restore else chunks

    async def _restore_stream(
        self, ctx: RunContext, chunks: AsyncIterator[str]
    ) -> AsyncIterator[str]:
        values: dict[str, str] | None = None
        held = ""
        async for chunk in chunks:
            held += chunk
            if "<" not in held:
                yield held
                held = ""
                continue
            cut = _PARTIAL.search(held)
            ready, held = (held[: cut.start()], held[cut.start() :]) if cut else (held, "")
            if values is None:
                values = await self._values(ctx, self.restore)
            yield _restore(ready, values)
        if held:
            yield _restore(held, values or await self._values(ctx, self.restore))

    async def _values(self, ctx: RunContext, kinds: frozenset[str] | None) -> dict[str, str]:
        values = await self.vault.values(ctx.principal.tenant_id, _scope(ctx))
        if kinds is None:
            return values
        return {p: v for p, v in values.items() if _kind(p) in kinds}


def _reveal_map(
    reveal_to: Mapping[str, Collection[PiiKind]] | Collection[str],
) -> dict[str, frozenset[str] | None]:
    """tool name → the kinds it may see (None: every kind)."""
    if isinstance(reveal_to, Mapping):
        kinds = cast("Mapping[str, Collection[PiiKind]]", reveal_to)
        return {tool: frozenset(k) for tool, k in kinds.items()}
    return dict.fromkeys(reveal_to)


def _scope(ctx: RunContext) -> str:
    return f"session:{ctx.session_id}" if ctx.session_id else f"run:{ctx.run_id}"


def _kind(placeholder: str) -> str:
    match = _PLACEHOLDER.fullmatch(placeholder)
    return match.group(1) if match else ""


def _restore(text: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(), m.group()), text)


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _restore(value, values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_fill(v, values) for v in value]  # pyright: ignore[reportUnknownVariableType]
    return value
