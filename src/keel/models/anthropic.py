"""`anthropic:` models: the Messages API through the official `anthropic` SDK (extra
`anthropic`). Options in code or the SDK's usual variables: `ANTHROPIC_API_KEY`,
`ANTHROPIC_BASE_URL`. The SDK's own retries are off: the gateway retries.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from keel.exceptions import MissingExtraError
from keel.messages import ModelResponse
from keel.models._anthropic_wire import MessageAssembler, messages_payload, parse_message
from keel.models._hosted import HostedModel
from keel.models._sdk import map_sdk_error, resolve_key
from keel.models.base import ModelRequest, ModelStreamEvent, TextDelta
from keel.models.profiles import ModelProfile

if TYPE_CHECKING:
    import anthropic as anthropic_sdk

__all__ = ["AnthropicModel"]

DEFAULT_BASE_URL = "https://api.anthropic.com"


def _sdk() -> Any:
    try:
        import anthropic as anthropic_sdk
    except ImportError as exc:
        raise MissingExtraError("the anthropic provider", "anthropic") from exc
    return anthropic_sdk


def _failures(sdk: Any) -> tuple[type[BaseException], ...]:
    import httpx2  # the SDK's transport: a stream cut mid-way surfaces as its error

    return (sdk.AnthropicError, httpx2.HTTPError, ValueError)


class AnthropicModel(HostedModel):
    """A Claude model over the Messages API; `timeout` bounds one HTTP attempt."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        provider: str = "anthropic",
        profile: ModelProfile | None = None,
        client: anthropic_sdk.AsyncAnthropic | None = None,
    ) -> None:
        sdk = _sdk()
        url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        super().__init__(model, provider, url, profile)
        if client is None:
            client = sdk.AsyncAnthropic(
                api_key=resolve_key(api_key, api_key_env, f"{provider}:{model}"),
                base_url=self.base_url,
                default_headers=dict(headers or {}),
                timeout=timeout,
                max_retries=0,
            )
        self.client: Any = client

    async def request(self, request: ModelRequest) -> ModelResponse:
        payload = messages_payload(request, self._model, self.profile, stream=False)
        sdk = _sdk()
        try:
            raw = await self.client.messages.create(**payload)
            return parse_message(raw, self._who)
        except _failures(sdk) as exc:
            raise map_sdk_error(exc, sdk, self._provider, self._model) from exc  # type: ignore[arg-type]

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        payload = messages_payload(request, self._model, self.profile, stream=True)
        assembler = MessageAssembler(self._who)
        sdk = _sdk()
        try:
            events = await self.client.messages.create(**payload)
            async for event in events:
                text = assembler.add(event)
                if text:
                    yield TextDelta(text)
        except _failures(sdk) as exc:
            raise map_sdk_error(exc, sdk, self._provider, self._model) from exc  # type: ignore[arg-type]
        yield assembler.response()
