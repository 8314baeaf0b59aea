"""The exchange service every front end (console, CLI, Discord) calls, and the officers'
use cases: ask, follow, withdraw, my questions, search; deliveries; imports.

Each public method checks who may do it, runs in one store transaction, records an
event, and only then updates the in-memory matcher, so a failed use case leaves both
the database and the index as they were. The expert's, the steering group's and the
privacy use cases live in expert.py, steering.py and privacy.py; Exchange combines them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from knowledge import text as texts
from knowledge.addresses import Address
from knowledge.config import Settings
from knowledge.errors import Conflict, InvalidInput, NotAllowed, NotFound
from knowledge.expert import ExpertUseCases
from knowledge.matching import Matcher
from knowledge.models import (
    LIVE_STATUSES,
    SEND_ATTEMPTS,
    Actor,
    Answer,
    AnsweredMatch,
    AskOutcome,
    Delivery,
    FailingMessage,
    Followed,
    Link,
    MyQuestion,
    NewQuestion,
    OpenMatch,
    PublishedEntry,
    Question,
    Role,
    SearchHit,
    Status,
    Suggestion,
)
from knowledge.normalise import STOP_WORDS
from knowledge.privacy import PrivacyUseCases
from knowledge.service import Clock, ExchangeBase, utc_now
from knowledge.steering import SteeringUseCases
from knowledge.store import Store, fts_query

log = logging.getLogger(__name__)


class Exchange(ExpertUseCases, SteeringUseCases, PrivacyUseCases, ExchangeBase):
    """Ask, follow, withdraw, search; plus the expert's, steering group's and privacy
    use cases (see their modules); deliveries and imports."""

    @classmethod
    def open(cls, settings: Settings, clock: Clock = utc_now) -> Exchange:
        """Open the configured database and build the matcher from what it holds."""
        store = Store.open(
            settings.database.path, busy_timeout_ms=settings.database.busy_timeout_ms
        )
        matcher = Matcher(settings.matching)
        matcher.add_many(store.matchable_texts())
        log.info("matcher ready with %s questions", len(matcher))
        return cls(store, matcher, settings, clock)

    # -- asking -----------------------------------------------------------------------

    def ask(
        self,
        actor: Actor,
        text: str,
        *,
        topic: str | None = None,
        place: str | None = None,
        authority: str | None = None,
    ) -> AskOutcome:
        """Ask a question: an answered match, an open match to follow, or a new question.

        `authority`, given with an officer's first question, is remembered only if the
        question is accepted (one transaction), so a refused question changes nothing.
        """
        question_text = self._question_text(text)
        chosen_topic = self.resolve_topic(topic)
        authority_name = self.check_authority(authority) if authority else None
        now = self.clock()
        with self._use_case() as after:
            if authority_name is not None:
                self._assign_authority(self._officer(actor), authority_name, now)
            officer = self._officer_with_authority(actor)
            self._check_hourly_limit(officer["id"])
            offered = self._suggestions(question_text, officer["id"])
            if offered:
                best, others = offered[0], tuple(offered[1:])
                # Only the latest suggestion waits for a choice: an earlier one is dropped.
                self.store.resolve_open_drafts(officer["id"], "superseded", now)
                draft_id = self.store.add_draft(
                    officer_id=officer["id"],
                    text=question_text,
                    topic=chosen_topic,
                    place=place,
                    suggested_question_id=best.question.id,
                    score=best.match.score,
                    now=now,
                )
                self.store.record(
                    "suggested",
                    actor_id=officer["id"],
                    now=now,
                    question_id=best.question.id,
                    score=round(best.match.score, 1),
                    verdict=best.match.verdict,
                    draft=draft_id,
                    also=[o.question.id for o in others],
                )
                if best.answer is not None:
                    return AnsweredMatch(draft_id, best.question, best.answer, best.match, others)
                return OpenMatch(draft_id, best.question, best.match, others)
            self._check_open_limit(officer["id"])
            question_id, ask_id = self._new_question(
                officer, question_text, chosen_topic, place, Link.NEW, None, now, after
            )
        return self._new_outcome(question_id, ask_id)

    def _suggestions(self, text: str, officer_id: int) -> list[Suggestion]:
        """Live questions that may be the same as `text`, best first, none of them the
        officer's own (the same one again, as a duplicate, is refused)."""
        found: list[Suggestion] = []
        for match in self.matcher.find(text, limit=self.settings.matching.suggestions):
            if match.verdict == "none":
                continue
            existing = self.store.question(match.question_id)
            if existing is None or existing.status not in LIVE_STATUSES:
                continue
            if self.store.active_ask(existing.id, officer_id) is not None:
                if match.verdict == "duplicate" and not found:
                    raise Conflict(
                        f"You have already asked this as {existing.ref}. "
                        "/mine shows where it stands."
                    )
                continue
            answer = self.store.latest_answer(existing.id, published_only=True)
            published = answer if existing.status is Status.ANSWERED else None
            found.append(Suggestion(existing, match, published))
        return found

    def _new_question(
        self,
        officer: dict[str, Any],
        text: str,
        topic: str,
        place: str | None,
        link: Link,
        score: float | None,
        now: datetime,
        after: list[Callable[[], None]],
    ) -> tuple[int, int]:
        question_id = self.store.add_question(text, topic, place, now)
        ask_id = self.store.add_ask(
            question_id=question_id,
            officer_id=officer["id"],
            authority_id=officer["authority_id"],
            text=text,
            link=link,
            score=score,
            place=place,
            now=now,
        )
        self.store.record(
            "asked",
            actor_id=officer["id"],
            now=now,
            question_id=question_id,
            link=link.value,
            topic=topic,
        )
        after.append(lambda: self.matcher.add(question_id, text))
        log.info("question %s asked (%s)", question_id, link.value)
        return question_id, ask_id

    def _new_outcome(self, question_id: int, ask_id: int) -> NewQuestion:
        question = self.store.question(question_id)
        assert question is not None
        return NewQuestion(question, ask_id, self._position(question_id) or 0)

    def _draft(self, officer: dict[str, Any], draft_id: int | None) -> dict[str, Any]:
        draft = (
            self.store.latest_draft(officer["id"])
            if draft_id is None
            else self.store.draft(draft_id)
        )
        if draft is None or draft["officer_id"] != officer["id"]:
            raise NotFound(
                "There is no suggestion waiting for your choice. Ask your question with /ask."
            )
        if draft["resolved_at"] is not None:
            raise Conflict(
                "You have already chosen what to do with that question "
                f"({draft['resolution'].replace('_', ' ')})."
            )
        return draft

    def ask_anyway(self, actor: Actor, draft_id: int | None = None) -> NewQuestion:
        """After a suggestion the officer says is not the same: ask as a new question."""
        now = self.clock()
        with self._use_case() as after:
            officer = self._officer_with_authority(actor)
            draft = self._draft(officer, draft_id)
            self._check_open_limit(officer["id"])
            question_id, ask_id = self._new_question(
                officer,
                draft["text"],
                draft["topic"],
                draft["place"],
                Link.ASKED_ANYWAY,
                draft["score"],
                now,
                after,
            )
            self.store.resolve_draft(draft["id"], "asked_anyway", now)
            self.store.record(
                "suggestion_declined",
                actor_id=officer["id"],
                now=now,
                question_id=draft["suggested_question_id"],
                score=round(draft["score"], 1),
                new_question=question_id,
            )
        return self._new_outcome(question_id, ask_id)

    def accept_answer(self, actor: Actor, draft_id: int | None = None) -> Question:
        """The officer says the suggested answered question answers theirs: it joins their
        questions (/mine) as answered, they are sent any later version of the answer, and
        their wording helps the matcher find the question next time."""
        now = self.clock()
        with self._use_case() as after:
            officer = self._officer_with_authority(actor)
            draft = self._draft(officer, draft_id)
            question = self._question(draft["suggested_question_id"])
            if question.status is not Status.ANSWERED:
                raise Conflict(f"{question.ref} has no published answer yet; follow it instead.")
            wording = draft["text"]
            self.store.add_ask(
                question_id=question.id,
                officer_id=officer["id"],
                authority_id=officer["authority_id"],
                text=wording,
                link=Link.ANSWERED_FROM_STORE,
                score=draft["score"],
                place=draft["place"],
                now=now,
            )
            after.append(lambda: self.matcher.add(question.id, wording))
            self.store.resolve_draft(draft["id"], "answered_from_store", now)
            self.store.record(
                "answered_from_store",
                actor_id=officer["id"],
                now=now,
                question_id=question.id,
                score=round(draft["score"], 1),
            )
        return question

    def follow(self, actor: Actor, ref: str | int, draft_id: int | None = None) -> Followed:
        """Wait on an existing question ("me too") instead of asking it again."""
        now = self.clock()
        with self._use_case() as after:
            officer = self._officer_with_authority(actor)
            question = self._live_question(ref)
            if self.store.active_ask(question.id, officer["id"]) is not None:
                raise Conflict(f"You already follow {question.ref}. /mine shows where it stands.")
            draft = self.store.latest_draft(officer["id"]) if draft_id is None else None
            if draft_id is not None:
                draft = self._draft(officer, draft_id)
            if (
                draft_id is None
                and draft is not None
                and (draft["suggested_question_id"] != question.id)
            ):
                draft = None  # an unrelated pending suggestion: leave it waiting
            wording = draft["text"] if draft else question.text
            score: float | None = None
            other = draft is not None and draft["suggested_question_id"] != question.id
            if draft is not None:
                # One of the other suggestions: its own score, not the best one's.
                score = self._score_against(wording, question.id) if other else draft["score"]
            ask_id = self.store.add_ask(
                question_id=question.id,
                officer_id=officer["id"],
                authority_id=officer["authority_id"],
                text=wording,
                link=Link.FOLLOWED,
                score=score,
                place=draft["place"] if draft else None,
                now=now,
            )
            if draft is not None:
                resolution = "followed_other" if other else "followed"
                self.store.resolve_draft(draft["id"], resolution, now)
                after.append(lambda: self.matcher.add(question.id, wording))
            self.store.record(
                "followed",
                actor_id=officer["id"],
                now=now,
                question_id=question.id,
                score=round(score, 1) if score is not None else None,
                suggested=draft["suggested_question_id"] if draft else None,
            )
            refreshed = self.store.question(question.id)
            assert refreshed is not None
            answer = self.store.latest_answer(question.id, published_only=True)
        return Followed(refreshed, ask_id, self._position(question.id), answer)

    def withdraw(self, actor: Actor, ref: str | int) -> Question:
        """Withdraw the officer's own ask; the question leaves the queue if nobody else waits."""
        now = self.clock()
        with self._use_case() as after:
            officer = self._officer(actor)
            question = self._live_question(ref)
            ask = self.store.active_ask(question.id, officer["id"])
            if ask is None:
                raise NotAllowed(
                    f"You have not asked or followed {question.ref}, so there is nothing of "
                    "yours to withdraw. You can only withdraw your own questions."
                )
            self.store.withdraw_ask(ask["id"], now)
            self.store.record("withdrawn", actor_id=officer["id"], now=now, question_id=question.id)
            remaining = self.store.question(question.id)
            assert remaining is not None
            if remaining.asks == 0 and remaining.status is Status.OPEN:
                self.store.set_status(question.id, Status.WITHDRAWN, now)
                after.append(lambda: self.matcher.remove(question.id))
                log.info("question %s withdrawn by its last asker", question.id)
            elif remaining.status is not Status.WITHDRAWN:
                wordings = [remaining.text, *self.store.ask_texts(question.id)]
                after.append(lambda: self._reindex(question.id, wordings))
            result = self.store.question(question.id)
            assert result is not None
        return result

    def mine(self, actor: Actor) -> list[MyQuestion]:
        """The officer's questions with status, queue position and any published answer."""
        officer = self.store.officer(actor.user_key)
        if officer is None:
            return []
        asks = self.store.officer_asks(officer["id"])
        ids = [a["question_id"] for a in asks]
        questions = self.store.questions(ids)
        answers = self.store.latest_published_answers(ids)
        return [
            MyQuestion(
                question=questions[a["question_id"]],
                ask_id=a["id"],
                link=Link(a["link"]),
                asked_at=datetime.fromisoformat(a["asked_at"]),
                position=self._position(a["question_id"]),
                answer=answers.get(a["question_id"]),
            )
            for a in asks
        ]

    # -- the knowledge store ----------------------------------------------------------

    def search(self, text: str, limit: int = 10) -> list[SearchHit]:
        """Questions and published answers matching any words of `text`, best first."""
        cleaned = texts.clean(text)[:500]
        forms = self.matcher.normalise.forms(cleaned)
        query = fts_query(cleaned, STOP_WORDS, phrases=forms)
        if query is None:
            raise InvalidInput("Please type a word or two to search for.")
        ids = self.store.search(query, max(1, min(limit, 50)))
        questions = self.store.questions(ids)
        answers = self.store.latest_published_answers(ids)
        return [SearchHit(questions[i], answers.get(i)) for i in ids if i in questions]

    def set_place(self, question_id: int, place: str) -> None:
        """Record where a question was posted publicly; its answer is delivered there too."""
        with self._use_case():
            if self.store.question(question_id) is None:
                raise NotFound(f"There is no question {texts.question_ref(question_id)}.")
            self.store.set_place(question_id, place, self.clock())

    def front_end_fact(self, key: str) -> str | None:
        """A small fact a front end keeps between runs (e.g. the synced command hash)."""
        return self.store.meta(key)

    def remember_front_end_fact(self, key: str, value: str) -> None:
        with self._use_case():
            self.store.set_meta(key, value, self.clock())

    def knowledge_base(self) -> list[PublishedEntry]:
        """Every answered question with its latest published answer, oldest first.

        Authorities are named only if `name_authorities_in_answers`; askers only if
        `name_askers_in_exports`.
        """
        ids = self.store.answered_question_ids()
        questions = self.store.questions(ids)
        answers = self.store.latest_published_answers(ids)
        config = self.settings.exchange
        authorities = (
            self.store.authorities_behind(ids) if config.name_authorities_in_answers else {}
        )
        askers = self.store.asker_names(ids) if config.name_askers_in_exports else {}
        return [
            PublishedEntry(questions[i], answers[i], authorities.get(i, ()), askers.get(i, ()))
            for i in ids
            if i in answers
        ]

    def question(self, ref: str | int) -> tuple[Question, Answer | None]:
        """A live question (or the one it was merged into) and its latest published answer."""
        question = self._live_question(ref)
        return question, self.store.latest_answer(question.id, published_only=True)

    # -- deliveries -------------------------------------------------------------------

    def owed_deliveries(
        self, recipient_prefix: str = "", limit: int = 100, max_attempts: int | None = None
    ) -> list[Delivery]:
        """Messages owed to recipients whose address starts with `recipient_prefix` (e.g.
        `Channel.DISCORD.prefix`), oldest first.

        With `max_attempts`, deliveries that have failed that often are left out, so they
        cannot hold up newer ones.
        """
        name = self.settings.exchange.name_authorities_in_answers
        return [
            self.store.to_delivery(row, name)
            for row in self.store.owed_rows(recipient_prefix, limit, max_attempts)
        ]

    def mark_sent(self, delivery_id: int) -> bool:
        """Record that a delivery went out; False (and no change) if it already had."""
        with self._use_case():
            if self.store.delivery_row(delivery_id) is None:
                raise NotFound(f"There is no delivery {delivery_id}.")
            return self.store.mark_sent(delivery_id, self.clock())

    def place_has_answer(self, delivery: Delivery) -> bool:
        """Whether the answer `delivery` carries is already posted at its question's place
        (so a fallback there can point to it instead of repeating it)."""
        return (
            delivery.kind == "answer"
            and delivery.answer is not None
            and delivery.place is not None
            and self.store.answer_sent_to_place(delivery.answer.id, delivery.place)
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        """Record a failed attempt; the delivery stays owed."""
        with self._use_case():
            self.store.mark_failed(delivery_id, error)

    def failing_messages(self, actor: Actor) -> list[FailingMessage]:
        """Owed deliveries and notices that have failed at least once, for an admin: after
        SEND_ATTEMPTS failures the bot stops trying them until `retry_given_up`."""
        self.require(actor, Role.ADMIN, "see failing deliveries")
        return [
            FailingMessage(
                table=row["tbl"],
                id=row["id"],
                what=(
                    f"{row['kind']} to {texts.question_ref(row['question_id'])}"
                    if row["question_id"] is not None
                    else row["kind"].replace("_", " ")
                ),
                recipient=row["recipient"],
                attempts=row["attempts"],
                last_error=row["last_error"] or "",
                created_at=datetime.fromisoformat(row["created_at"]),
            )
            for row in self.store.failing_messages()
        ]

    def retry_given_up(self, actor: Actor) -> int:
        """Give the deliveries and notices the bot gave up on a fresh round of attempts
        (after fixing what stopped them, e.g. a channel permission); returns how many."""
        self.require(actor, Role.ADMIN, "retry deliveries")
        with self._use_case():
            retried = self.store.retry_given_up(SEND_ATTEMPTS)
            if retried:
                self.store.record(
                    "deliveries_retried", actor_id=None, now=self.clock(), count=retried
                )
        return retried

    # -- importing --------------------------------------------------------------------

    def import_question(
        self,
        actor: Actor,
        *,
        text: str,
        authority: str,
        officer: str,
        topic: str | None,
        asked_at: datetime,
    ) -> tuple[str, Question]:
        """Add one question from a file, de-duplicated like /ask.

        Returns what happened — "new", "joined" (another authority's ask joined an existing
        question) or "present" (this officer's ask was already there: a file imported
        twice) — and the question. Only a "duplicate" verdict joins: nobody is there to
        confirm a mere similarity.
        """
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert or an exchange admin can import questions.")
        question_text = self._question_text(text)
        chosen_topic = self.resolve_topic(topic)
        authority_name = self.check_authority(authority)
        name = texts.display_name(officer)
        key = str(Address.imported(name, authority_name))
        with self._use_case() as after:
            operator = self._officer(actor)
            row = self.store.save_officer(key, name, asked_at)
            self._assign_authority(row, authority_name, asked_at)
            officer_id, authority_id = row["id"], row["authority_id"]
            duplicate = next(
                (m for m in self.matcher.find(question_text, limit=1) if m.verdict == "duplicate"),
                None,
            )
            existing = self.store.question(duplicate.question_id) if duplicate else None
            if duplicate and existing and existing.status in LIVE_STATUSES:
                present = self.store.active_ask(existing.id, officer_id) is not None
                if not present:
                    self.store.add_ask(
                        question_id=existing.id,
                        officer_id=officer_id,
                        authority_id=authority_id,
                        text=question_text,
                        link=Link.IMPORTED,
                        score=duplicate.score,
                        place=None,
                        now=asked_at,
                    )
                    after.append(lambda: self.matcher.add(existing.id, question_text))
                self.store.record(
                    "imported",
                    actor_id=operator["id"],
                    now=self.clock(),
                    question_id=existing.id,
                    joined=not present,
                )
                joined = self.store.question(existing.id)
                assert joined is not None
                return ("present" if present else "joined"), joined
            question_id, _ = self._new_question(
                row, question_text, chosen_topic, None, Link.IMPORTED, None, asked_at, after
            )
            self.store.record(
                "imported",
                actor_id=operator["id"],
                now=self.clock(),
                question_id=question_id,
                joined=False,
            )
            created = self.store.question(question_id)
            assert created is not None
        return "new", created
