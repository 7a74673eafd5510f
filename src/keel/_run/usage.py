"""Usage accounting: `RunContext.usage` kept current, `RunLimits` enforced the moment a
bound is crossed — and, for token and cost bounds, before each model call against its
worst case (`bound_model_request`, see `keel.models.budget`).

Part of the loop rather than a middleware layer: every model and tool call pays for it,
and as a layer it cost ~15 µs a turn (three extra coroutine frames per call) for four
additions and a comparison.
"""

from __future__ import annotations

from keel.exceptions import UsageLimitExceeded
from keel.limits import RunLimits
from keel.messages import Usage
from keel.models.base import Model, ModelRequest

__all__ = ["add_model_usage", "bound_model_request", "count_tool_call"]

_TOKEN_BOUNDS = ("max_input_tokens", "max_output_tokens", "max_total_tokens")


def add_model_usage(usage: Usage, delta: Usage, limits: RunLimits) -> None:
    usage.requests += delta.requests
    usage.input_tokens += delta.input_tokens
    usage.output_tokens += delta.output_tokens
    usage.cached_input_tokens += delta.cached_input_tokens
    usage.cost += delta.cost
    if limits.has_token_bounds:
        _check_tokens(usage, limits)


def bound_model_request(
    model: Model, request: ModelRequest, usage: Usage, limits: RunLimits
) -> ModelRequest:
    """The request, its answer capped to fit the run's token and cost bounds (unchanged
    and uncounted when there are none)."""
    if not limits.has_token_bounds:
        return request
    from keel.models.budget import bound_request  # counts tokens: only when bounded

    return bound_request(model, request, usage, limits)


def count_tool_call(usage: Usage, limits: RunLimits) -> None:
    usage.tool_calls += 1
    bound = limits.max_tool_calls
    if bound is not None and usage.tool_calls > bound:
        raise UsageLimitExceeded(
            f"run made {usage.tool_calls} tool calls, over max_tool_calls={bound}",
            limit="max_tool_calls",
        )


def _check_tokens(usage: Usage, limits: RunLimits) -> None:
    if limits.max_cost is not None and usage.cost > limits.max_cost:
        raise UsageLimitExceeded(
            f"run cost ${usage.cost:.6f}, over max_cost=${limits.max_cost}; "
            "raise the limit in RunLimits",
            limit="max_cost",
        )
    used_by = {
        "max_input_tokens": usage.input_tokens,
        "max_output_tokens": usage.output_tokens,
        "max_total_tokens": usage.total_tokens,
    }
    for name in _TOKEN_BOUNDS:
        bound = getattr(limits, name)
        if bound is not None and used_by[name] > bound:
            raise UsageLimitExceeded(
                f"run used {used_by[name]} tokens, over {name}={bound}; "
                "raise the limit in RunLimits",
                limit=name,
            )
