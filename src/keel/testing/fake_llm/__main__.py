"""`python -m keel.testing.fake_llm openai|anthropic [--status N] [--delay S]`: serve a
fake LLM on 127.0.0.1 (a free port) until killed; prints `ready <base_url>` first.

Benchmarks run it in a process of its own, so its work does not share the GIL with the
client being measured. `--status` answers every request with that HTTP error.
"""

from __future__ import annotations

import argparse
import sys
import threading

from keel.testing.fake_llm import FakeLLMServer, FakeReply, Fault


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m keel.testing.fake_llm")
    parser.add_argument("wire", choices=["openai", "anthropic"])
    parser.add_argument("--status", type=int, default=None, help="answer every request so")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering")
    args = parser.parse_args(argv)
    server = FakeLLMServer(args.wire, default=FakeReply("ok", delay=args.delay))
    if args.status is not None:
        server.next_answer = lambda request: Fault.http(args.status)  # type: ignore[method-assign]
    server.start()
    print(f"ready {server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        sys.exit(0)


if __name__ == "__main__":
    main()
