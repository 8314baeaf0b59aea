"""Running the exchange from asyncio front ends without blocking the event loop.

SQLite connections belong to the thread that opened them, so the exchange (its store and
its matcher) lives on one dedicated thread for its whole life; coroutines hand it work
and await the result. One writer thread also serialises every use case, which is what
keeps concurrent publishes or identical asks from interleaving.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from knowledge.exchange import Exchange

T = TypeVar("T")
P = ParamSpec("P")


class ExchangeThread:
    """Owns an Exchange on a single worker thread; `await run(method, ...)` calls it there."""

    def __init__(self, open_exchange: Callable[[], Exchange]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exchange")
        # Built on the worker thread, so the SQLite connection belongs to it.
        self._exchange = self._executor.submit(open_exchange).result()

    async def run(
        self, method: Callable[Concatenate[Exchange, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Call `method(exchange, *args, **kwargs)` on the exchange's thread."""
        loop = asyncio.get_running_loop()
        call = functools.partial(method, self._exchange, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    def run_sync(
        self, method: Callable[Concatenate[Exchange, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """The same, from synchronous code (start-up, shutdown, tests)."""
        return self._executor.submit(method, self._exchange, *args, **kwargs).result()

    def close(self) -> None:
        """Close the database on its own thread and stop the thread."""
        self._executor.submit(self._exchange.close).result()
        self._executor.shutdown(wait=True)
