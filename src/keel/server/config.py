"""`ServerSettings`: how `keel serve` runs, from Python or a TOML/YAML file.

A file names the app (`app = "pkg.module:attr"`) and the server's limits, auth and
stores. It is validated with pydantic; a mistake is reported as `field.path: problem`,
so the operator sees which line to fix.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keel.exceptions import ConfigurationError

__all__ = [
    "ApiKey",
    "QueueSettings",
    "ServerSettings",
    "StoreSettings",
    "TemporalSettings",
    "load_settings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiKey(_Strict):
    """One accepted key, stored as the SHA-256 hex digest of the key (never the key)."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    user_id: str | None = None
    tenant_id: str = "default"
    roles: tuple[str, ...] = ()


class QueueSettings(_Strict):
    """Admission for model work: `max_active` runs at once, `max_waiting` queued behind
    them; one more gets 429 with `Retry-After: retry_after_s`. Local models default to
    one run at a time (one llama.cpp context); other models to `max_active`."""

    max_active: int = Field(default=64, ge=1)
    max_active_local: int = Field(default=1, ge=1)
    max_waiting: int = Field(default=32, ge=0)
    retry_after_s: int = Field(default=2, ge=1)


class StoreSettings(_Strict):
    """`database` overrides the app's (a SQLite path or a `postgresql://` URL);
    `redis_url` carries run events from workers to the API (db 3: `redis://h:6379/3`) and
    holds a lock per session, so runs of one conversation take turns across API processes."""

    database: str | None = None
    redis_url: str | None = Field(default=None, pattern=r"^rediss?://")
    session_wait_s: float = Field(default=60.0, gt=0)
    """With Redis: how long a message waits for a run of its session in another API
    process to end (per-session ordering across processes); past it, 409."""


class TemporalSettings(_Strict):
    """Run agents on `keel worker` processes through Temporal (needs `stores.redis_url`
    for streaming their events back). Absent: runs execute in the API process."""

    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = "keel"
    activity_timeout_s: float = Field(default=30.0, gt=0)
    """One model or tool call attempt; past it (a worker died) it is retried elsewhere."""


class ServerSettings(_Strict):
    app: str | None = None
    """`pkg.module:attr` naming the App or Agent to serve (file configs only)."""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    request_timeout_s: float = Field(default=120.0, gt=0)
    api_keys: tuple[ApiKey, ...] = ()
    """Empty: no authentication (every request acts as the anonymous principal)."""
    queue: QueueSettings = QueueSettings()
    stores: StoreSettings = StoreSettings()
    temporal: TemporalSettings | None = None

    @model_validator(mode="after")
    def _temporal_needs_redis(self) -> ServerSettings:
        if self.temporal is not None and self.stores.redis_url is None:
            raise ValueError("temporal needs stores.redis_url to stream run events back")
        return self

    title: str = "Keel"


def load_settings(path: str | Path) -> ServerSettings:
    """Read a `.toml`, `.yaml` or `.yml` file; ConfigurationError naming the bad field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read config {str(path)!r}: {exc.strerror}") from exc
    data = _parse(path, text)
    try:
        return ServerSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """`field.path: message` for each problem, joined with `; `."""
    problems: list[str] = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


def _parse(path: Path, text: str) -> Any:
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(path, text)
    raise ConfigurationError(f"{path}: use a .toml, .yaml or .yml file, not {suffix or 'none'}")


def _parse_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: the top level must be a mapping of settings")
    return cast("dict[str, Any]", data)
