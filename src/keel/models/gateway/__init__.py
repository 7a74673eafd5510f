"""The model gateway: retries, circuit breakers, timeouts, fallback chains and an honest
last tier around any models (`ModelGateway`), configured by the policies here."""

from keel.models.gateway._gateway import ModelGateway
from keel.models.gateway.policy import DEFAULT_REPLY, BreakerPolicy, LastResort, RetryPolicy

__all__ = ["DEFAULT_REPLY", "BreakerPolicy", "LastResort", "ModelGateway", "RetryPolicy"]
