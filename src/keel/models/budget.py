"""Usage limits checked *before* a model call, against the call's worst case.

A bound checked after a call can only notice that the run already overspent. Before
each call the prompt is counted (offline, `keel.models.tokens`) and the answer is capped:
`max_tokens` becomes the least of what the request asked, the model's output cap, and
what the run's token and cost bounds still allow. If not even one output token fits,
the call is not made (`UsageLimitExceeded`). So no call can take a run past a bound,
whatever the model answers.
"""

from __future__ import annotations

import math
from dataclasses import replace

from keel.exceptions import UsageLimitExceeded
from keel.limits import RunLimits
from keel.messages import Usage
from keel.models.base import Model, ModelRequest
from keel.models.profiles import ModelProfile, profile_for
from keel.models.tokens import count_request_tokens

__all__ = ["bound_request", "profile_of", "worst_case_cost"]


def profile_of(model: Model) -> ModelProfile:
    """The model's own `profile` if it has one (a gateway's is its widest tier's), else
    the table's entry for its provider and name."""
    own = getattr(model, "profile", None)
    return own if isinstance(own, ModelProfile) else profile_for(model.provider, model.name)


def worst_case_cost(model: Model, request: ModelRequest) -> float:
    """The most `request` can cost on `model`: its prompt counted offline, no cache hits,
    the longest answer it allows (what a budget reserves before the call)."""
    profile = profile_of(model)
    prompt = count_request_tokens(request, profile.encoding)
    return profile.worst_case_cost(prompt, request.settings.max_tokens)


def bound_request(
    model: Model, request: ModelRequest, usage: Usage, limits: RunLimits
) -> ModelRequest:
    """`request` with `max_tokens` capped so the call fits every bound left; raises
    `UsageLimitExceeded` when even the prompt alone would not fit."""
    profile = profile_of(model)
    prompt = count_request_tokens(request, profile.encoding)
    room = _output_room(profile, prompt, usage, limits)
    asked = request.settings.max_tokens or profile.max_output_tokens
    if room >= asked:
        return request
    return replace(request, settings=replace(request.settings, max_tokens=room))


def _output_room(profile: ModelProfile, prompt: int, usage: Usage, limits: RunLimits) -> int:
    """The most output tokens this call may produce within every bound."""
    _need(limits.max_input_tokens, usage.input_tokens + prompt, "max_input_tokens", prompt)
    _need(limits.max_total_tokens, usage.total_tokens + prompt, "max_total_tokens", prompt)
    rooms = [(profile.max_output_tokens, "")]
    if limits.max_output_tokens is not None:
        rooms.append((limits.max_output_tokens - usage.output_tokens, "max_output_tokens"))
    if limits.max_total_tokens is not None:
        rooms.append((limits.max_total_tokens - usage.total_tokens - prompt, "max_total_tokens"))
    if limits.max_cost is not None:
        rooms.append((_cost_room(profile, prompt, usage, limits.max_cost), "max_cost"))
    room, name = min(rooms, key=lambda r: r[0])
    if room < 1:
        raise UsageLimitExceeded(
            f"the next model call could exceed {name}: no output tokens are left within "
            f"it (run so far: {usage.total_tokens} tokens, ${usage.cost:.6f}; this prompt: "
            f"{prompt} tokens); it was not sent — raise the limit in RunLimits",
            limit=name,
        )
    return room


def _need(bound: int | None, would_use: int, name: str, prompt: int) -> None:
    if bound is not None and would_use > bound:
        raise UsageLimitExceeded(
            f"the next model call's prompt ({prompt} tokens) would take the run to "
            f"{would_use} tokens, over {name}={bound}; it was not sent",
            limit=name,
        )


def _cost_room(profile: ModelProfile, prompt: int, usage: Usage, max_cost: float) -> int:
    left = max_cost - usage.cost - profile.worst_case_cost(prompt, 0)
    if left < 0:
        raise UsageLimitExceeded(
            f"the next model call's prompt ({prompt} tokens) would cost "
            f"${profile.worst_case_cost(prompt, 0):.6f}, more than the "
            f"${max(max_cost - usage.cost, 0):.6f} left of max_cost=${max_cost}; it was not sent",
            limit="max_cost",
        )
    if profile.output_price == 0:
        return profile.max_output_tokens
    return math.floor(left * 1_000_000 / profile.output_price)
