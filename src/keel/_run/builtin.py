"""Middleware every run gets: usage limits (outermost) and tool approval (innermost).

They use the same seam as application middleware, so they are ordinary examples of it:
`UsageLimiter` keeps `RunContext.usage` current and stops a run the moment a `RunLimits`
bound is crossed; `ApprovalGate` suspends a call to a tool annotated `requires_approval`
once its arguments are valid, so a person approves the exact payload that will run.
"""

from __future__ import annotations

from keel.exceptions import ToolArgumentsError, UsageLimitExceeded
from keel.limits import RunLimits
from keel.messages import ModelResponse, ToolResultPart, Usage
from keel.middleware import Middleware, ModelCall, ModelHandler, ToolCall, ToolHandler

__all__ = ["ApprovalGate", "UsageLimiter"]


class UsageLimiter(Middleware):
    def __init__(self, limits: RunLimits) -> None:
        self._limits = limits

    async def wrap_model_call(self, call: ModelCall, call_next: ModelHandler) -> ModelResponse:
        response = await call_next(call)
        usage, delta = call.context.usage, response.usage
        usage.requests += delta.requests
        usage.input_tokens += delta.input_tokens
        usage.output_tokens += delta.output_tokens
        self._check_tokens(usage)
        return response

    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        if not call.approved:  # an approved call was counted when it was first asked for
            usage = call.context.usage
            usage.tool_calls += 1
            bound = self._limits.max_tool_calls
            if bound is not None and usage.tool_calls > bound:
                raise UsageLimitExceeded(
                    f"run made {usage.tool_calls} tool calls, over max_tool_calls={bound}",
                    limit="max_tool_calls",
                )
        return await call_next(call)

    def _check_tokens(self, usage: Usage) -> None:
        checks = (
            ("max_input_tokens", usage.input_tokens, self._limits.max_input_tokens),
            ("max_output_tokens", usage.output_tokens, self._limits.max_output_tokens),
            ("max_total_tokens", usage.total_tokens, self._limits.max_total_tokens),
        )
        for name, used, bound in checks:
            if bound is not None and used > bound:
                raise UsageLimitExceeded(
                    f"run used {used} tokens, over {name}={bound}; raise the limit in RunLimits",
                    limit=name,
                )


class ApprovalGate(Middleware):
    async def wrap_tool_call(self, call: ToolCall, call_next: ToolHandler) -> ToolResultPart:
        tool = call.tool
        if tool is None or not tool.annotations.requires_approval or call.approved:
            return await call_next(call)
        try:
            tool.validate(call.arguments)
        except ToolArgumentsError:
            return await call_next(call)  # reports the bad arguments; nobody is asked
        call.require_approval(f"{tool.name} requires a person's approval")
        return await call_next(call)  # unreachable: require_approval raised
