"""Keel requests to llama.cpp's OpenAI-style chat dicts and back, shaped for small models.

Why a decision envelope: a 0.5B model is weak at deciding *whether* to call a tool but
fills a JSON schema reliably under grammar-constrained decoding. So with tools, the first
request asks for a constrained envelope — `{"action": "reply"}` (or `{"action": "final",
"output": …}` given an output schema) or a `{"action": "call", "tool": <name>,
"arguments": …}` branch per tool — and arguments come out valid by construction. The
decision is greedy (temperature 0 unless the agent sets one): with sampling the
starter's order questions went unanswered by tools. A reply is then written by a second,
unconstrained request, which is what streams. That request shows no tool catalog and no
envelopes — earlier calls appear as prose — because with them in view the model answered
in envelope JSON instead of sentences; the price is a fresh prefill instead of a cached
prefix (~1-2 s on 2 cores for the starter's prompt).

Why plain text rendering: native `tools` and `role: tool` depend on each GGUF's chat
template. Tool calls rendered as assistant JSON and results as user text work with any
template, and system messages are merged into one at the top for the same reason.

Pure functions only: nothing here imports llama.cpp, so all of it is unit-testable. What
comes back is folded in `_completion`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, cast

from keel.exceptions import ModelError
from keel.messages import Message, ModelResponse, TextPart, ToolCallPart, ToolResultPart
from keel.models._sdk import DECISION_SEED, decision_settings
from keel.models.base import ModelRequest, ModelSettings, ToolDefinition
from keel.models.local._completion import Completion, Payload

__all__ = [
    "chat_payload",
    "decision_payload",
    "decision_schema",
    "envelope_json",
    "interpret_decision",
    "render_messages",
    "tool_catalog",
]

ChatMessage = dict[str, str]

# The 0.5B model's call/reply odds are close to even, so the wording matters. Measured on
# 29 hand-written cases over three tool sets (greedy decoding): this wording, with the
# catalog's closing line, chose right 26 times — all 14 calls, 12 of 15 replies (the misses
# were needless calls on general-knowledge questions) — against 18 for a neutral "decide
# the next step" wording, which made 3 of the 14 calls. A needless call costs a tool run; a
# missed one makes the model invent the answer. The grammar keeps the arguments valid.
_DECIDE = (
    "Answer with JSON only. If a tool above can do what the user asks, call it: "
    '{"action": "call", "tool": "<tool name>", "arguments": {...}}. '
)
_NO_TOOL = "If no tool applies, or a tool result above already answers it"
_DECIDE_REPLY = f'{_NO_TOOL}: {{"action": "reply"}}.'
_REPLY = (
    "Now answer the user directly in a few plain sentences, using the tool results above "
    "if there are any. Do not write JSON and do not mention tools."
)
_DECIDE_FINAL = f'{_NO_TOOL}, give the final answer: {{"action": "final", "output": {{...}}}}.'


def chat_payload(request: ModelRequest) -> Payload:
    """An unconstrained request (JSON-constrained when there is an output schema, no tools).

    With tools this is the answer written after a "reply" decision: the model sees no tool
    catalog and no JSON envelopes, only prose, or it imitates them and answers in JSON.
    """
    if request.tools:
        messages = render_messages(request, for_reply=True)
        _append_merged(messages, {"role": "user", "content": _REPLY})
    else:
        messages = render_messages(request)
    # A structured answer is a decision: greedy and seeded unless the agent says otherwise
    # (with llama.cpp's default sampling, 19 of 59 held-out classifications changed
    # between two identical requests).
    payload: Payload = {"messages": messages, **_sampling(decision_settings(request))}
    schema = request.output_schema
    if schema is not None and not request.tools:
        payload["response_format"] = _response_format(schema.name, schema.schema)
    return payload


def decision_payload(request: ModelRequest) -> Payload:
    """The grammar-constrained request that picks reply, final output or a tool call."""
    messages = render_messages(request)
    instruction = _DECIDE + (_DECIDE_FINAL if request.output_schema else _DECIDE_REPLY)
    _append_merged(messages, {"role": "user", "content": instruction})  # after the question
    return {
        "messages": messages,
        "response_format": _response_format("decision", decision_schema(request)),
        # The decision is a classification: greedy and seeded unless the agent says otherwise.
        "temperature": 0.0,
        "seed": DECISION_SEED,
        **_sampling(request.settings),
    }


def _sampling(settings: ModelSettings) -> Payload:
    names = ("temperature", "max_tokens", "seed")  # the same names in the OpenAI format
    return {n: getattr(settings, n) for n in names if getattr(settings, n) is not None}


def _response_format(name: str, schema: dict[str, Any]) -> Payload:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def decision_schema(request: ModelRequest) -> dict[str, Any]:
    """`anyOf` reply-or-final plus one call branch per tool; sub-schema `$defs` hoisted."""
    defs: dict[str, Any] = {}
    if request.output_schema is None:
        first = _object({"action": {"const": "reply"}})
    else:
        output = _hoist_defs(request.output_schema.schema, "output__", defs)
        first = _object({"action": {"const": "final"}, "output": output})
    branches = [first, *(_call_branch(tool, defs) for tool in request.tools)]
    schema: dict[str, Any] = {"anyOf": branches}
    if defs:
        schema["$defs"] = defs
    return schema


def _call_branch(tool: ToolDefinition, defs: dict[str, Any]) -> dict[str, Any]:
    arguments = _hoist_defs(tool.parameters, f"{tool.name}__", defs)
    return _object(
        {"action": {"const": "call"}, "tool": {"const": tool.name}, "arguments": arguments}
    )


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _hoist_defs(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """Move `schema`'s `$defs` into `defs` under `prefix`, rewriting its `$ref`s to match."""
    rewritten: dict[str, Any] = _rewrite_refs(schema, prefix)
    for name, sub in rewritten.pop("$defs", {}).items():
        defs[f"{prefix}{name}"] = sub
    return rewritten


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in cast("list[Any]", node)]
    if not isinstance(node, dict):
        return node
    out = {k: _rewrite_refs(v, prefix) for k, v in cast("dict[str, Any]", node).items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = f"#/$defs/{prefix}{ref.removeprefix('#/$defs/')}"
    return out


def envelope_json(call: ToolCallPart) -> str:
    """How an assistant tool call is shown to the model: the envelope it would have written."""
    return json.dumps(
        {"action": "call", "tool": call.tool_name, "arguments": call.arguments},
        ensure_ascii=False,
    )


def interpret_decision(
    completion: Completion, request: ModelRequest, model_name: str
) -> ModelResponse | None:
    """The response for a call or final decision; None when the model chose to reply."""
    envelope = _parse_envelope(completion)
    action = envelope.get("action")
    if action == "call" and isinstance(envelope.get("arguments"), dict):
        call = ToolCallPart(str(envelope.get("tool")), envelope["arguments"], _call_id())
        message = Message.assistant(tool_calls=[call])
        return ModelResponse(message, completion.usage, model_name, "tool_calls")
    if action == "final" and request.output_schema is not None:
        text = json.dumps(envelope.get("output"), ensure_ascii=False)
        return ModelResponse(Message.assistant(text), completion.usage, model_name, "stop")
    if action == "reply":
        return None
    raise ModelError(f"the local model answered an unknown decision: {completion.text[:200]}")


def _parse_envelope(completion: Completion) -> dict[str, Any]:
    with suppress(ValueError):
        envelope: object = json.loads(completion.text)
        if isinstance(envelope, dict):
            return cast("dict[str, Any]", envelope)
    truncated = completion.finish_reason == "length"
    hint = "; it ran out of tokens, raise ModelSettings.max_tokens" if truncated else ""
    raise ModelError(
        f"the local model's tool decision is not a JSON object{hint}: {completion.text[:200]!r}"
    )


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


def render_messages(request: ModelRequest, *, for_reply: bool = False) -> list[ChatMessage]:
    """Chat messages any template accepts: one system message first, roles alternating.

    `for_reply` leaves out the tool catalog and shows earlier tool calls as prose.
    """
    system = [m.text for m in request.messages if m.role == "system" and m.text]
    if request.output_schema is not None:
        schema = json.dumps(_strip_titles(request.output_schema.schema), ensure_ascii=False)
        system.append(f"Your final answer is a JSON object matching this schema: {schema}")
    if request.tools and not for_reply:
        system.append(tool_catalog(request.tools))
    rendered: list[ChatMessage] = []
    if system:
        rendered.append({"role": "system", "content": "\n\n".join(system)})
    for message in request.messages:
        if message.role != "system":
            _append_merged(rendered, _render(message, for_reply))
    return rendered


def _render(message: Message, for_reply: bool) -> ChatMessage:
    if message.role == "assistant":
        return {"role": "assistant", "content": _assistant_text(message, for_reply)}
    return {"role": "user", "content": "\n\n".join(_part_text(p) for p in message.parts)}


def _assistant_text(message: Message, for_reply: bool) -> str:
    pieces = [message.text] if message.text else []
    show = _call_prose if for_reply else envelope_json
    pieces += [show(call) for call in message.tool_calls]
    return "\n".join(pieces)


def _call_prose(call: ToolCallPart) -> str:
    arguments = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    return f"(I looked this up with {call.tool_name}({arguments}).)"


def _part_text(part: TextPart | ToolCallPart | ToolResultPart) -> str:
    if isinstance(part, ToolResultPart):
        label = "Tool error" if part.is_error else "Tool result"
        return f"{label} for {part.tool_name} ({part.call_id}): {part.content}"
    if isinstance(part, ToolCallPart):
        return envelope_json(part)
    return part.text


def _append_merged(rendered: list[ChatMessage], message: ChatMessage) -> None:
    # Some templates reject two turns of the same role in a row: join them into one.
    if rendered and rendered[-1]["role"] == message["role"] != "system":
        merged = f"{rendered[-1]['content']}\n\n{message['content']}"
        rendered[-1] = {"role": message["role"], "content": merged}
    else:
        rendered.append(message)


def tool_catalog(tools: Sequence[ToolDefinition]) -> str:
    """The system-prompt section that tells the model which tools exist."""
    lines = ["You have access to these tools:"]
    for tool in tools:
        schema = json.dumps(_strip_titles(tool.parameters), ensure_ascii=False)
        description = tool.description.strip() or "(no description)"
        lines.append(f"- {tool.name}: {description} Arguments (JSON schema): {schema}")
    lines.append(
        "Call a tool whenever the user asks for something it provides; "
        "answer general questions yourself."
    )
    return "\n".join(lines)


def _strip_titles(node: Any) -> Any:
    # Pydantic's titles repeat the property names: tokens a small model can spare. A
    # property *named* "title" maps to a schema, not a string, so it stays.
    if isinstance(node, list):
        return [_strip_titles(item) for item in cast("list[Any]", node)]
    if not isinstance(node, dict):
        return node
    items = cast("dict[str, Any]", node).items()
    return {k: _strip_titles(v) for k, v in items if not (k == "title" and isinstance(v, str))}
