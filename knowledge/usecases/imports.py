"""Importing a question list beside the running exchange: the rows are de-duplicated like
/ask, matched outside the write lock, written in short transactions, and kept out of
sight until the whole import completes, so it is all or nothing and nobody waits for it."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from knowledge import text as texts
from knowledge.addresses import Address
from knowledge.config import Settings
from knowledge.errors import InvalidInput, NotAllowed
from knowledge.models import LIVE_STATUSES, Actor, Link, Officer, Role, Status
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules
from knowledge.usecases.expert import ExpertUseCases

log = logging.getLogger(__name__)

# An import that has written nothing for this long is taken to have died; its hidden rows
# are removed. Each batch of rows keeps it alive, so only a dead import is ever this quiet.
ABANDONED_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class ImportedRow:
    """One checked row of an import file."""

    line: int
    text: str
    authority: str
    officer: str
    topic: str | None
    asked_at: datetime
    answer: str | None = None
    links: tuple[str, ...] = ()


@dataclass
class ImportSession:
    """An import in progress: what it has written so far (all hidden until it completes)."""

    id: int
    created: set[int] = field(default_factory=set)  # questions it added
    asking: set[tuple[int, int]] = field(default_factory=set)  # (officer, question) it added
    # (question, what the audit trail records of the row) per row
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    answers: list[tuple[int, ImportedRow]] = field(default_factory=list)  # to write at the end
    answering: set[int] = field(default_factory=set)  # the questions of `answers`
    # Officers it has saved, by (officer, authority) as the file gives them: a file names
    # the same few officers many times, so saving (and checking) each once is enough.
    officers: dict[tuple[str, str], Officer] = field(default_factory=dict)
    topics: dict[str | None, str] = field(default_factory=dict)  # as given -> configured
    # The question each row written so far became, in row order (a decision names an
    # earlier row as -(n + 1)).
    by_row: list[int] = field(default_factory=list)
    # The helper's decisions asked for ahead, by the first row of their batch.
    ahead: dict[int, _Asked] = field(default_factory=dict)
    helper_failed: bool = False  # it failed once: this import goes on without it
    failed: bool = False  # a batch failed to be written: the import can only be abandoned


@dataclass(frozen=True, slots=True)
class _Asked:
    first: int  # the batch's first row
    split: int  # the helper decides the batch's rows from this one
    decisions: Future[list[_Decision]]


@dataclass(frozen=True, slots=True)
class ImportResult:
    answered: int
    release: int | None
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """What became of one row of an import.

    `outcome` is "new" (a question of its own), "joined" (another ask of an existing
    question, or of an earlier row, in the same words), "present" (this officer's ask was
    already there: a file imported twice) or "proposed" (a question of its own, likely the
    same as `best` but not in the same words, so a merge is proposed to the expert).
    `best` and `score` are the best match found (for "new", only when asked for: it costs
    a full check).
    """

    line: int
    outcome: str
    question_id: int
    best: int | None = None
    score: float | None = None
    differs: str | None = None


# A decision's question is an existing question, or (negative) the earlier row of the
# import it matched: row n (from 0, across the whole file) is -(n + 1).

# Batches smaller than this are decided in this process alone (a helper's round trip would
# cost more than it saves).
HELPED_BATCH = 64


@dataclass(frozen=True, slots=True)
class _New:
    best: int | None = None  # the best match under the duplicate mark, when asked for
    score: float | None = None


@dataclass(frozen=True, slots=True)
class _Join:
    question_id: int
    score: float


@dataclass(frozen=True, slots=True)
class _Propose:
    question_id: int
    score: float
    differs: str | None


_Decision = _New | _Join | _Propose


class DecisionHelper(Protocol):
    """Another process deciding rows `start:` of a batch (see `decide`), for this import."""

    # The share of each batch it takes.
    share: float

    def decide(
        self,
        import_id: int,
        wordings: Sequence[str],
        first: int,
        start: int,
        *,
        best_matches: bool,
    ) -> Future[list[_Decision]]: ...

    def waited(self, seconds: float) -> None:
        """How long the importer waited for its last decisions (it tunes its share)."""


def decide(
    uow: UnitOfWork,
    wordings: Sequence[str],
    first: int,
    start: int,
    end: int,
    *,
    best_matches: bool,
) -> list[_Decision]:
    """Decisions for rows `start:end` of a batch of `wordings` whose first row is row
    `first` of the import: each row matched against the stored questions and every earlier
    row of the import, which are indexed provisionally (`UnitOfWork.provisional`) until the
    import ends, written or not. Every earlier row is, whatever was decided about it (a
    row joining a question in the same words too), so a decision depends on the earlier
    rows' words alone: any process that has indexed them decides a row alike, so the
    batch can be shared with a helper process, which may even run a batch ahead of the
    rows being written."""
    uow.catch_up()
    matcher = uow.matcher
    behind = uow.rows_indexed - first  # rows of this batch not yet indexed here, from
    if not 0 <= behind <= start:
        raise RuntimeError(
            f"rows {first + start}-{first + end - 1} cannot be decided here: "
            f"{uow.rows_indexed} rows are indexed"
        )
    matcher.prepare(list(wordings[behind:end]))  # vectors in one batch, if on
    decisions: list[_Decision] = []
    with uow.provisional() as index:
        for n in range(behind, start):
            index(-(first + n + 1), wordings[n])
        for n in range(start, end):
            text = wordings[n]
            likely = matcher.likely(text)
            if likely is not None and likely.same_wording:
                decisions.append(_Join(likely.match.question_id, likely.match.score))
            elif likely is not None:
                match = likely.match
                decisions.append(_Propose(match.question_id, match.score, match.differs))
            elif best_matches and (found := matcher.find(text, limit=1)):
                decisions.append(_New(found[0].question_id, found[0].score))
            else:
                decisions.append(_New())
            index(-(first + n + 1), text)
    return decisions


def index_rows(uow: UnitOfWork, wordings: Sequence[str], first: int) -> None:
    """Index provisionally the rows of a batch not yet indexed here (those another process
    decided), so that this one can decide the rows after them."""
    behind = uow.rows_indexed - first
    if behind < len(wordings):
        uow.matcher.prepare(list(wordings[behind:]))
        with uow.provisional() as index:
            for n in range(behind, len(wordings)):
                index(-(first + n + 1), wordings[n])


class ImportUseCases:
    """Begin an import, add its rows batch by batch, then complete it (or abandon it)."""

    def __init__(self, uow: UnitOfWork, settings: Settings, expert: ExpertUseCases) -> None:
        self.uow = uow
        self.settings = settings
        self.expert = expert

    def begin_import(self, actor: Actor) -> ImportSession:
        """Start an import (removing the rows of any that died earlier)."""
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert or an exchange admin can import questions.")
        self.remove_abandoned_imports()
        with self.uow as uow:
            import_id = uow.imports.begin(rules.officer(uow, actor).id, uow.now())
        self.uow.begin_import(import_id)
        return ImportSession(import_id)

    def import_rows(
        self,
        actor: Actor,
        session: ImportSession,
        rows: Sequence[ImportedRow],
        *,
        best_matches: bool = False,
        helper: DecisionHelper | None = None,
        upcoming: Sequence[Sequence[ImportedRow]] = (),
    ) -> list[RowOutcome]:
        """Add a batch of rows to the import (see `RowOutcome`). Nobody is there to confirm
        a match, so a row joins a question only when it is the same question in all but
        case, punctuation, spelling and glossary forms; any other likely match becomes a
        question of its own and a merge proposed to the expert, so an import never hides a
        question behind another. With `best_matches`, a new row's best match under the
        duplicate mark is found too (for `import --report`). A `helper` (knowledge/helper.py)
        decides a share of each large batch in another process, and is given its share of
        the `upcoming` batches at once, to decide while this one is written."""
        if session.failed:
            raise RuntimeError(f"import {session.id} failed part-way: abandon it, start again")
        decisions = self._decide(
            session, rows, best_matches=best_matches, helper=helper, upcoming=upcoming
        )
        outcomes: list[RowOutcome] = []
        with self.uow as uow:
            now = uow.now()
            uow.imports.heartbeat(session.id, now)
            try:
                for row, decision in zip(rows, decisions, strict=True):
                    outcome = self._write(uow, session, row, decision)
                    session.by_row.append(outcome.question_id)
                    outcomes.append(outcome)
            except BaseException:
                # Rolled back part-way: what the session holds of the batch (its officers,
                # questions, rows) is not in the database. The import cannot go on; it is
                # abandoned (importer.import_file does), and can be started again.
                session.failed = True
                raise
        return outcomes

    def _decide(
        self,
        session: ImportSession,
        rows: Sequence[ImportedRow],
        *,
        best_matches: bool,
        helper: DecisionHelper | None,
        upcoming: Sequence[Sequence[ImportedRow]],
    ) -> list[_Decision]:
        """What each row is, decided from the matcher alone, outside the write lock. With a
        `helper` (another process), it decides the later rows of a large batch while this
        one decides the first ones: the same decisions, in less time."""
        wordings = [row.text for row in rows]
        first = len(session.by_row)
        if helper is not None and session.helper_failed:
            helper = None
        asked = session.ahead.pop(first, None)
        if asked is None:
            asked = self._ask_helper(session, helper, wordings, first, best_matches)
        # Its share of the next batches too, to start on as soon as it is free: a batch
        # that takes it longer than usual then makes nobody wait.
        after = first + len(rows)
        for batch in upcoming:
            if helper is not None and after not in session.ahead:
                texts = [row.text for row in batch]
                if next_asked := self._ask_helper(session, helper, texts, after, best_matches):
                    session.ahead[after] = next_asked
            after += len(batch)
        split = asked.split if asked is not None else len(wordings)
        decisions = decide(self.uow, wordings, first, 0, split, best_matches=best_matches)
        if asked is None:
            return decisions
        # The helper's rows, indexed while it decides them (the next batch needs them).
        index_rows(self.uow, wordings, first)
        later: list[_Decision] | None = None
        try:
            started = time.perf_counter()
            later = asked.decisions.result()
            if helper is not None:
                helper.waited(time.perf_counter() - started)
        except Exception as error:
            _helper_failed(error)
            session.helper_failed = True
            session.ahead.clear()
        if later is None:  # this process decides the helper's rows too: the same decisions
            self.uow.unindex_rows(first + split)  # each is decided against those before it
            later = decide(
                self.uow, wordings, first, split, len(wordings), best_matches=best_matches
            )
        return decisions + later

    @staticmethod
    def _ask_helper(
        session: ImportSession,
        helper: DecisionHelper | None,
        wordings: list[str],
        first: int,
        best_matches: bool,
    ) -> _Asked | None:
        """Give the helper its share of a batch (none for a small one: the round trip
        would cost more than it saves)."""
        if helper is None or session.helper_failed or len(wordings) < HELPED_BATCH:
            return None
        split = len(wordings) - round(len(wordings) * helper.share)
        try:
            future = helper.decide(session.id, wordings, first, split, best_matches=best_matches)
        except Exception as error:  # the helper cannot start or has died
            _helper_failed(error)
            session.helper_failed = True
            return None
        return _Asked(first, split, future)

    @staticmethod
    def _target(uow: UnitOfWork, session: ImportSession, question_id: int) -> int | None:
        """The question a decision names, as it stands now that we write: the question an
        earlier row of the import became, or a question still live (it may have changed
        meanwhile)."""
        if question_id < 0:
            return session.by_row[-question_id - 1]
        if question_id in session.created:
            return question_id
        existing = uow.questions.get(question_id)
        return existing.id if existing is not None and existing.status in LIVE_STATUSES else None

    def _write(
        self,
        uow: UnitOfWork,
        session: ImportSession,
        row: ImportedRow,
        decision: _Decision,
    ) -> RowOutcome:
        settings = self.settings
        now = uow.now()  # when the import added them (the row's date is its ask's)
        asker = session.officers.get((row.officer, row.authority))
        if asker is None:
            name = texts.display_name(row.officer)
            key = str(Address.imported(name, row.authority))
            asker = rules.assign_authority(
                uow, settings, uow.officers.save(key, name, now), row.authority, now
            )
            session.officers[row.officer, row.authority] = asker
        assert asker.authority_id is not None
        best = decision.best if isinstance(decision, _New) else decision.question_id
        target = None if best is None else self._target(uow, session, best)
        if not isinstance(decision, _Join) or target is None:
            topic = session.topics.get(row.topic)
            if topic is None:
                topic = session.topics[row.topic] = rules.resolve_topic(settings, row.topic)
            question_id = uow.questions.add(
                row.text,
                topic,
                None,
                row.asked_at,
                import_id=session.id,
            )
            self._ask(uow, session, question_id, asker.id, asker.authority_id, row, None)
            session.created.add(question_id)
            self._answer_later(session, question_id, row, Status.OPEN)
            if isinstance(decision, _Propose) and target is not None:
                uow.proposals.add(
                    question_id,
                    target,
                    decision.score,
                    decision.differs,
                    now,
                    import_id=session.id,
                )
                session.rows.append((question_id, {"joined": False, "possibly_same": target}))
                return RowOutcome(
                    row.line, "proposed", question_id, target, decision.score, decision.differs
                )
            session.rows.append((question_id, {"joined": False}))
            score = decision.score if target is not None else None
            return RowOutcome(row.line, "new", question_id, target, score)
        present = (asker.id, target) in session.asking or (
            uow.asks.active(target, asker.id) is not None
        )
        if not present:
            self._ask(uow, session, target, asker.id, asker.authority_id, row, decision.score)
        session.rows.append((target, {"joined": not present}))
        status = Status.OPEN if target in session.created else _status(uow, target)
        self._answer_later(session, target, row, status)
        outcome = "present" if present else "joined"
        return RowOutcome(row.line, outcome, target, target, decision.score)

    @staticmethod
    def _ask(
        uow: UnitOfWork,
        session: ImportSession,
        question_id: int,
        officer_id: int,
        authority_id: int,
        row: ImportedRow,
        score: float | None,
    ) -> None:
        uow.asks.add(
            question_id=question_id,
            officer_id=officer_id,
            authority_id=authority_id,
            text=row.text,
            link=Link.IMPORTED,
            score=score,
            place=None,
            now=row.asked_at,
            import_id=session.id,
        )
        session.asking.add((officer_id, question_id))

    @staticmethod
    def _answer_later(
        session: ImportSession, question_id: int, row: ImportedRow, status: Status | None
    ) -> None:
        """A row's answer is written when the import completes, if its question is still
        waiting for one (and no earlier row of the file answered it)."""
        if row.answer and status is Status.OPEN and question_id not in session.answering:
            session.answers.append((question_id, row))
            session.answering.add(question_id)

    def finish_import(self, actor: Actor, session: ImportSession) -> ImportResult:
        """Complete the import: its rows become visible to everyone at once, and the
        answers in the file are written and published as one release."""
        skipped: list[str] = []
        # Every row is written and indexed as its question: what the rows' provisional
        # wordings still hold (a row joining a question in words it already has) goes.
        self.uow.forget_provisional()
        with self.uow as uow:
            now = uow.now()
            uow.imports.complete(session.id, now)
            operator = rules.officer(uow, actor)
            uow.events.record_many(
                "imported",
                actor_id=operator.id,
                now=now,
                items=[(question_id, detail) for question_id, detail in session.rows],
            )
            written: list[int] = []
            for question_id, row in session.answers:
                question = uow.questions.get(question_id)
                if question is None or question.status is not Status.OPEN:
                    # The expert answered, merged or someone withdrew it while the file was
                    # read: their work stands, the file's answer is not written over it.
                    skipped.append(
                        f"line {row.line}: answer not imported (Q-{question_id} was answered, "
                        "merged or withdrawn while the file was imported)"
                    )
                    continue
                try:
                    answer = self.expert.answer(actor, question_id, row.answer or "", row.links)
                except InvalidInput as error:
                    skipped.append(f"line {row.line}: answer not imported ({error})")
                    continue
                written.append(answer.id)
            release = self.expert.publish(actor, only=written).number if written else None
        self.uow.end_import()
        log.info("import %s completed: %s rows", session.id, len(session.rows))
        return ImportResult(len(written), release, tuple(skipped))

    def abandon_import(self, session: ImportSession) -> None:
        """Remove what a failed import wrote (its rows were never visible)."""
        self.uow.end_import()
        self._remove(session.id)

    def remove_abandoned_imports(self) -> int:
        """Remove the hidden rows of imports that died (silent for ABANDONED_AFTER)."""
        removed = self.uow.imports.abandoned(self.uow.now() - ABANDONED_AFTER)
        for import_id in removed:
            self._remove(import_id)
        return len(removed)

    def _remove(self, import_id: int) -> None:
        while True:  # short transactions: nobody waits for a large clean-up
            with self.uow as uow:
                if not uow.imports.remove(import_id):
                    break
        log.info("import %s removed", import_id)


def _helper_failed(error: Exception) -> None:
    """Say, once a line, that the helper is given up (the traceback only when debugging:
    nothing is lost, this process decides its rows)."""
    log.warning("the matching helper failed (%s); this process decides every row", error)
    log.debug("the matching helper's failure", exc_info=error)


def _status(uow: UnitOfWork, question_id: int) -> Status | None:
    question = uow.questions.get(question_id)
    return question.status if question else None
