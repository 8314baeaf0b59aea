"""What every part of the exchange service shares: the store, the matcher, the clock,
one transaction per use case, and the checks that many use cases make.

The use cases themselves are grouped by who uses them: officers (exchange.py), the expert
(expert.py), the steering group (steering.py) and everyone's own data (privacy.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from knowledge import text as texts
from knowledge.config import Settings
from knowledge.errors import AuthorityNeeded, InvalidInput, NotAllowed, NotFound, RateLimited
from knowledge.matching import Matcher
from knowledge.models import Actor, Question, Role, Status
from knowledge.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

def utc_now() -> datetime:
    return datetime.now(UTC)


class ExchangeBase:
    """State and plumbing shared by the use cases; build an Exchange with Exchange.open."""

    def __init__(
        self, store: Store, matcher: Matcher, settings: Settings, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.matcher = matcher
        self.settings = settings
        self.clock = clock
        self._seen_version = store.data_version()
        self._seen_changes = store.matching_changes()
        self._in_batch = False

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
            self._seen_changes = self.store.matching_changes()  # ours, already in the index
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
                self._seen_changes = self.store.matching_changes()
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
        self._seen_version = version
        changes = self.store.matching_changes()
        if changes == self._seen_changes:
            return  # another process wrote, but nothing the matcher holds (e.g. an event)
        self._rebuild_matcher()
        self._seen_changes = changes
        log.info("another writer changed questions; matcher rebuilt (%s)", len(self.matcher))

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

    def _score_against(self, text: str, question_id: int) -> float | None:
        """The matcher's score for `text` against one question; None if it is not retrieved
        (no key word in common)."""
        for match in self.matcher.find(text, limit=self.settings.matching.candidates):
            if match.question_id == question_id:
                return match.score
        return None

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
        cleaned = self.check_authority(name)
        with self._use_case():
            self._assign_authority(self._officer(actor), cleaned, self.clock())
        return cleaned

    def check_authority(self, name: str) -> str:
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
        configured = name in self.settings.exchange.authorities
        authority_id = self.store.authority_id(name, now, canonical=configured)
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
