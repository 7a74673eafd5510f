"""`EventBus`: a run's events, from whichever worker runs it, to the API process whose
client is waiting — Redis pub/sub on one channel per run.

Pub/sub delivers only to listeners present, so the API subscribes before it starts the
workflow. Events are `(name, data)` pairs, the same the SSE stream sends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from keel.exceptions import MissingExtraError

try:
    import redis.asyncio as aioredis
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingExtraError("the Redis event bus", "redis") from exc

__all__ = ["FINAL_EVENTS", "EventBus", "Subscription"]

FINAL_EVENTS = frozenset({"run_finished", "run_failed"})


class EventBus:
    def __init__(self, url: str, *, prefix: str = "keel") -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None  # redis.asyncio.Redis; its stubs are partly untyped

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url)  # pyright: ignore[reportUnknownMemberType]
        return self._client

    def channel(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}:events"

    async def publish(self, run_id: str, name: str, data: dict[str, Any]) -> None:
        payload = json.dumps({"event": name, "data": data}, separators=(",", ":"))
        await self.client.publish(self.channel(run_id), payload)

    async def subscribe(self, run_id: str) -> Subscription:
        pubsub = self.client.pubsub()
        await pubsub.subscribe(self.channel(run_id))
        return Subscription(pubsub)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class Subscription:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def events(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Events until the run's final one; the subscription closes after it."""
        try:
            async for message in self._pubsub.listen():
                if message.get("type") != "message":
                    continue
                event = json.loads(message["data"])
                yield event["event"], event["data"]
                if event["event"] in FINAL_EVENTS:
                    return
        finally:
            await self.close()

    async def close(self) -> None:
        await self._pubsub.aclose()
