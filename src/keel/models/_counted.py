"""Usage for an answer whose provider reported none, counted offline."""

from __future__ import annotations

from dataclasses import replace

from keel.messages import ModelResponse, Usage
from keel.models._sdk import priced
from keel.models.base import ModelRequest
from keel.models.profiles import ModelProfile
from keel.models.tokens import count_message_tokens, count_request_tokens

__all__ = ["with_counted_usage"]


def with_counted_usage(
    response: ModelResponse, request: ModelRequest, profile: ModelProfile
) -> ModelResponse:
    usage = Usage(
        requests=1,
        input_tokens=count_request_tokens(request, profile.encoding),
        output_tokens=count_message_tokens(response.message, profile.encoding),
    )
    return replace(response, usage=priced(usage, profile))
