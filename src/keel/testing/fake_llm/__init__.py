"""Local fake LLM servers speaking the OpenAI and Anthropic wire formats, with faults.

from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault

with FakeLLMServer("openai") as server:
    server.script(Fault.http(429, retry_after=2), FakeReply("hello"))
    model = OpenAIModel("gpt-4o", base_url=server.base_url, api_key="test")
"""

from keel.testing.fake_llm._script import Answer, FakeReply, FakeToolCall, Fault
from keel.testing.fake_llm._server import FakeLLMServer, RecordedRequest, Wire

__all__ = [
    "Answer",
    "FakeLLMServer",
    "FakeReply",
    "FakeToolCall",
    "Fault",
    "RecordedRequest",
    "Wire",
]
