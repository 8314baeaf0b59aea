"""The steering group's use cases: digests, and the scheduled reminders and overdue flags
that are owed (as notices in the outbox) whenever they fall due."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

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
from knowledge.errors import Conflict, InvalidInput, NotAllowed
from knowledge.models import Actor, AuditEntry, MessageKind, Role
from knowledge.schedule import cron, days_between, due_digest_window, due_release_reminder
from knowledge.store import stamp
from knowledge.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

# Most audit entries read at once (a CSV of a year's events is far smaller).
AUDIT_LIMIT = 100_000


class SteeringUseCases:
    """Digests, release reminders and overdue flags."""

    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def digest(
        self, actor: Actor, since: datetime | None = None, until: datetime | None = None
    ) -> Digest:
        """The steering group's digest for (since, until]; by default since the last one."""
        if not (actor.has(Role.STEERING) or actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the steering group and the PSN expert can see digests.")
        now = self.uow.now()
        until = until or now
        since = since or self.uow.outbox.last_digest_end() or until - timedelta(days=7)
        if since >= until:
            raise InvalidInput("The digest period must end after it starts.")
        if until > now + timedelta(minutes=1):
            raise InvalidInput(
                "A digest cannot cover the future: choose an end date no later than now."
            )
        return self._build_digest(since, until)

    def _build_digest(self, since: datetime, until: datetime) -> Digest:
        return build_digest(
            self.uow.reports,
            since,
            until,
            waiting_limit_days=self.settings.schedule.waiting_limit_days,
            name_authorities=self.settings.exchange.name_authorities_in_digests,
            normalise=self.uow.matcher.normalise,
        )

    def digest_markdown(self, digest: Digest) -> str:
        text = digest_to_markdown(digest, self.settings.schedule.zone)
        figures = self.settings.web.url("/figures")
        if figures is None:
            return text
        return text.rstrip("\n") + f"\n\nThe figures as charts: {figures}\n"

    def audit(
        self,
        actor: Actor,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        question: str | int | None = None,
        actor_key: str | None = None,
        limit: int = AUDIT_LIMIT,
    ) -> list[AuditEntry]:
        """Who did what to which question, when, and what changed: the audit trail, for the
        steering group and admins (a public body is asked "who published this, when?")."""
        if not (actor.has(Role.STEERING) or actor.has(Role.ADMIN)):
            raise NotAllowed(
                "Only the steering group and exchange admins can read the audit trail."
            )
        if since is not None and until is not None and since >= until:
            raise InvalidInput("The audit period must end after it starts.")
        question_id = texts.question_id(question) if question is not None else None
        return self.uow.events.trail(
            since=since, until=until, question_id=question_id, actor_key=actor_key, limit=limit
        )

    def send_digest(
        self, actor: Actor, since: datetime | None = None, until: datetime | None = None
    ) -> Digest:
        """Owe the steering group a digest now; the next scheduled one starts where it ends.
        From the last digest on (no `since`), one with nothing asked or published since is
        refused: it would only repeat the last."""
        digest = self.digest(actor, since, until)
        last = self.uow.outbox.last_digest_end()
        active = digest.asked or digest.published or digest.peer_replies
        if since is None and last is not None and not active:
            raise Conflict(
                "Nothing has been asked or published since the last digest, so none was "
                "recorded. `psn-exchange digest --preview` shows where things stand."
            )
        with self.uow:
            self._owe_digest(digest)
        return digest

    def _owe_digest(self, digest: Digest) -> bool:
        uow = self.uow
        owed = uow.outbox.add_notice(
            key=f"digest:{stamp(digest.until)}",
            kind=MessageKind.DIGEST,
            audience="steering",
            body=self.digest_markdown(digest),
            now=uow.now(),
            window=(digest.since, digest.until),
        )
        if owed is not None:
            uow.events.record(
                "digest_owed",
                actor_id=None,
                now=uow.now(),
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
        added: list[str] = []
        with self.uow as uow:
            now = uow.now()
            window = due_digest_window(
                cron(schedule.digest_cron, zone),
                now,
                uow.outbox.last_digest_end(),
                uow.reports.first_activity(),
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
        uow = self.uow
        key = f"release-reminder:{stamp(due)}"
        if uow.outbox.notice_exists(key):
            return False
        top = [
            WaitingQuestion(
                q.id, q.text, q.topic, q.authorities, days_between(now, q.waiting_since)
            )
            for q, _ in uow.questions.queue(limit=5)
        ]
        body = reminder_markdown(
            due,
            self.settings.schedule.zone,
            queue_size=uow.questions.queue_size(),
            unpublished=len(uow.answers.unpublished()),
            top=top,
            overdue=self._build_digest(now - timedelta(days=7), now).overdue,
            waiting_limit_days=self.settings.schedule.waiting_limit_days,
        )
        uow.outbox.add_notice(
            key=key, kind=MessageKind.RELEASE_REMINDER, audience="expert", body=body, now=now
        )
        return True

    def _owe_overdue_flags(self, now: datetime) -> int:
        limit = self.settings.schedule.waiting_limit_days
        owed = 0
        for row in self.uow.reports.waiting_at(now):
            waited = days_between(now, row.waiting_since)
            crossed = int(waited // limit) * limit
            if crossed < limit or row.authorities == 0:  # nobody waits on it any more
                continue
            question = WaitingQuestion(row.id, row.text, row.topic, row.authorities, waited)
            added = self.uow.outbox.add_notice(
                key=f"overdue:{row.id}:{crossed}",
                kind=MessageKind.OVERDUE,
                audience="steering",
                body=overdue_markdown(question, crossed),
                now=now,
            )
            owed += added is not None
        return owed
