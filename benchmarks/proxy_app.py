"""The app `benchmarks/vs_litellm.py` serves: one agent named like the upstream model,
calling the OpenAI-wire upstream at `$KEEL_BENCH_UPSTREAM` (an instant fake LLM)."""

import os

from keel import Agent, App
from keel.models.openai import OpenAIModel

upstream = OpenAIModel(
    "gpt-4o-mini", base_url=os.environ["KEEL_BENCH_UPSTREAM"], api_key="sk-bench"
)
app = App(agents=[Agent(name="gpt-4o-mini", model=upstream)])
