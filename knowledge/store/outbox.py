"""The outbox: every message the exchange owes, to an officer or a place (answers, merge
notices) or to an audience (digests, reminders and overdue flags for the steering group or
the expert, one row for each of the audience's places once the sender places it),
recorded in the transaction that owes it and marked once sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from knowledge.models import FailingMessage, MessageKind, MessageStatus, OwedMessage
from knowledge.store.database import Database, marks, parse_stamp, stamp

_NO_LIMIT = 2**62


def delivery_key(kind: MessageKind, about: int | None, recipient: str) -> str:
    """The one key of a message (kind, the answer or merge it is about, recipient): the
    same message to the same recipient is owed once."""
    return f"{kind.value}:{about}:{recipient}"


def _at(audience: str, place: str | None) -> str:
    """A notice's recipient as an admin reads it: "steering", "steering at discord:channel:9"."""
    return f"{audience} at {place}" if place else audience


def _message(row: dict[str, Any]) -> OwedMessage:
    return OwedMessage(
        id=row["id"],
        kind=MessageKind(row["kind"]),
        recipient=row["recipient"],
        recipient_is_place=bool(row["recipient_is_place"]),
        audience=row["audience"],
        place=row["place"],
        officer_id=row["officer_id"],
        question_id=row["question_id"],
        answer_id=row["answer_id"],
        merged_from=row["merged_from"],
        reply_id=row["reply_id"],
        note_id=row["note_id"],
        body=row["body"],
        parts_sent=row["parts_sent"],
        attempts=row["attempts"],
        failed_before=row["last_error"] is not None,
    )


