"""`python -m keel.testing.fake_llm`: a fake server in a process of its own."""

from __future__ import annotations

import subprocess
import sys

import openai


async def test_the_command_serves_until_stopped_and_can_fail_every_request() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "keel.testing.fake_llm", "openai", "--status", "503"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        word, url = process.stdout.readline().split()
        assert word == "ready"
        client = openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0)
        try:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}]
            )
        except openai.InternalServerError as error:
            assert error.status_code == 503
        else:
            raise AssertionError("the server was told to answer 503")
    finally:
        process.terminate()
        assert process.wait(timeout=10) is not None
