"""Per-run usage accounting, attached through the lifecycle seam like any other hook.

It keeps `RunContext.usage` current and enforces the token and tool-call bounds of
`RunLimits`, raising `UsageLimitExceeded` the moment one is crossed.
"""

from __future__ import annotations

from keel.events import ModelResponseReceived, RunEvent, ToolCallStarted
from keel.exceptions import UsageLimitExceeded
from keel.limits import RunLimits
from keel.messages import Usage

__all__ = ["UsageAccountant"]


class UsageAccountant:
    def __init__(self, limits: RunLimits) -> None:
        self._limits = limits

    async def on_event(self, event: RunEvent) -> None:
        if isinstance(event, ModelResponseReceived):
            usage = event.context.usage
            delta = event.response.usage
            usage.requests += delta.requests
            usage.input_tokens += delta.input_tokens
            usage.output_tokens += delta.output_tokens
            self._check_tokens(usage)
        elif isinstance(event, ToolCallStarted):
            usage = event.context.usage
            usage.tool_calls += 1
            bound = self._limits.max_tool_calls
            if bound is not None and usage.tool_calls > bound:
                raise UsageLimitExceeded(
                    f"run made {usage.tool_calls} tool calls, over max_tool_calls={bound}",
                    limit="max_tool_calls",
                )

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
