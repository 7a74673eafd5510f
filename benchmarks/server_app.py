"""The app `benchmarks/server.py` and `benchmarks/soak.py` serve: one agent on an instant
model (`test:echo`).

With `KEEL_SOAK_PROBE` set to a directory (by `benchmarks/soak.py`), a thread records
where the process's memory goes (`benchmarks/soak_probe.py`) every
`KEEL_SOAK_PROBE_EVERY` seconds (30 by default)."""

import os

from keel import Agent, App

app = App(agents=[Agent(name="echo", model="test:echo")])

if probe_dir := os.environ.get("KEEL_SOAK_PROBE"):
    from benchmarks.soak_probe import start

    start(app, probe_dir, float(os.environ.get("KEEL_SOAK_PROBE_EVERY", "30")))
