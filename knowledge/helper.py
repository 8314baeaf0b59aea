"""A helper process for large imports: it decides the later rows of each batch while the
importing process decides the first ones (knowledge/usecases/imports.py, `decide`), and
is given its rows of the next batch at once, so it works on them while the importer
writes this one.

The helper opens the same database read-only, with its own unit of work, which keeps its
matcher in step from the change log as every exchange does, including the import's own
rows, hidden from everyone else. It indexes every row of the import provisionally, as the
importer does, so both decide each row against the same wordings. It never writes: the
importing process writes every row. Started with "spawn" (a fork of a process with threads
is unsafe), it builds its matcher while the importer builds its own and reads the file.
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
from knowledge.semantic import expected_on

log = logging.getLogger(__name__)

_exchange: Exchange | None = None  # the helper process's own, read-only
_unusable = ""  # why it could not open one, if it could not
# The bounds of the share of each batch the helper decides.
LEAST, MOST = 0.2, 0.9


class HelperUnavailable(RuntimeError):
    """The helper could not open the database: the importer decides every row itself."""


def _start(settings_json: str) -> None:
    # Started while the importer opens the database, it may find one the importer is
    # upgrading, or none usable (the importer then says why): it says nothing, and each
    # request it is sent is refused, so the importer decides those rows itself.
    global _exchange, _unusable
    try:
        _exchange = Exchange.open(Settings.model_validate_json(settings_json), read_only=True)
    except Exception as error:  # any reason: it only ever helps
        _unusable = str(error) or type(error).__name__


def _ready() -> bool:
    return _exchange is not None


def _decide(
    import_id: int, texts: Sequence[str], first: int, start: int, best_matches: bool
) -> list[Any]:
    from knowledge.usecases.imports import decide

    if _exchange is None:
        raise HelperUnavailable(f"the helper could not open the database: {_unusable}")
    uow = _exchange.uow
    if uow.own_import != import_id:
        uow.begin_import(import_id)  # its hidden rows are matched too
    return decide(uow, texts, first, start, len(texts), best_matches=best_matches)


class ImportHelper:
    """One helper process, started at once; `close` stops it. It takes `share` of each
    batch, tuned so that neither process waits long for the other."""

    def __init__(self, settings: Settings) -> None:
        self.share = 0.5
        self.answered = 0  # batches it decided its share of
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(settings.model_dump_json(),),
        )
        self._pool.submit(_ready)  # start it now: its matcher builds meanwhile

    @staticmethod
    def worth_it(settings: Settings) -> bool:
        """Whether a helper pays: another core is free, and matching is lexical. Matching
        by meaning, each process would encode every row with the model, which already uses
        every core: 2,000 rows into 2,000 took 71 s with a helper against 40 s without."""
        lexical = not expected_on(settings.matching.semantic, settings.matching.model)
        return lexical and (os.cpu_count() or 1) >= 2

    def decide(
        self, import_id: int, texts: Sequence[str], first: int, start: int, *, best_matches: bool
    ) -> Future[list[Any]]:
        return self._pool.submit(_decide, import_id, list(texts), first, start, best_matches)

    def waited(self, seconds: float) -> None:
        self.answered += 1
        # The importer waited: the helper had too much (it also indexes the importer's
        # rows); it did not: it could take more. It may take most of a batch, as the
        # importer also writes every row (while the helper starts on the next batch).
        # It backs off at once and creeps up slowly, so the importer seldom waits.
        step = -0.05 if seconds > 0.005 else 0.01
        self.share = min(MOST, max(LEAST, self.share + step))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
