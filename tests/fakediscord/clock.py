"""The fake's clock: an event loop whose time skips what it would spend idle.

Discord's rules run on time (the 3-second rule, 15-minute interaction tokens, rate-limit
windows, the nonce window), and so does discord.py (its rate limiter sleeps, a 5xx is
retried after 1, 3, 5, 7 seconds). Waiting for them in real time would make the tests slow,
and shortening them would make the fake looser than Discord. So the tests run on this loop:
when nothing is ready to run, no I/O is pending and no job is running on an executor thread
(the exchange's own thread is one), the loop jumps its clock to the next timer instead of
sleeping. Work still takes the real time it takes, so the clock is never behind real time:
a bot that is slow for real still misses a deadline.

Time passes in a test as it does in the bot: ``await asyncio.sleep(900)`` takes no real time
and moves every clock on the loop (discord.py's buckets, the fake's rules) by 15 minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


class _SkippingSelector:
    """The loop's selector, except that an idle wait for a timer is skipped, not slept."""

    def __init__(self, inner: selectors.BaseSelector, loop: IdleSkippingLoop) -> None:
        self._inner, self._loop = inner, loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0 or self._loop.busy_threads:
            return self._inner.select(timeout)
        ready = self._inner.select(0)
        if not ready:
            self._loop.skipped += timeout  # nothing can happen before the next timer
        return ready

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class IdleSkippingLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is real time plus the idle waits it skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped = 0.0
        self.busy_threads = 0  # executor jobs submitted and not yet finished
        self._selector = _SkippingSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return super().time() + self.skipped

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        # A job keeps the loop from skipping until its thread is done with it and its result
        # (or cancellation) has reached the loop, whichever comes last.
        parts = {"thread", "result"}

        def done(part: str) -> None:
            parts.discard(part)
            if not parts:
                self.busy_threads -= 1

        def job() -> T:
            try:
                return func(*args)
            finally:
                # Also wakes the selector, so the loop looks again before skipping; the loop
                # may have closed meanwhile.
                with contextlib.suppress(RuntimeError):
                    self.call_soon_threadsafe(done, "thread")

        self.busy_threads += 1
        try:
            future = super().run_in_executor(executor, job)
        except BaseException:
            self.busy_threads -= 1
            raise
        future.add_done_callback(lambda _: done("result"))
        return future


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on an IdleSkippingLoop."""
    with asyncio.Runner(loop_factory=IdleSkippingLoop) as runner:
        return runner.run(coro)
