"""The exchange's use cases: every front end (console, CLI, Discord) calls these.

Each public method checks who may do it, runs in one store transaction, records an
event, and only then updates the in-memory matcher, so a failed use case leaves both
the database and the index as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from knowledge import text as texts
from knowledge.config import Settings
from knowledge.digest import (
    Digest,
    WaitingQuestion,
    build_digest,
    overdue_markdown,
    reminder_markdown,
)
from knowledge.digest import to_markdown as digest_to_markdown
from knowledge.errors import (
    AuthorityNeeded,
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    RateLimited,
)
from knowledge.matching import Match, Matcher
from knowledge.models import (
    LIVE_STATUSES,
    Actor,
    Answer,
    AnsweredMatch,
    AskOutcome,
    Delivery,
    Followed,
    Link,
    MyQuestion,
    NewQuestion,
    Notice,
    OpenMatch,
    PublishedEntry,
    Question,
    QueueEntry,
    Release,
    Role,
    SearchHit,
    Status,
)
from knowledge.normalise import STOP_WORDS
from knowledge.schedule import cron, due_digest_window, due_release_reminder
from knowledge.store import Store, fts_query, parse_stamp, stamp

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

# Officers imported from a file have no chat channel: nothing is owed to them.
UNREACHABLE_PREFIX = "import:"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


class Exchange:
    """Ask, follow, withdraw, search; queue, answer, merge, publish; deliveries."""

    def __init__(
        self, store: Store, matcher: Matcher, settings: Settings, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.matcher = matcher
        self.settings = settings
        self.clock = clock
        self._seen_version = store.data_version()
        self._in_batch = False

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

    def close(self) -> None:
        self.store.close()

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _use_case(self) -> Iterator[list[Callable[[], None]]]:
        """One transaction; callbacks appended to the yielded list run after commit."""
        after_commit: list[Callable[[], None]] = []
        if self._in_batch:  # part of batch(): its transaction, and the index updated at once
            yield after_commit
            for callback in after_commit:
                callback()
            return
        with self.store.transaction():
            self._catch_up_with_other_writers()
            yield after_commit
        for callback in after_commit:
            callback()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run several use cases as one transaction (all or nothing), e.g. an import.

        Within the batch the matcher sees each new question at once (so a file's own
        duplicates are found); if the batch fails, the matcher is rebuilt from the database.
        """
        self._in_batch = True
        try:
            with self.store.transaction():
                self._catch_up_with_other_writers()
                yield
        except BaseException:
            self._rebuild_matcher()
            raise
        finally:
            self._in_batch = False

    def _rebuild_matcher(self) -> None:
        matcher = Matcher(self.settings.matching)
        matcher.add_many(self.store.matchable_texts())
        self.matcher = matcher

    def _catch_up_with_other_writers(self) -> None:
        """Rebuild the matcher if another process (e.g. `psn-exchange import` while the bot
        runs) changed the database, so its questions are found as duplicates too."""
        version = self.store.data_version()
        if version == self._seen_version:
            return
        self._rebuild_matcher()
        self._seen_version = version
        log.info("another writer changed the database; matcher rebuilt (%s)", len(self.matcher))

    def _officer(self, actor: Actor) -> dict[str, Any]:
        return self.store.save_officer(
            actor.user_key, texts.display_name(actor.display_name), self.clock()
        )

    def _officer_with_authority(self, actor: Actor) -> dict[str, Any]:
        officer = self._officer(actor)
        if officer["authority_id"] is None:
            raise AuthorityNeeded()
        return officer

    @staticmethod
    def require(actor: Actor, role: Role, action: str) -> None:
        """NotAllowed, in the exchange's words, unless `actor` has `role`.

        Front ends may call it before opening a form, so nobody fills one in for nothing.
        """
        if not actor.has(role):
            names = {
                Role.EXPERT: "the PSN expert",
                Role.STEERING: "the steering group",
                Role.ADMIN: "an exchange admin",
            }
            raise NotAllowed(f"Only {names.get(role, role.value)} can {action}.")

    def _question(self, ref: str | int) -> Question:
        question_id = texts.question_id(ref)
        question = self.store.question(question_id)
        if question is None:
            raise NotFound(f"There is no question {texts.question_ref(question_id)}.")
        return question

    def _live_question(self, ref: str | int) -> Question:
        """The question, or the one it was merged into (through any chain of merges)."""
        question = self._question(ref)
        seen = {question.id}
        while question.status is Status.MERGED and question.merged_into is not None:
            question = self._question(question.merged_into)
            if question.id in seen:  # a cycle cannot be made through merge(); be safe anyway
                break
            seen.add(question.id)
        if question.status is Status.WITHDRAWN:
            raise NotFound(
                f"{question.ref} was withdrawn by everyone who asked it. "
                "If you still need it answered, ask it with /ask."
            )
        return question

    def _reindex(self, question_id: int, wordings: list[str]) -> None:
        """Replace every wording the matcher holds for a question."""
        self.matcher.remove(question_id)
        for wording in dict.fromkeys(wordings):  # each distinct wording once, as at start-up
            self.matcher.add(question_id, wording)

    def resolve_topic(self, topic: str | None) -> str:
        if topic is None or not topic.strip():
            return self.settings.exchange.default_topic
        wanted = texts.clean(topic).lower()
        for known in self.settings.exchange.topics:
            if known.lower() == wanted:
                return known
        raise InvalidInput(
            f"{topic[:40]!r} is not a topic here. Choose one of: "
            + ", ".join(self.settings.exchange.topics)
            + "."
        )

    def _question_text(self, raw: str) -> str:
        limits = self.settings.exchange
        return texts.question_text(
            raw, min_chars=limits.min_question_chars, max_chars=limits.max_question_chars
        )

    def _position(self, question_id: int) -> int | None:
        return self.store.queue_position(question_id)

    def _check_hourly_limit(self, officer_id: int) -> None:
        recent = self.store.asks_since(officer_id, self.clock() - timedelta(hours=1))
        if recent >= self.settings.exchange.asks_per_hour:
            raise RateLimited(
                f"You have asked {recent} questions in the last hour, the most we accept. "
                "Please wait a while before asking more; nothing was saved."
            )

    def _check_open_limit(self, officer_id: int) -> None:
        limits = self.settings.exchange
        waiting = self.store.open_questions_started_by(officer_id)
        if waiting >= limits.max_open_questions_per_officer:
            raise RateLimited(
                f"You already have {waiting} questions waiting for the expert, the most one "
                "officer may have at once. Please wait for some to be answered, or withdraw "
                "ones you no longer need (/mine lists them)."
            )

    # -- officers ---------------------------------------------------------------------

    def set_authority(self, actor: Actor, name: str) -> str:
        """Remember which authority the officer works for; returns the name as stored."""
        cleaned = self._authority_name(name)
        with self._use_case():
            self._assign_authority(self._officer(actor), cleaned, self.clock())
        return cleaned

    def _authority_name(self, name: str) -> str:
        """The configured spelling of a known authority, or a checked new name."""
        cleaned = texts.authority_name(name)
        known = {a.lower(): a for a in self.settings.exchange.authorities}
        if cleaned.lower() in known:
            return known[cleaned.lower()]
        if known and not self.settings.exchange.allow_other_authorities:
            raise InvalidInput(
                f"{cleaned!r} is not one of the authorities taking part. "
                "Choose one from the list, or ask an admin to add yours."
            )
        return cleaned

    def _assign_authority(self, officer: dict[str, Any], name: str, now: datetime) -> None:
        authority_id = self.store.authority_id(name, now)
        if officer["authority_id"] != authority_id:
            self.store.set_officer_authority(officer["id"], authority_id)
            self.store.record("authority_set", actor_id=officer["id"], now=now, authority=name)
            officer["authority_id"] = authority_id

    def authority_names(self) -> list[str]:
        """The configured authorities and every one officers have named, sorted."""
        names = {n.lower(): n for n in self.store.authority_names()}
        names.update({n.lower(): n for n in self.settings.exchange.authorities})
        return sorted(names.values(), key=str.lower)

    def authority_of(self, actor: Actor) -> str | None:
        officer = self.store.officer(actor.user_key)
        return officer["authority"] if officer else None

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
        authority_name = self._authority_name(authority) if authority else None
        now = self.clock()
        with self._use_case() as after:
            if authority_name is not None:
                self._assign_authority(self._officer(actor), authority_name, now)
            officer = self._officer_with_authority(actor)
            self._check_hourly_limit(officer["id"])
            for match in self.matcher.find(question_text, limit=self.settings.matching.suggestions):
                if match.verdict == "none":
                    continue
                existing = self.store.question(match.question_id)
                if existing is None or existing.status not in LIVE_STATUSES:
                    continue
                mine = self.store.active_ask(existing.id, officer["id"])
                if mine is not None and match.verdict == "duplicate":
                    raise Conflict(
                        f"You have already asked this as {existing.ref}. "
                        "/mine shows where it stands."
                    )
                if mine is not None:
                    continue
                draft_id = self.store.add_draft(
                    officer_id=officer["id"],
                    text=question_text,
                    topic=chosen_topic,
                    place=place,
                    suggested_question_id=existing.id,
                    score=match.score,
                    now=now,
                )
                self.store.record(
                    "suggested",
                    actor_id=officer["id"],
                    now=now,
                    question_id=existing.id,
                    score=round(match.score, 1),
                    verdict=match.verdict,
                    draft=draft_id,
                )
                answer = self.store.latest_answer(existing.id, published_only=True)
                if existing.status is Status.ANSWERED and answer is not None:
                    return AnsweredMatch(draft_id, existing, answer, match)
                return OpenMatch(draft_id, existing, match)
            self._check_open_limit(officer["id"])
            question_id, ask_id = self._new_question(
                officer, question_text, chosen_topic, place, Link.NEW, None, now, after
            )
        return self._new_outcome(question_id, ask_id)

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
        """The officer says the suggested answered question answers theirs."""
        now = self.clock()
        with self._use_case():
            officer = self._officer_with_authority(actor)
            draft = self._draft(officer, draft_id)
            question = self._question(draft["suggested_question_id"])
            if question.status is not Status.ANSWERED:
                raise Conflict(f"{question.ref} has no published answer yet; follow it instead.")
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
            if draft is not None and draft["suggested_question_id"] != question.id:
                draft = None
            wording = draft["text"] if draft else question.text
            ask_id = self.store.add_ask(
                question_id=question.id,
                officer_id=officer["id"],
                authority_id=officer["authority_id"],
                text=wording,
                link=Link.FOLLOWED,
                score=draft["score"] if draft else None,
                place=draft["place"] if draft else None,
                now=now,
            )
            if draft is not None:
                self.store.resolve_draft(draft["id"], "followed", now)
                after.append(lambda: self.matcher.add(question.id, wording))
            self.store.record(
                "followed",
                actor_id=officer["id"],
                now=now,
                question_id=question.id,
                score=round(draft["score"], 1) if draft else None,
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
            question = self._question(ref)
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

    # -- privacy ----------------------------------------------------------------------

    def my_data(self, actor: Actor) -> dict[str, Any]:
        """Everything the exchange keeps about the caller (an officer may always see it)."""
        officer = self.store.officer(actor.user_key)
        if officer is None:
            return {"officer": None, "asks": [], "suggestions": [], "deliveries": [], "events": []}
        with self._use_case():
            self.store.record("data_exported", actor_id=officer["id"], now=self.clock())
        return self.store.personal_data(officer["id"])

    def forget_me(self, actor: Actor) -> int:
        """Erase the caller's name and chat identity; their questions stay, anonymised.

        Returns how many asks were kept anonymously. Answers stay useful to others, and
        the authority behind each ask still counts as demand.
        """
        officer = self.store.officer(actor.user_key)
        if officer is None:
            raise NotFound("We hold no data about you, so there is nothing to erase.")
        now = self.clock()
        with self._use_case():
            kept = len(self.store.personal_data(officer["id"])["asks"])
            self.store.anonymise_officer(officer["id"], now)
            self.store.record("forgotten", actor_id=officer["id"], now=now, asks_kept=kept)
        log.info("officer %s erased their data (%s asks kept anonymously)", officer["id"], kept)
        return kept

    # -- the knowledge store ----------------------------------------------------------

    def search(self, text: str, limit: int = 10) -> list[SearchHit]:
        """Questions and published answers matching any words of `text`, best first."""
        cleaned = texts.clean(text)[:500]
        query = fts_query(self.matcher.normalise.with_other_forms(cleaned), STOP_WORDS)
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

    # -- the expert -------------------------------------------------------------------

    def queue(self, actor: Actor, *, limit: int | None = None, offset: int = 0) -> list[QueueEntry]:
        """Open questions ranked by distinct authorities, then by how long they have waited."""
        self._check_can_see_queue(actor)
        now = self.clock()
        return [
            QueueEntry(
                position=offset + n,
                question=question,
                authority_names=names,
                waiting_days=(now - question.waiting_since).total_seconds() / 86400,
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

    def answer(
        self, actor: Actor, ref: str | int, body: str, links: list[str] | tuple[str, ...] = ()
    ) -> Answer:
        """Answer a question (again, for a new version); published with the next release."""
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
            answer_id = self.store.add_answer(
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
            moved = self.store.move_asks(source.id, target.id, now)
            self.store.set_status(source.id, Status.MERGED, now, merged_into=target.id)
            published = self.store.latest_answer(target.id, published_only=True)
            for ask in moved:
                key = ask["user_key"]
                if key is None or key.startswith(UNREACHABLE_PREFIX):
                    continue
                self.store.owe(
                    dedupe_key=f"merged:{source.id}:{key}",
                    kind="merged",
                    question_id=target.id,
                    merged_from=source.id,
                    recipient=key,
                    recipient_is_place=False,
                    officer_id=ask["officer_id"],
                    now=now,
                )
                if published is not None:
                    self.store.owe(
                        dedupe_key=f"answer:{published.id}:{key}",
                        kind="answer",
                        question_id=target.id,
                        answer_id=published.id,
                        recipient=key,
                        recipient_is_place=False,
                        officer_id=ask["officer_id"],
                        now=now,
                    )
            self.store.record(
                "merged",
                actor_id=expert["id"],
                now=now,
                question_id=source.id,
                into=target.id,
                asks=len(moved),
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
        owed = 0
        for row in self.store.recipients(question_id):
            key = row["user_key"]
            if key.startswith(UNREACHABLE_PREFIX):
                continue
            owed += self.store.owe(
                dedupe_key=f"answer:{answer_id}:{key}",
                kind="answer",
                question_id=question_id,
                answer_id=answer_id,
                recipient=key,
                recipient_is_place=False,
                officer_id=row["officer_id"],
                now=now,
            )
        place = self.store.question_place(question_id)
        if place and not place.startswith(UNREACHABLE_PREFIX):
            owed += self.store.owe(
                dedupe_key=f"answer:{answer_id}:{place}",
                kind="answer",
                question_id=question_id,
                answer_id=answer_id,
                recipient=place,
                recipient_is_place=True,
                now=now,
            )
        return owed

    # -- digests and reminders ---------------------------------------------------------

    def digest(
        self, actor: Actor, since: datetime | None = None, until: datetime | None = None
    ) -> Digest:
        """The steering group's digest for (since, until]; by default since the last one."""
        if not (actor.has(Role.STEERING) or actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the steering group and the PSN expert can see digests.")
        now = self.clock()
        until = until or now
        since = since or self.store.last_digest_end() or until - timedelta(days=7)
        if since >= until:
            raise InvalidInput("The digest period must end after it starts.")
        if until > now + timedelta(minutes=1):
            raise InvalidInput(
                "A digest cannot cover the future: choose an end date no later than now."
            )
        return self._build_digest(since, until)

    def _build_digest(self, since: datetime, until: datetime) -> Digest:
        return build_digest(
            self.store,
            since,
            until,
            waiting_limit_days=self.settings.schedule.waiting_limit_days,
            name_authorities=self.settings.exchange.name_authorities_in_digests,
            glossary=self.settings.matching.glossary,
        )

    def digest_markdown(self, digest: Digest) -> str:
        return digest_to_markdown(digest, self.settings.schedule.zone)

    def send_digest(
        self, actor: Actor, since: datetime | None = None, until: datetime | None = None
    ) -> Digest:
        """Owe the steering group a digest now; the next scheduled one starts where it ends."""
        digest = self.digest(actor, since, until)
        with self._use_case():
            self._owe_digest(digest)
        return digest

    def _owe_digest(self, digest: Digest) -> bool:
        owed = self.store.add_notice(
            key=f"digest:{stamp(digest.until)}",
            kind="digest",
            audience="steering",
            body=self.digest_markdown(digest),
            now=self.clock(),
            window=(digest.since, digest.until),
        )
        if owed is not None:
            self.store.record(
                "digest_owed",
                actor_id=None,
                now=self.clock(),
                notice=owed,
                asked=digest.asked,
                waiting=digest.waiting,
            )
        return owed is not None

    def check_schedules(self) -> list[str]:
        """Owe whatever digests and reminders are due now; returns what was added.

        Idempotent: run it at start-up, on every schedule tick, as often as you like.
        """
        schedule = self.settings.schedule
        zone = schedule.zone
        now = self.clock()
        added: list[str] = []
        with self._use_case():
            window = due_digest_window(
                cron(schedule.digest_cron, zone),
                now,
                self.store.last_digest_end(),
                self.store.first_activity(),
            )
            if window is not None and self._owe_digest(self._build_digest(*window)):
                added.append("digest")
            due = due_release_reminder(
                cron(schedule.release_cron, zone),
                now,
                timedelta(hours=schedule.release_reminder_hours),
            )
            if due is not None and self._owe_release_reminder(due, now):
                added.append("release_reminder")
            added += ["overdue"] * self._owe_overdue_flags(now)
        return added

    def _owe_release_reminder(self, due: datetime, now: datetime) -> bool:
        key = f"release-reminder:{stamp(due)}"
        if self.store.notice_exists(key):
            return False
        top = [
            WaitingQuestion(q.id, q.text, q.topic, q.authorities, _days(now, q.waiting_since))
            for q, _ in self.store.queue(limit=5)
        ]
        body = reminder_markdown(
            due,
            self.settings.schedule.zone,
            queue_size=self.store.queue_size(),
            unpublished=len(self.store.unpublished_answers()),
            top=top,
            overdue=self._build_digest(now - timedelta(days=7), now).overdue,
            waiting_limit_days=self.settings.schedule.waiting_limit_days,
        )
        self.store.add_notice(
            key=key, kind="release_reminder", audience="expert", body=body, now=now
        )
        return True

    def _owe_overdue_flags(self, now: datetime) -> int:
        limit = self.settings.schedule.waiting_limit_days
        owed = 0
        for row in self.store.waiting_at(now):
            waited = _days(now, parse_stamp(row["waiting_since"]))
            crossed = int(waited // limit) * limit
            if crossed < limit:
                continue
            question = WaitingQuestion(
                row["id"], row["text"], row["topic"], row["authorities"], waited
            )
            added = self.store.add_notice(
                key=f"overdue:{row['id']}:{crossed}",
                kind="overdue",
                audience="steering",
                body=overdue_markdown(question, crossed),
                now=now,
            )
            owed += added is not None
        return owed

    def owed_notices(
        self,
        audiences: str | Iterable[str] | None = None,
        limit: int = 20,
        max_attempts: int | None = None,
    ) -> list[Notice]:
        """Digests and reminders owed to an audience ("steering", "expert"), or to several."""
        wanted = [audiences] if isinstance(audiences, str) else audiences
        return [
            Notice(r["id"], r["kind"], r["audience"], r["body"], r["attempts"])
            for r in self.store.owed_notices(wanted, limit, max_attempts)
        ]

    def mark_notice_sent(self, notice_id: int) -> bool:
        with self._use_case():
            return self.store.mark_notice_sent(notice_id, self.clock())

    def mark_notice_failed(self, notice_id: int, error: str) -> None:
        with self._use_case():
            self.store.mark_notice_failed(notice_id, error)

    # -- deliveries -------------------------------------------------------------------

    def owed_deliveries(
        self, recipient_prefix: str = "", limit: int = 100, max_attempts: int | None = None
    ) -> list[Delivery]:
        """Messages owed to recipients whose key starts with `recipient_prefix`, oldest first.

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

    def mark_failed(self, delivery_id: int, error: str) -> None:
        """Record a failed attempt; the delivery stays owed."""
        with self._use_case():
            self.store.mark_failed(delivery_id, error)

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
    ) -> tuple[bool, Question, Match | None]:
        """Add one question from a file, de-duplicated like /ask.

        Returns (joined an existing question?, the question, the duplicate match if any).
        Only a "duplicate" verdict joins: nobody is there to confirm a mere similarity.
        """
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert or an exchange admin can import questions.")
        question_text = self._question_text(text)
        chosen_topic = self.resolve_topic(topic)
        authority_name = self._authority_name(authority)
        name = texts.display_name(officer)
        key = f"{UNREACHABLE_PREFIX}{name.lower()}@{authority_name.lower()}"
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
                if self.store.active_ask(existing.id, officer_id) is None:
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
                    joined=True,
                )
                joined = self.store.question(existing.id)
                assert joined is not None
                return True, joined, duplicate
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
        return False, created, None
