"""The PSN expert's use cases: the ranked queue, answers, merges and releases."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from knowledge import text as texts
from knowledge.addresses import reachable
from knowledge.calibration import SuggestionReport, suggestion_report
from knowledge.errors import Conflict, InvalidInput, NotAllowed
from knowledge.models import (
    LIVE_STATUSES,
    Actor,
    Answer,
    Question,
    QueueEntry,
    Release,
    Role,
    Status,
)
from knowledge.schedule import days_between
from knowledge.service import ExchangeBase
from knowledge.store.releases import delivery_key

log = logging.getLogger(__name__)


class ExpertUseCases(ExchangeBase):
    """Queue, answer, merge, publish (permission-checked here)."""

    def queue(self, actor: Actor, *, limit: int | None = None, offset: int = 0) -> list[QueueEntry]:
        """Open questions ranked by distinct authorities, then by how long they have waited."""
        self._check_can_see_queue(actor)
        now = self.clock()
        return [
            QueueEntry(
                position=offset + n,
                question=question,
                authority_names=names,
                waiting_days=days_between(now, question.waiting_since),
            )
            for n, (question, names) in enumerate(self.store.queue(limit, offset), start=1)
        ]

    def queue_size(self, actor: Actor) -> int:
        """How many questions wait in the expert's queue."""
        self._check_can_see_queue(actor)
        return self.store.queue_size()

    @staticmethod
    def _check_can_see_queue(actor: Actor) -> None:
        if not (actor.has(Role.EXPERT) or actor.has(Role.STEERING) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert and the steering group can see the queue.")

    def suggestion_report(self, actor: Actor, since: datetime | None = None) -> SuggestionReport:
        """How officers answered the matcher's suggestions, and the expert's merges, by score
        (aggregate counts only: no wording and no names)."""
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert and exchange admins can see this report.")
        return suggestion_report(
            self.store.suggestion_outcomes(since),
            self.store.merge_scores(since),
            similar_threshold=self.settings.matching.similar_threshold,
            duplicate_threshold=self.settings.matching.duplicate_threshold,
            since=since,
        )

    def answer(
        self, actor: Actor, ref: str | int, body: str, links: list[str] | tuple[str, ...] = ()
    ) -> Answer:
        """Answer a question; published with the next release. Answering again before then
        rewrites the draft; after it, makes a new version that officers are sent again."""
        self.require(actor, Role.EXPERT, "answer questions")
        cleaned = texts.answer_text(body, max_chars=self.settings.exchange.max_answer_chars)
        checked = texts.resource_links(list(links), max_links=self.settings.exchange.max_links)
        now = self.clock()
        with self._use_case():
            expert = self._officer(actor)
            question = self._question(ref)
            if question.status is Status.MERGED:
                raise Conflict(
                    f"{question.ref} was merged into Q-{question.merged_into}; "
                    "answer that question instead."
                )
            if question.status is Status.WITHDRAWN:
                raise Conflict(f"{question.ref} was withdrawn by everyone who asked it.")
            answer_id = self.store.save_answer(
                question_id=question.id,
                body=cleaned,
                links=checked,
                author_id=expert["id"],
                now=now,
            )
            if question.status is Status.OPEN:
                self.store.set_status(question.id, Status.IN_RELEASE, now)
            answer = self.store.answer(answer_id)
            assert answer is not None
            self.store.record(
                "answer_written",
                actor_id=expert["id"],
                now=now,
                question_id=question.id,
                version=answer.version,
            )
        return answer

    def merge(self, actor: Actor, source_ref: str | int, target_ref: str | int) -> Question:
        """Merge a duplicate the matcher missed: its askers now wait on the target."""
        self.require(actor, Role.EXPERT, "merge questions")
        now = self.clock()
        with self._use_case() as after:
            expert = self._officer(actor)
            source, target = self._question(source_ref), self._question(target_ref)
            if source.id == target.id:
                raise InvalidInput("A question cannot be merged into itself.")
            if source.status is Status.IN_RELEASE:
                raise Conflict(
                    f"{source.ref} already has an answer waiting for the next release; "
                    "publish it (or merge the other way round) instead."
                )
            if source.status is not Status.OPEN:
                raise Conflict(
                    f"{source.ref} is {source.status.value.replace('_', ' ')}; "
                    "only questions still waiting can be merged."
                )
            if target.status not in LIVE_STATUSES:
                raise Conflict(
                    f"{target.ref} is {target.status.value}; merge into a live question instead."
                )
            # What the matcher made of the pair: the live labels `suggestion_report` reads.
            score = self._score_against(source.text, target.id)
            moved = self.store.move_asks(source.id, target.id, now)
            self.store.set_status(source.id, Status.MERGED, now, merged_into=target.id)
            published = self.store.latest_answer(target.id, published_only=True)
            for ask in moved:
                key, officer_id = ask["user_key"], ask["officer_id"]
                self._owe(now, "merged", target.id, key, officer_id, merged_from=source.id)
                if published is not None:
                    self._owe(now, "answer", target.id, key, officer_id, answer_id=published.id)
            self.store.record(
                "merged",
                actor_id=expert["id"],
                now=now,
                question_id=source.id,
                into=target.id,
                asks=len(moved),
                score=score,
            )

            # The target is now found by every wording of both, as after a restart.
            wordings = [target.text, *self.store.ask_texts(target.id)]
            after.append(lambda: self.matcher.remove(source.id))
            after.append(lambda: self._reindex(target.id, wordings))
            merged = self.store.question(target.id)
            assert merged is not None
        return merged

    def publish(self, actor: Actor, *, only: Iterable[int] | None = None) -> Release:
        """Publish every answer written since the last release, as the next numbered release.

        `only` restricts the release to those answer ids (an import publishes its own
        answers, never the expert's drafts).
        """
        self.require(actor, Role.EXPERT, "publish a release")
        wanted = None if only is None else set(only)
        now = self.clock()
        with self._use_case():
            expert = self._officer(actor)
            pending = [
                a for a in self.store.unpublished_answers() if wanted is None or a.id in wanted
            ]
            if not pending:
                last = self.store.last_release_number()
                since = f" since release {last}" if last else " yet"
                raise Conflict(f"There is nothing to publish: no answers have been written{since}.")
            number = self.store.last_release_number() + 1
            release_id = self.store.add_release(number, expert["id"], now)
            self.store.attach_answers([a.id for a in pending], release_id)
            latest: dict[int, Answer] = {a.question_id: a for a in pending}  # highest version wins
            owed = 0
            for question_id, answer in latest.items():
                self.store.set_status(question_id, Status.ANSWERED, now)
                owed += self._owe_answer(question_id, answer.id, now)
            self.store.record(
                "published",
                actor_id=expert["id"],
                now=now,
                release=number,
                questions=sorted(latest),
                deliveries=owed,
            )
        log.info("release %s published: %s answers, %s deliveries", number, len(latest), owed)
        return Release(number, now, tuple(sorted(latest)), owed)

    def _owe_answer(self, question_id: int, answer_id: int, now: datetime) -> int:
        """Owe an answer to every asker and follower, and to the question's thread."""
        owed = sum(
            self._owe(now, "answer", question_id, row["user_key"], row["officer_id"], answer_id)
            for row in self.store.recipients(question_id)
        )
        place = self.store.question_place(question_id)
        if place:
            owed += self._owe(now, "answer", question_id, place, None, answer_id)
        return owed

    def _owe(
        self,
        now: datetime,
        kind: str,
        question_id: int,
        recipient: str | None,
        officer_id: int | None,
        answer_id: int | None = None,
        merged_from: int | None = None,
    ) -> bool:
        """Record one message owed (once: the same message to the same recipient is one)."""
        if recipient is None or not reachable(recipient):  # imported, erased: none owed
            return False
        about = answer_id if kind == "answer" else merged_from
        return self.store.owe(
            dedupe_key=delivery_key(kind, about, recipient),
            kind=kind,
            question_id=question_id,
            answer_id=answer_id,
            merged_from=merged_from,
            recipient=recipient,
            recipient_is_place=officer_id is None,
            officer_id=officer_id,
            now=now,
        )
