"""The unit of work: one use case's transaction, and the matcher kept in step with it.

A use case writes `with uow:` and reaches the database only through the unit of work's
gateways (`uow.questions`, `uow.asks`, `uow.outbox` …). Leaving the block commits (or, on
an exception, rolls back); then the unit of work brings the duplicate matcher up to date
for exactly the questions the database's change log says were touched — by this use
case, or by another process since the last one. No use case touches the matcher's index.

Nested blocks are savepoints: a failed inner one rolls back alone, and each one's
questions are indexed as soon as it succeeds. Whatever rolls back, the questions indexed
since that level began are read again from the database as it then is, so the matcher
never holds what the database does not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol, Self

from knowledge.errors import StoreError
from knowledge.matching import Likely, Match, Matcher, Scale
from knowledge.normalise import Normaliser
from knowledge.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class MatcherView(Protocol):
    """What a use case may do with the matcher: ask it, never change it."""

    normalise: Normaliser
    scale: Scale
    related_threshold: float

    def find(self, text: str, limit: int = 5) -> list[Match]: ...

    def find_duplicate(self, text: str) -> Match | None: ...

    def likely(self, text: str) -> Likely | None: ...

    def prepare(self, texts: Sequence[str]) -> None: ...

    def __len__(self) -> int: ...


class UnitOfWork:
    """One transaction over the store's gateways, the clock, and the questions touched."""

    def __init__(self, store: Store, matcher: Matcher, clock: Clock = utc_now) -> None:
        self.store = store
        self.clock = clock
        self._matcher = matcher
        self.officers = store.officers
        self.personal = store.personal
        self.questions = store.questions
        self.asks = store.asks
        self.drafts = store.drafts
        self.answers = store.answers
        self.outbox = store.outbox
        self.reports = store.reports
        self.events = store.events
        self.facts = store.facts
        self.imports = store.imports
        self.proposals = store.proposals
        self.replies = store.replies
        self.notes = store.notes
        self.published = store.published
        # How far this process has read the change log (every change up to it is indexed).
        self._seen = 0
        # Per open level (transaction, then savepoints): the log position when it began,
        # and the questions indexed since, to read again if it rolls back.
        self._levels: list[tuple[int, set[int]]] = []
        self._flush_pending = False  # an erasure's checkpoint is still to be done
        # The import this process is running, whose hidden rows its matcher sees (see
        # `begin_import`), and how many of its rows are indexed provisionally so far.
        self.own_import: int | None = None
        self.rows_indexed = 0

    @classmethod
    def open(
        cls,
        store: Store,
        matcher: Matcher,
        clock: Clock = utc_now,
        progress: Callable[[str], None] | None = None,
    ) -> UnitOfWork:
        """A unit of work whose matcher holds every live question in the database.

        The log position is read in the same snapshot as the wordings, so a question
        another process commits while the index is built is caught up at the next use case.
        `progress` hears how the build goes while the model encodes wordings that have no
        stored vector (the first start with matching by meaning, or with a new model).
        """
        uow = cls(store, matcher, clock)
        uow.rebuild_matcher(progress)
        return uow

    @property
    def matcher(self) -> MatcherView:
        if self.own_import is None and self._matcher.has_spares:
            self._matcher.drop_spares()  # nothing provisional is found outside an import
        return self._matcher

    def begin_import(self, import_id: int) -> None:
        """From now on this process runs import `import_id`: its hidden rows are indexed
        too, and its rows are indexed provisionally as they are decided (`provisional`)."""
        self.end_import()
        self.own_import = import_id

    def unindex_rows(self, kept: int) -> None:
        """Forget the import's rows indexed provisionally after the first `kept` (to decide
        them here after all, each against the rows before it alone)."""
        for row in range(kept, self.rows_indexed):
            self._matcher.remove(-(row + 1))
        self.rows_indexed = min(self.rows_indexed, kept)

    def forget_provisional(self) -> None:
        """Forget the import's provisional wordings no written question took over (every
        row is written: the import completes)."""
        self._matcher.drop_spares()

    def end_import(self) -> None:
        """The import ended (completed or abandoned): forget its provisional wordings."""
        self._matcher.drop_spares()
        self.own_import = None
        self.rows_indexed = 0

    def now(self) -> datetime:
        return self.clock()

    def flush_to_disk(self) -> None:
        """After a commit that erased personal data: make sure the files no longer hold it
        (if a reader elsewhere holds the log open, it is tried again after each commit).
        Never raises: what it follows is already committed."""
        try:
            self._flush_pending = not self.store.database.checkpoint()
        except StoreError as error:
            self._flush_pending = True
            log.warning("could not empty the write-ahead log yet (%s)", error)
        if self._flush_pending:
            log.warning("the write-ahead log is in use elsewhere; erasing it after a later commit")

    @property
    def touched(self) -> set[int]:
        """The questions this unit of work has re-indexed so far (empty outside one)."""
        return self._levels[0][1] if self._levels else set()

    # -- the transaction -----------------------------------------------------------------

    def __enter__(self) -> Self:
        database = self.store.database
        if database.depth == 0:
            # Most of what other processes wrote (a large import's worth, say) is indexed
            # before taking the write lock, so nobody else waits while it is.
            self.catch_up()
        database.begin()
        self._levels.append((self._seen, set()))
        if database.depth == 1:
            try:
                self._catch_up(other_writers=True)  # before this use case reads anything
            except BaseException:
                self._undo()
                raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            self._undo()
            return
        database = self.store.database
        try:
            if database.depth > 1:
                database.commit()  # a savepoint: index its questions now, for the next one
                _, indexed = self._levels.pop()
                self._levels[-1][1].update(indexed)
                self._catch_up(other_writers=False)
                return
            position, wordings = self._pending()
            database.commit()
        except BaseException:
            self._undo()
            raise
        self._levels.pop()
        self._apply(wordings)
        self._seen = position
        if self._flush_pending:
            self.flush_to_disk()

    def _undo(self) -> None:
        """Roll back the innermost level (all of them, if SQLite cancelled the whole
        transaction), then index the questions re-indexed since it began as the database
        now has them, and read the change log again from where it stood then."""
        if not self._levels:
            return  # an inner level found the whole transaction cancelled and undid it all
        database = self.store.database
        database.rollback()
        seen, indexed = self._levels.pop()
        while len(self._levels) > database.depth:
            seen, outer = self._levels.pop()
            indexed |= outer
        if self._levels:
            self._levels[-1][1].update(indexed)  # the outer level may be undone too
        self._seen = seen
        if indexed:
            self._apply(self._wordings(indexed))

    # -- keeping the matcher in step -------------------------------------------------------

    def _pending(self) -> tuple[int, dict[int, list[str]]]:
        """(log position, wordings) of every question changed since the matcher last looked,
        read inside the transaction, so they are exactly what is being committed."""
        changes = self.store.changes
        changed = changes.since(self._seen)
        # The log cannot have been trimmed past us: we caught up on entering, and only a
        # writer trims, under the write lock we hold.
        assert changed is not None
        position, ids = changed
        changes.trim()
        wordings = self._wordings(ids)
        self._store_vectors([text for texts in wordings.values() for text in texts])
        return position, wordings

    def _store_vectors(self, texts: list[str]) -> None:
        """Store the vectors of wordings being committed that have none stored yet (they
        were mostly computed already, checking the question before it was written)."""
        semantic = self._matcher.semantic
        if semantic is None or not texts:
            return
        model = semantic.embedder.model_id
        missing = self.store.vectors.missing(model, texts)
        if missing:
            self.store.vectors.save(model, dict(zip(missing, semantic.get(missing), strict=True)))

    def _catch_up(self, *, other_writers: bool) -> None:
        """Index, inside the open transaction, whatever changed since the matcher looked."""
        changed = self.store.changes.since(self._seen)
        if changed is None:
            self.rebuild_matcher()
            return
        position, ids = changed
        if ids:
            self._apply(self._wordings(ids))
            if self._levels:
                self._levels[-1][1].update(ids)
            if other_writers:
                log.info("caught up with %s questions changed by another writer", len(ids))
        self._seen = position

    def _wordings(self, ids: set[int]) -> dict[int, list[str]]:
        return self.store.questions.wordings(ids, own_import=self.own_import)

    @contextmanager
    def provisional(self) -> Iterator[Callable[[int, str], None]]:
        """Index rows of this process's import by their text while deciding them, so a
        later row can match an earlier one not yet written: row n (from 0, across the whole
        import, in order) under the provisional id -(n + 1). They are never forgotten until
        the import ends (`end_import`), whether written yet or not, so every row is decided
        against the same wordings in whichever process decides it and whenever it is
        written: the question written for a row takes its wording over when the change log
        brings it (`Matcher.set_aside`, `replace`), instead of indexing it again."""
        if self.own_import is None:
            raise RuntimeError("rows are indexed provisionally only during an import")
        keys: list[tuple[int, str]] = []

        def add(key: int, text: str) -> None:
            if key != -(self.rows_indexed + 1):
                raise ValueError(f"row {-key - 1} indexed out of turn ({self.rows_indexed} are)")
            self._matcher.add(key, text)
            keys.append((key, text))
            self.rows_indexed += 1

        try:
            yield add
        except BaseException:
            for key, _ in keys:
                self._matcher.remove(key)
            self.rows_indexed -= len(keys)
            raise
        for key, text in keys:
            self._matcher.set_aside(key, text)

    def catch_up(self) -> None:
        """Index what other processes changed, now, without taking the write lock."""
        with self.store.database.reading():
            self._catch_up(other_writers=True)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads that must agree (one web page, say), in one snapshot; what other processes
        changed is indexed first, so the matcher agrees with it too."""
        self.catch_up()
        with self.store.database.reading():
            yield

    def _apply(self, wordings: dict[int, list[str]]) -> None:
        matcher = self._matcher
        for question_id, texts in wordings.items():
            matcher.replace(question_id, texts)

    def rebuild_matcher(self, progress: Callable[[str], None] | None = None) -> None:
        """Index every live question afresh (at start, or after falling behind the log)."""
        fresh = self._matcher.emptied()
        encoded: dict[str, Any] = {}
        with self.store.database.reading():  # one snapshot: position and wordings agree
            position = self.store.changes.latest()
            if fresh.semantic is None:
                fresh.add_many(self.store.questions.all_wordings())
            else:
                wordings = list(self.store.questions.all_wordings())

                def said(done: int) -> None:
                    if encoded and progress is not None:  # only while the model works
                        progress(
                            f"indexing {done:,}/{len(wordings):,} wordings "
                            f"({len(encoded):,} encoded by the model)"
                        )

                with fresh.semantic.collecting() as encoded:
                    fresh.add_many(wordings, said)
        writable = not self.store.database.read_only
        if encoded and fresh.semantic is not None and writable:  # wordings with no vector yet
            with self.store.database.transaction():
                self.store.vectors.save(fresh.semantic.embedder.model_id, encoded)
            log.info("stored %s new wording vectors", len(encoded))
        self._matcher = fresh
        self._seen = position
        log.info("matcher ready with %s questions: %s", len(fresh), fresh.mode)
