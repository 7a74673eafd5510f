"""What every hosted model shares: its name, provider, endpoint (the breaker key) and
profile, and who to name in its answers and errors."""

from __future__ import annotations

from keel.models._openai_wire import Answerer
from keel.models.profiles import ModelProfile, profile_for

__all__ = ["HostedModel"]


class HostedModel:
    def __init__(
        self, model: str, provider: str, base_url: str, profile: ModelProfile | None
    ) -> None:
        self._model = model
        self._provider = provider
        self.base_url = base_url
        self.profile = profile or profile_for(provider, model)
        self._who = Answerer(provider, model, self.profile)

    @property
    def name(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def endpoint(self) -> str:
        """What the process-wide circuit breaker of this model is keyed by."""
        return f"{self._provider}:{self.base_url}"

    def __repr__(self) -> str:
        kind, where = (
            type(self).__name__,
            f"provider={self._provider!r}, base_url={self.base_url!r}",
        )
        return f"{kind}({self._model!r}, {where})"
