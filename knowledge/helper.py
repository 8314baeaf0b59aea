"""A helper process for large imports: it decides half of each batch of rows while the
importing process decides the other half (knowledge/usecases/imports.py, `decide`).

The helper opens the same database read-only, with its own unit of work, which keeps its
matcher in step from the change log as every exchange does, including the import's own
rows, hidden from everyone else. It never writes: the importing process writes every row.
Started with "spawn" (a fork of a process with threads is unsafe), it builds its matcher
while the importer builds its own and reads the file.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from knowledge.config import Settings
from knowledge.exchange import Exchange

log = logging.getLogger(__name__)

_exchange: Exchange | None = None  # the helper process's own, read-only


def _start(settings_json: str) -> None:
    global _exchange
    _exchange = Exchange.open(Settings.model_validate_json(settings_json), read_only=True)


def _ready() -> bool:
    return _exchange is not None


def _decide(import_id: int, texts: Sequence[str], start: int, best_matches: bool) -> list[Any]:
    from knowledge.usecases.imports import decide

    assert _exchange is not None
    uow = _exchange.uow
    uow.own_import = import_id  # this import's hidden rows are matched too
    return decide(uow, texts, start, len(texts), best_matches=best_matches)


class ImportHelper:
    """One helper process, started at once; `close` stops it. It takes `share` of each
    batch, tuned so that neither process waits long for the other."""

    def __init__(self, settings: Settings) -> None:
        self.share = 0.4
        self.answered = 0  # batches it decided its share of
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(settings.model_dump_json(),),
        )
        self._pool.submit(_ready)  # start it now: its matcher builds meanwhile

    @staticmethod
    def worth_it() -> bool:
        """Whether a helper can run beside this process (another core is free)."""
        return (os.cpu_count() or 1) >= 2

    def decide(
        self, import_id: int, texts: Sequence[str], start: int, *, best_matches: bool
    ) -> Future[list[Any]]:
        return self._pool.submit(_decide, import_id, list(texts), start, best_matches)

    def waited(self, seconds: float) -> None:
        self.answered += 1
        # The importer waited: the helper had too much (it also indexes the rows written
        # since the last batch); it did not: it could take more.
        step = -0.01 if seconds > 0.005 else 0.01
        self.share = min(0.5, max(0.2, self.share + step))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
