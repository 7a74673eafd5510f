"""A streamed model call: text flows out as it is generated, through `stream_output`.

The middleware chain around a model call is a chain of awaits that returns one
`ModelResponse`; text generated on the way must reach the caller before that. So the
call runs as a task whose innermost handler pushes text into a queue, and this generator
drains the queue through the output-stream middleware as `TextDelta` events. Closing the
generator (a client that went away) cancels the task, and with it the generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from keel._run.active import ActiveRun
from keel._run.model_call import suspend_model_call
from keel.events import TextDelta
from keel.middleware import ModelCall, SuspendRun

__all__ = ["stream_model_call"]

_END = object()


async def stream_model_call(run: ActiveRun, call: ModelCall) -> AsyncGenerator[TextDelta]:
    """Yield the text as it comes; the response is left in `run.response` (None when a
    middleware suspended the run before the model was called)."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    run.text_sink, run.response = queue.put_nowait, None
    task = asyncio.ensure_future(run.pipeline.model(call))
    task.add_done_callback(lambda _: queue.put_nowait(_END))
    try:
        async for text in run.pipeline.stream(run.context, _drain(queue)):
            yield TextDelta(run.context, text)
        run.response = await task
    except SuspendRun as suspension:
        await suspend_model_call(run, suspension)
    finally:
        run.text_sink = None
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _drain(queue: asyncio.Queue[object]) -> AsyncIterator[str]:
    while (item := await queue.get()) is not _END:
        assert isinstance(item, str)
        yield item
