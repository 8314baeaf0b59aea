"""Importing a question list beside the running exchange: the rows are de-duplicated like
/ask, matched outside the write lock, written in short transactions, and kept out of
sight until the whole import completes, so it is all or nothing and nobody waits for it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from knowledge import text as texts
from knowledge.addresses import Address
from knowledge.config import Settings
from knowledge.errors import InvalidInput, NotAllowed
from knowledge.models import LIVE_STATUSES, Actor, Link, Role, Status
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
    rows: list[tuple[int, bool]] = field(default_factory=list)  # (question, joined) per row
    answers: list[tuple[int, ImportedRow]] = field(default_factory=list)  # to write at the end


@dataclass(frozen=True, slots=True)
class ImportResult:
    answered: int
    release: int | None
    skipped: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _New:
    pass


@dataclass(frozen=True, slots=True)
class _Join:
    question_id: int  # an existing question, or (negative) the row of this batch it repeats
    score: float


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
        self.uow.own_import = import_id
        return ImportSession(import_id)

    def import_rows(
        self, actor: Actor, session: ImportSession, rows: Sequence[ImportedRow]
    ) -> list[str]:
        """Add a batch of rows to the import: for each, "new", "joined" (another ask of an
        existing question, or of an earlier row) or "present" (this officer's ask was
        already there: a file imported twice). Only a "duplicate" verdict joins: nobody is
        there to confirm a mere similarity."""
        decisions = self._decide(rows)
        outcomes: list[str] = []
        with self.uow as uow:
            now = uow.now()
            uow.imports.heartbeat(session.id, now)
            written: dict[int, int] = {}  # row of this batch -> its question
            for index, (row, decision) in enumerate(zip(rows, decisions, strict=True)):
                outcome, question_id = self._write(uow, session, row, decision, written)
                written[index] = question_id
                outcomes.append(outcome)
        return outcomes

    def _decide(self, rows: Sequence[ImportedRow]) -> list[_New | _Join]:
        """What each row is, decided from the matcher alone, outside the write lock: the
        rows before it in this batch are indexed provisionally so a repeat is found."""
        self.uow.catch_up()
        self.uow.matcher.prepare([row.text for row in rows])  # vectors in one batch, if on
        decisions: list[_New | _Join] = []
        with self.uow.provisional() as index:
            for n, row in enumerate(rows):
                duplicate = self.uow.matcher.find_duplicate(row.text)
                if duplicate is None:
                    decisions.append(_New())
                    index(-(n + 1), row.text)
                else:
                    decisions.append(_Join(duplicate.question_id, duplicate.score))
        return decisions

    def _write(
        self,
        uow: UnitOfWork,
        session: ImportSession,
        row: ImportedRow,
        decision: _New | _Join,
        written: dict[int, int],
    ) -> tuple[str, int]:
        settings = self.settings
        name = texts.display_name(row.officer)
        key = str(Address.imported(name, row.authority))
        now = uow.now()  # when the import added them (the row's date is its ask's)
        asker = rules.assign_authority(
            uow, settings, uow.officers.save(key, name, now), row.authority, now
        )
        assert asker.authority_id is not None
        target: int | None = None
        if isinstance(decision, _Join):
            if decision.question_id < 0:
                target = written[-decision.question_id - 1]
            elif decision.question_id in session.created:
                target = decision.question_id
            else:
                existing = uow.questions.get(decision.question_id)
                if existing is not None and existing.status in LIVE_STATUSES:
                    target = existing.id  # still live now that we write (it may have changed)
        if target is None or not isinstance(decision, _Join):
            question_id = uow.questions.add(
                row.text,
                rules.resolve_topic(settings, row.topic),
                None,
                row.asked_at,
                import_id=session.id,
            )
            self._ask(uow, session, question_id, asker.id, asker.authority_id, row, None)
            session.created.add(question_id)
            session.rows.append((question_id, False))
            self._answer_later(session, question_id, row, Status.OPEN)
            return "new", question_id
        present = (asker.id, target) in session.asking or (
            uow.asks.active(target, asker.id) is not None
        )
        if not present:
            self._ask(uow, session, target, asker.id, asker.authority_id, row, decision.score)
        session.rows.append((target, not present))
        status = Status.OPEN if target in session.created else _status(uow, target)
        self._answer_later(session, target, row, status)
        return ("present" if present else "joined"), target

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
        answered = {q for q, _ in session.answers}
        if row.answer and status is Status.OPEN and question_id not in answered:
            session.answers.append((question_id, row))

    def finish_import(self, actor: Actor, session: ImportSession) -> ImportResult:
        """Complete the import: its rows become visible to everyone at once, and the
        answers in the file are written and published as one release."""
        skipped: list[str] = []
        with self.uow as uow:
            now = uow.now()
            uow.imports.complete(session.id, now)
            operator = rules.officer(uow, actor)
            uow.events.record_many(
                "imported",
                actor_id=operator.id,
                now=now,
                items=[(qid, {"joined": joined}) for qid, joined in session.rows],
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
        self.uow.own_import = None
        log.info("import %s completed: %s rows", session.id, len(session.rows))
        return ImportResult(len(written), release, tuple(skipped))

    def abandon_import(self, session: ImportSession) -> None:
        """Remove what a failed import wrote (its rows were never visible)."""
        self.uow.own_import = None
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


def _status(uow: UnitOfWork, question_id: int) -> Status | None:
    question = uow.questions.get(question_id)
    return question.status if question else None
