"""The app `benchmarks/vs_litellm.py` serves: one agent named like the upstream model,
calling the OpenAI-wire upstream at `$KEEL_BENCH_UPSTREAM` (an instant fake LLM), and
one, `scripted`, on an instant in-process model (no upstream: Keel's own cost alone)."""

import os

from keel import Agent, App
from keel.models.openai import OpenAIModel
from keel.testing.models import FunctionModel

upstream = OpenAIModel(
    "gpt-4o-mini", base_url=os.environ["KEEL_BENCH_UPSTREAM"], api_key="sk-bench"
)
scripted = FunctionModel(lambda request: "ok", model_name="scripted")
app = App(
    agents=[Agent(name="gpt-4o-mini", model=upstream), Agent(name="scripted", model=scripted)]
)
