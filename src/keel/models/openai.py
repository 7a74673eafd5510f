"""`openai:` models: chat completions through the official `openai` SDK (extra `openai`).

Also Azure OpenAI (`OpenAIModel.azure`, `azure:` strings) and any server speaking the
same format — vLLM, Ollama, LM Studio, llama.cpp's server, Gemini's compatible endpoint
— given its `base_url`. The SDK's own retries are off: the gateway
(`keel.models.gateway`) retries, with backoff it can account for and a breaker it shares.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import from_json

from keel.exceptions import MissingExtraError
from keel.messages import ModelResponse
from keel.models._counted import with_counted_usage
from keel.models._hosted import HostedModel
from keel.models._openai_wire import StreamAssembler, chat_payload, parse_completion
from keel.models._sdk import map_sdk_error, resolve_key
from keel.models.base import ModelRequest, ModelStreamEvent, TextDelta
from keel.models.profiles import ModelProfile

if TYPE_CHECKING:
    import openai as openai_sdk

__all__ = ["OpenAIModel"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_BEARER: dict[str, Any] = {"security": {"bearer_auth": True}}
"""The request options `chat.completions.create` sends (the key as a bearer token)."""


def _sdk() -> Any:
    try:
        import openai as openai_sdk
    except ImportError as exc:
        raise MissingExtraError("the openai provider", "openai") from exc
    return openai_sdk


class OpenAIModel(HostedModel):
    """A chat-completions model. Options may be given here or left to the SDK's usual
    variables: `OPENAI_API_KEY`, `OPENAI_BASE_URL`.

    `timeout` bounds one HTTP attempt (seconds). `headers` are sent with every request.
    A server other than OpenAI's needs no key: a placeholder is sent when none is set.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        provider: str = "openai",
        profile: ModelProfile | None = None,
        client: openai_sdk.AsyncOpenAI | None = None,
    ) -> None:
        sdk = _sdk()
        url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        super().__init__(model, provider, url, profile)
        if client is None:
            official = self.base_url.rstrip("/") == DEFAULT_BASE_URL
            key = (
                resolve_key(api_key, api_key_env, f"{provider}:{model}")
                if official
                else (api_key or os.environ.get(api_key_env) or "no-key")
            )
            client = sdk.AsyncOpenAI(
                api_key=key,
                base_url=self.base_url,
                default_headers=dict(headers or {}),
                timeout=timeout,
                max_retries=0,
            )
        self.client: Any = client

    @classmethod
    def azure(
        cls,
        deployment: str,
        *,
        endpoint: str | None = None,
        api_version: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "AZURE_OPENAI_API_KEY",
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        profile: ModelProfile | None = None,
    ) -> OpenAIModel:
        """An Azure OpenAI deployment; `endpoint` defaults to `AZURE_OPENAI_ENDPOINT`,
        `api_version` to `OPENAI_API_VERSION`."""
        sdk = _sdk()
        endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            from keel.exceptions import ConfigurationError

            raise ConfigurationError(
                f"azure:{deployment} needs an endpoint: set AZURE_OPENAI_ENDPOINT or pass "
                "endpoint='https://<resource>.openai.azure.com'"
            )
        client = sdk.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_version=api_version or os.environ.get("OPENAI_API_VERSION") or "2024-10-21",
            api_key=resolve_key(api_key, api_key_env, f"azure:{deployment}"),
            default_headers=dict(headers or {}),
            timeout=timeout,
            max_retries=0,
        )
        return cls(deployment, base_url=endpoint, provider="azure", profile=profile, client=client)

    async def request(self, request: ModelRequest) -> ModelResponse:
        payload = chat_payload(request, self._model, self.profile, stream=False)
        sdk = _sdk()
        try:
            # The SDK's documented raw call (`client.post`): its URL, auth, headers,
            # timeouts and typed HTTP errors, without re-validating a payload Keel built
            # or building response objects Keel reads once (a third of the call's CPU).
            body = await self.client.post(
                "/chat/completions", body=payload, cast_to=bytes, options=_BEARER
            )
            response, reported = parse_completion(from_json(body), self._who)
        except (sdk.OpenAIError, ValueError) as exc:  # ValueError: a 200 that is not JSON
            raise map_sdk_error(exc, sdk, self._provider, self._model) from exc
        return response if reported else with_counted_usage(response, request, self.profile)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        payload = chat_payload(request, self._model, self.profile, stream=True)
        assembler = StreamAssembler(self._who)
        sdk = _sdk()
        try:
            chunks = await self.client.chat.completions.create(**payload)
            async for chunk in chunks:
                text = assembler.add(chunk)
                if text:
                    yield TextDelta(text)
        except (sdk.OpenAIError, ValueError) as exc:
            raise map_sdk_error(exc, sdk, self._provider, self._model) from exc
        response, reported = assembler.response()
        yield response if reported else with_counted_usage(response, request, self.profile)
