"""The gateway's `Deadline` behaves as `asyncio.timeout` does for one await."""

from __future__ import annotations

import asyncio

import pytest

from keel.tools.gateway.deadline import Deadline


async def _within(seconds: float, delay: float) -> str:
    deadline = Deadline(seconds)
    try:
        await asyncio.sleep(delay)
    except BaseException as exc:
        deadline.stop(exc)
        raise
    deadline.stop()
    return "done"


async def test_work_that_finishes_in_time_is_not_cancelled_later() -> None:
    assert await _within(0.05, 0) == "done"
    await asyncio.sleep(0.1)  # the timer was disarmed: nothing cancels this task now
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_work_past_its_deadline_raises_timeout_error_and_leaves_no_cancel_behind() -> None:
    with pytest.raises(TimeoutError):
        await _within(0.01, 10)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_cancel_from_outside_stays_a_cancellation() -> None:
    task = asyncio.create_task(_within(10, 10))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancel_after_expiry_is_not_swallowed() -> None:
    async def expire_then_cancel() -> str:
        deadline = Deadline(0.01)
        me = asyncio.current_task()
        assert me is not None
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError as exc:
            me.cancel()  # someone else asks too, before the deadline's handling
            deadline.stop(exc)
            raise
        return "unreachable"

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(expire_then_cancel())