class Outbox:
    """Messages owed; each kept until marked sent, its failures and backoff with it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- owing ---------------------------------------------------------------------------

    def owe(
        self,
        *,
        kind: MessageKind,
        about: int | None,
        question_id: int | None,
        recipient: str,
        recipient_is_place: bool,
        now: datetime,
        answer_id: int | None = None,
        merged_from: int | None = None,
        officer_id: int | None = None,
        reply_id: int | None = None,
        note_id: int | None = None,
    ) -> bool:
        """Owe a message to an address; False if the same one was already owed."""
        count = self._db.write(
            # ON CONFLICT, not OR IGNORE: only the same message owed again is skipped; a row
            # the schema refuses (a kind it does not know) is an error, never a silent loss.
            """INSERT INTO outbox (key, kind, question_id, answer_id, merged_from, reply_id,
                   note_id, recipient, recipient_is_place, officer_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING""",
            [
                delivery_key(kind, about, recipient),
                kind,
                question_id,
                answer_id,
                merged_from,
                reply_id,
                note_id,
                recipient,
                int(recipient_is_place),
                officer_id,
                stamp(now),
            ],
        )
        return count == 1

    def notice_exists(self, key: str) -> bool:
        return self._db.one("SELECT 1 AS found FROM outbox WHERE key = ?", [key]) is not None

    def add_notice(
        self,
        *,
        key: str,
        kind: MessageKind,
        audience: str,
        body: str,
        now: datetime,
        window: tuple[datetime, datetime] | None = None,
    ) -> int | None:
        """Owe a Markdown notice to an audience; None if one with this key already exists."""
        start, end = (stamp(window[0]), stamp(window[1])) if window else (None, None)
        if self.notice_exists(key):
            return None
        return self._db.insert(
            """INSERT INTO outbox (key, kind, audience, window_start, window_end, body,
                   created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [key, kind, audience, start, end, body, stamp(now)],
        )

    def place_notice(self, notice_id: int, places: Sequence[str]) -> list[int]:
        """Owe an owed notice not yet placed at each of `places`: it takes the first, and a
        copy (with its own key, attempts and progress) each of the rest. Returns the ids of
        the notices now at those places; a notice already placed is left as it is."""
        row = self._db.one(
            "SELECT place FROM outbox WHERE id = ? AND audience IS NOT NULL AND status = ?",
            [notice_id, MessageStatus.OWED],
        )
        if row is None:
            return []
        if row["place"] is not None or not places:
            return [notice_id]
        self._db.write("UPDATE outbox SET place = ? WHERE id = ?", [places[0], notice_id])
        copies = [
            self._db.insert(
                """INSERT INTO outbox (key, kind, audience, place, window_start, window_end,
                       body, created_at)
                   SELECT key || '@' || ?, kind, audience, ?, window_start, window_end, body,
                       created_at
                   FROM outbox WHERE id = ?""",
                [place, place, notice_id],
            )
            for place in dict.fromkeys(places[1:])
            if place != places[0]
        ]
        return [notice_id, *copies]

    def last_digest_end(self) -> datetime | None:
        """Where the last digest owed stops (the next one starts there)."""
        row = self._db.one(
            "SELECT MAX(window_end) AS end_at FROM outbox WHERE kind = ?", [MessageKind.DIGEST]
        )
        return parse_stamp(row["end_at"]) if row and row["end_at"] else None

    # -- sending -------------------------------------------------------------------------

    def owed(
        self,
        *,
        recipient_prefix: str | None = None,
        audiences: Iterable[str] = (),
        limit: int = 100,
        max_attempts: int | None = None,
        due_by: datetime | None = None,
    ) -> list[OwedMessage]:
        """Owed messages to addresses starting with `recipient_prefix` (None: none) and to
        `audiences`: fewest attempts first, then places (public threads) before officers,
        then oldest. With `max_attempts`, only those not given up on; with `due_by`, only
        those not backing off then."""
        wanted = list(audiences)
        prefix = recipient_prefix if recipient_prefix is not None else "\U0010ffff"
        rows = self._db.rows(
            f"""SELECT * FROM outbox WHERE status = ? AND attempts < ?
                AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                AND ((recipient >= ? AND recipient < ?) OR audience IN ({marks(len(wanted))}))
                ORDER BY attempts, recipient_is_place DESC, id LIMIT ?""",  # noqa: S608
            [
                MessageStatus.OWED,
                max_attempts if max_attempts is not None else _NO_LIMIT,
                stamp(due_by) if due_by is not None else "\U0010ffff",
                prefix,
                prefix + "\U0010ffff",
                *wanted,
                limit,
            ],
        )
        return [_message(r) for r in rows]

    def get(self, message_id: int) -> OwedMessage | None:
        row = self._db.one("SELECT * FROM outbox WHERE id = ?", [message_id])
        return _message(row) if row else None

    def answer_sent_to_place(self, answer_id: int, place: str) -> bool:
        row = self._db.one(
            "SELECT 1 AS found FROM outbox WHERE key = ? AND status = ?",
            [delivery_key(MessageKind.ANSWER, answer_id, place), MessageStatus.SENT],
        )
        return row is not None

    def mark_sent(self, message_id: int, now: datetime) -> bool:
        """True if this call marked it; False if it was already sent."""
        return (
            self._db.write(
                """UPDATE outbox SET status = ?, sent_at = ?, attempts = attempts + 1
                   WHERE id = ? AND status = ?""",
                [MessageStatus.SENT, stamp(now), message_id, MessageStatus.OWED],
            )
            == 1
        )

    def mark_part_sent(self, message_id: int, parts_sent: int) -> None:
        """A long notice goes out in parts: remember how many went, so a retry sends the rest."""
        self._db.write(
            "UPDATE outbox SET parts_sent = ? WHERE id = ? AND parts_sent < ?",
            [parts_sent, message_id, parts_sent],
        )

    def mark_failed(self, message_id: int, error: str, retry_at: datetime) -> int:
        """Record a failed attempt and when to try again; returns the attempts so far."""
        self._db.write(
            """UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
               WHERE id = ? AND status = ?""",
            [error[:500], stamp(retry_at), message_id, MessageStatus.OWED],
        )
        row = self._db.one("SELECT attempts FROM outbox WHERE id = ?", [message_id])
        return int(row["attempts"]) if row else 0

    def mark_given_up(self, message_id: int, error: str, attempts: int) -> None:
        """Record a failure that retrying cannot mend: the message counts as having failed
        `attempts` times (the given-up point), so it is not tried again until an admin
        retries it."""
        self._db.write(
            """UPDATE outbox SET attempts = MAX(attempts + 1, ?), last_error = ?,
                   next_attempt_at = NULL
               WHERE id = ? AND status = ?""",
            [attempts, error[:500], message_id, MessageStatus.OWED],
        )

    # -- for an admin --------------------------------------------------------------------

    def failing(self) -> list[FailingMessage]:
        """Owed messages that have failed at least once, most attempts first."""
        rows = self._db.rows(
            """SELECT id, kind, question_id, recipient, audience, place, attempts, last_error,
                      created_at
               FROM outbox WHERE status = ? AND attempts > 0
               ORDER BY attempts DESC, created_at""",
            [MessageStatus.OWED],
        )
        return [
            FailingMessage(
                table="delivery" if r["recipient"] is not None else "notice",
                id=r["id"],
                kind=MessageKind(r["kind"]),
                question_id=r["question_id"],
                recipient=r["recipient"] or _at(r["audience"], r["place"]),
                attempts=r["attempts"],
                last_error=r["last_error"] or "",
                created_at=parse_stamp(r["created_at"]),
            )
            for r in rows
        ]

    def retry_given_up(self, attempts: int) -> int:
        """Give every owed message that failed `attempts` times a fresh round, now."""
        return self._db.write(
            """UPDATE outbox SET attempts = 0, next_attempt_at = NULL
               WHERE status = ? AND attempts >= ?""",
            [MessageStatus.OWED, attempts],
        )
