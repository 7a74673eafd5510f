"""Durable scale-out on Temporal: `keel worker` runs agent runs as workflows.

Needs the `temporal` and `redis` extras. Without Temporal configured, `keel serve` runs
every run in its own process, exactly as `Runner` does.
"""

from __future__ import annotations

import importlib.util

from keel.exceptions import MissingExtraError

for _module, _extra in (("temporalio", "temporal"), ("redis", "redis")):
    if importlib.util.find_spec(_module) is None:  # pragma: no cover - depends on the install
        raise MissingExtraError("keel.worker", _extra)

from keel.worker.client import RemoteRun, TemporalRuns  # noqa: E402
from keel.worker.runner import run_worker  # noqa: E402
from keel.worker.wire import RunRequest  # noqa: E402

__all__ = ["RemoteRun", "RunRequest", "TemporalRuns", "run_worker"]
