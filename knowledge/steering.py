"""The steering group's digests and the scheduled reminders, owed as notices."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from knowledge.digest import (
    Digest,
    WaitingQuestion,
    build_digest,
    overdue_markdown,
    reminder_markdown,
)
from knowledge.digest import to_markdown as digest_to_markdown
from knowledge.errors import InvalidInput, NotAllowed
from knowledge.models import Actor, Notice, Role
from knowledge.schedule import cron, days_between, due_digest_window, due_release_reminder
from knowledge.service import ExchangeBase
from knowledge.store import parse_stamp, stamp

log = logging.getLogger(__name__)


class SteeringUseCases(ExchangeBase):
    """Digests, release reminders and overdue flags."""

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
            normalise=self.matcher.normalise,
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
            WaitingQuestion(
                q.id, q.text, q.topic, q.authorities, days_between(now, q.waiting_since)
            )
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
            waited = days_between(now, parse_stamp(row["waiting_since"]))
            crossed = int(waited // limit) * limit
            if crossed < limit or row["authorities"] == 0:  # nobody waits on it any more
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
            Notice(
                r["id"],
                r["kind"],
                r["audience"],
                r["body"],
                r["attempts"],
                r["parts_sent"],
                failed_before=r["last_error"] is not None,
            )
            for r in self.store.owed_notices(wanted, limit, max_attempts)
        ]

    def mark_notice_sent(self, notice_id: int) -> bool:
        with self._use_case():
            return self.store.mark_notice_sent(notice_id, self.clock())

    def mark_notice_part_sent(self, notice_id: int, parts_sent: int) -> None:
        """Record that the first `parts_sent` messages of a notice went out."""
        with self._use_case():
            self.store.mark_notice_part_sent(notice_id, parts_sent)

    def mark_notice_failed(self, notice_id: int, error: str) -> None:
        with self._use_case():
            self.store.mark_notice_failed(notice_id, error)
