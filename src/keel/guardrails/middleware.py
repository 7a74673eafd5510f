"""`Guardrails`: guardrails attached to a run through the middleware seam.

- `input` guardrails run in order on the user's text before anything else; they may
  redact it (what is stored is the redacted text) or block the run with `reply`.
- `parallel` guardrails run *beside* the first model call: the model is not kept waiting
  for them, and when one blocks the model call is cancelled (or its answer thrown away)
  and the user sees only `reply`. While they are undecided, streamed text is held back.
- `output` guardrails check the final answer; while streaming, text is held back to a
  sentence boundary, checked, then released, rewritten or replaced by `reply`.
- `tool_call` guardrails check a tool's arguments (a block denies the call, the model is
  told); `tool_result` guardrails check what a tool returned, before the model reads it.

Every modify or block is reported as a `GuardrailTripped` event. `raise_on_block=True`
raises `GuardrailBlocked` instead of answering with `reply`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

from keel.context import RunContext
from keel.events import GuardrailTripped
from keel.guardrails.base import (
    CheckReport,
    Guardrail,
    GuardrailBlocked,
    Stage,
    check_all,
    check_concurrently,
)
from keel.guardrails.streaming import hold_back
from keel.messages import Message, ModelResponse, TextPart, ToolResultPart
from keel.middleware.base import Middleware, ModelCall, ModelHandler, Respond, ToolCall, ToolHandler

__all__ = ["DEFAULT_REPLY", "Guardrails"]

DEFAULT_REPLY = "Sorry, I can't help with that request. Is there something else I can do for you?"


class Guardrails(Middleware):
    def __init__(
        self,
        *,
        input: Sequence[Guardrail] = (),
        parallel: Sequence[Guardrail] = (),
        output: Sequence[Guardrail] = (),
        tool_call: Sequence[Guardrail] = (),
        tool_result: Sequence[Guardrail] = (),
        reply: str = DEFAULT_REPLY,
        raise_on_block: bool = False,
        name: str = "Guardrails",
    ) -> None:
        self.input, self.parallel, self.output = tuple(input), tuple(parallel), tuple(output)
        self.tool_call, self.tool_result = tuple(tool_call), tuple(tool_result)
        self.reply, self.raise_on_block, self._name = reply, raise_on_block, name
        self._pending: dict[str, asyncio.Task[CheckReport]] = {}
        self._blocked_streams: set[str] = set()

    @property
    def name(self) -> str:
        return self._name

    # -- input -------------------------------------------------------------------------

    async def on_input(self, ctx: RunContext, messages: list[Message]) -> list[Message] | Respond:
        out: list[Message] = []
        for message in messages:
            text = message.text if _plain_user(message) else None
            if text is None or not self.input:
                out.append(message)
                continue
            report = await check_all(self.input, text, ctx)
            self._report(ctx, "input", report)
            if report.action == "block":
                return self._refuse(report, "input")
            out.append(Message.user(report.text) if report.text != text else message)
        if self.parallel:
            joined = "\n".join(m.text for m in out if m.role == "user")
            self._pending[ctx.run_id] = asyncio.ensure_future(
                check_concurrently(self.parallel, joined, ctx)
            )
        return out

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        guard = self._pending.get(call.context.run_id)
        if guard is None:
            return await call_next(call)
        try:
            return await self._race(call, call_next, guard)
        finally:
            self._pending.pop(call.context.run_id, None)

    async def _race(
        self, call: ModelCall, call_next: ModelHandler, guard: asyncio.Task[CheckReport]
    ) -> ModelResponse:
        model = asyncio.ensure_future(call_next(call))
        try:
            await asyncio.wait({guard, model}, return_when=asyncio.FIRST_COMPLETED)
            report = await guard  # the model may still be working: it waits for this
        except BaseException:
            model.cancel()
            raise
        finally:
            if not guard.done():
                guard.cancel()
        self._report(call.context, "input", report)
        if report.action != "block":
            return await model
        model.cancel()
        await asyncio.gather(model, return_exceptions=True)
        call.note("short_circuit", f"blocked by {_blocker(report)}; model call cancelled")
        return self._refusal_response(report, "input")

    # -- output ------------------------------------------------------------------------

    async def on_output(self, ctx: RunContext, message: Message) -> Message:
        blocked_while_streaming = ctx.run_id in self._blocked_streams
        self._blocked_streams.discard(ctx.run_id)
        if blocked_while_streaming:
            return Message.assistant(self.reply)  # the client saw the reply: so does the record
        if not self.output or message.tool_calls or not message.text:
            return message
        report = await check_all(self.output, message.text, ctx)
        self._report(ctx, "output", report)
        if report.action == "block":
            self._refuse(report, "output")
            return Message.assistant(self.reply)
        return Message.assistant(report.text) if report.action == "modify" else message

    def stream_output(self, ctx: RunContext, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        if not self.output and ctx.run_id not in self._pending:
            return chunks
        return hold_back(self, ctx, chunks, self._pending.get(ctx.run_id))

    # -- tools -------------------------------------------------------------------------

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if self.tool_call:
            arguments = json.dumps(call.arguments, ensure_ascii=False, default=str)
            report = await check_all(self.tool_call, arguments, call.context)
            self._report(call.context, "tool_call", report)
            if report.action == "block":
                return call.deny(f"refused by guardrail {_blocker(report)}")
        result = await call_next(call)
        if not self.tool_result or result.is_error:
            return result
        report = await check_all(self.tool_result, result.content, call.context)
        self._report(call.context, "tool_result", report)
        if report.action == "block":
            return call.result(
                f"[tool result withheld by guardrail {_blocker(report)}]", is_error=True
            )
        return call.result(report.text) if report.action == "modify" else result

    # -- shared ------------------------------------------------------------------------

    def _report(self, ctx: RunContext, stage: Stage, report: CheckReport) -> None:
        for result in report.results:
            verdict = result.verdict
            if verdict.action != "allow":
                ctx.emit(
                    GuardrailTripped(
                        ctx, result.guardrail, stage, verdict.action, verdict.score, verdict.reason
                    )
                )

    def _refuse(self, report: CheckReport, stage: Stage) -> Respond:
        if self.raise_on_block:
            blocked = _blocker(report)
            raise GuardrailBlocked(
                f"guardrail {blocked!r} blocked the {stage}",
                reply=self.reply,
                guardrail=blocked,
                stage=stage,
            )
        return Respond(self.reply)

    def _refusal_response(self, report: CheckReport, stage: Stage) -> ModelResponse:
        self._refuse(report, stage)
        return ModelResponse(Message.assistant(self.reply), model_name="guardrail")

    def mark_stream_blocked(self, ctx: RunContext, report: CheckReport, stage: Stage) -> None:
        """Called by the stream filter: the rest of the run answers with `reply`."""
        self._report(ctx, stage, report)
        self._blocked_streams.add(ctx.run_id)


def _plain_user(message: Message) -> bool:
    return message.role == "user" and all(isinstance(p, TextPart) for p in message.parts)


def _blocker(report: CheckReport) -> str:
    blocked = report.blocked_by
    return blocked.guardrail if blocked is not None else "?"
