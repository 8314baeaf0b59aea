"""What the exchange owes: messages to officers and places (deliveries), and digests and
reminders to the steering group and the expert (notices)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from knowledge.models import FailingMessage, MessageKind, MessageStatus, Notice, OwedDelivery
from knowledge.store.database import Database, marks, parse_stamp, stamp

_NO_LIMIT = 2**62
AUDIENCES = ("steering", "expert")


def delivery_key(kind: MessageKind, about: int | None, recipient: str) -> str:
    """The one key of a message (kind, the answer or merge it is about, recipient): the
    same message to the same recipient is owed once."""
    return f"{kind.value}:{about}:{recipient}"


def _delivery(row: dict[str, Any]) -> OwedDelivery:
    return OwedDelivery(
        id=row["id"],
        kind=MessageKind(row["kind"]),
        question_id=row["question_id"],
        answer_id=row["answer_id"],
        merged_from=row["merged_from"],
        recipient=row["recipient"],
        recipient_is_place=bool(row["recipient_is_place"]),
        officer_id=row["officer_id"],
        attempts=row["attempts"],
    )


def _notice(row: dict[str, Any]) -> Notice:
    return Notice(
        row["id"],
        row["kind"],
        row["audience"],
        row["body"],
        row["attempts"],
        row["parts_sent"],
        failed_before=row["last_error"] is not None,
    )


class Outbox:
    """Messages owed, recorded in the transaction that owes them and marked once sent."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- deliveries (answers and merge notices to officers and places) -----------------

    def owe(
        self,
        *,
        kind: MessageKind,
        about: int | None,
        question_id: int,
        recipient: str,
        recipient_is_place: bool,
        now: datetime,
        answer_id: int | None = None,
        merged_from: int | None = None,
        officer_id: int | None = None,
    ) -> bool:
        """Record a message owed; False if the same one was already recorded."""
        count = self._db.write(
            """INSERT OR IGNORE INTO deliveries (dedupe_key, kind, question_id, answer_id,
                   merged_from, recipient, recipient_is_place, officer_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                delivery_key(kind, about, recipient),
                kind,
                question_id,
                answer_id,
                merged_from,
                recipient,
                int(recipient_is_place),
                officer_id,
                stamp(now),
            ],
        )
        return count == 1

    def owed_deliveries(
        self, recipient_prefix: str, limit: int, max_attempts: int | None = None
    ) -> list[OwedDelivery]:
        """Owed deliveries, oldest first, places (public threads) before officers; with
        `max_attempts`, only those still worth trying."""
        rows = self._db.rows(
            """SELECT * FROM deliveries WHERE status = ? AND recipient >= ? AND recipient < ?
               AND attempts < ? ORDER BY attempts, recipient_is_place DESC, id LIMIT ?""",
            [
                MessageStatus.OWED,
                recipient_prefix,
                recipient_prefix + "\U0010ffff",
                max_attempts if max_attempts is not None else _NO_LIMIT,
                limit,
            ],
        )
        return [_delivery(r) for r in rows]

    def delivery(self, delivery_id: int) -> OwedDelivery | None:
        row = self._db.one("SELECT * FROM deliveries WHERE id = ?", [delivery_id])
        return _delivery(row) if row else None

    def answer_sent_to_place(self, answer_id: int, place: str) -> bool:
        row = self._db.one(
            "SELECT 1 AS found FROM deliveries WHERE dedupe_key = ? AND status = ?",
            [delivery_key(MessageKind.ANSWER, answer_id, place), MessageStatus.SENT],
        )
        return row is not None

    def mark_sent(self, delivery_id: int, now: datetime) -> bool:
        """True if this call marked it; False if it was already sent."""
        return self._mark_sent("deliveries", delivery_id, now)

    def mark_failed(self, delivery_id: int, error: str) -> None:
        self._mark_failed("deliveries", delivery_id, error)

    # -- notices (digests, release reminders, overdue flags) ---------------------------

    def notice_exists(self, key: str) -> bool:
        return self._db.one("SELECT 1 AS found FROM notices WHERE key = ?", [key]) is not None

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
        """Record a notice owed; None if one with this key already exists."""
        start, end = (stamp(window[0]), stamp(window[1])) if window else (None, None)
        if self.notice_exists(key):
            return None
        return self._db.insert(
            """INSERT INTO notices (key, kind, audience, window_start, window_end, body,
                   created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [key, kind, audience, start, end, body, stamp(now)],
        )

    def last_digest_end(self) -> datetime | None:
        """Where the last digest owed stops (the next one starts there)."""
        row = self._db.one(
            "SELECT MAX(window_end) AS end_at FROM notices WHERE kind = ?", [MessageKind.DIGEST]
        )
        return parse_stamp(row["end_at"]) if row and row["end_at"] else None

    def owed_notices(
        self, audiences: Iterable[str] | None, limit: int, max_attempts: int | None = None
    ) -> list[Notice]:
        """Owed notices, oldest first, for the given audiences (None: all)."""
        wanted = list(AUDIENCES) if audiences is None else list(audiences)
        if not wanted:
            return []
        rows = self._db.rows(
            f"""SELECT * FROM notices WHERE status = ? AND audience IN ({marks(len(wanted))})
                AND attempts < ? ORDER BY attempts, id LIMIT ?""",  # noqa: S608
            [
                MessageStatus.OWED,
                *wanted,
                max_attempts if max_attempts is not None else _NO_LIMIT,
                limit,
            ],
        )
        return [_notice(r) for r in rows]

    def mark_notice_sent(self, notice_id: int, now: datetime) -> bool:
        return self._mark_sent("notices", notice_id, now)

    def mark_notice_part_sent(self, notice_id: int, parts_sent: int) -> None:
        self._db.write(
            "UPDATE notices SET parts_sent = ? WHERE id = ? AND parts_sent < ?",
            [parts_sent, notice_id, parts_sent],
        )

    def mark_notice_failed(self, notice_id: int, error: str) -> None:
        self._mark_failed("notices", notice_id, error)

    # -- both --------------------------------------------------------------------------

    def failing(self) -> list[FailingMessage]:
        """Owed deliveries and notices that have failed at least once, most attempts first."""
        rows = self._db.rows(
            """SELECT 'delivery' AS tbl, id, kind, question_id, recipient, attempts,
                      last_error, created_at
               FROM deliveries WHERE status = :owed AND attempts > 0
               UNION ALL
               SELECT 'notice', id, kind, NULL, audience, attempts, last_error, created_at
               FROM notices WHERE status = :owed AND attempts > 0
               ORDER BY attempts DESC, created_at""",
            {"owed": MessageStatus.OWED.value},
        )
        return [
            FailingMessage(
                table=r["tbl"],
                id=r["id"],
                kind=MessageKind(r["kind"]),
                question_id=r["question_id"],
                recipient=r["recipient"],
                attempts=r["attempts"],
                last_error=r["last_error"] or "",
                created_at=parse_stamp(r["created_at"]),
            )
            for r in rows
        ]

    def retry_given_up(self, attempts: int) -> int:
        """Give every owed delivery and notice that failed `attempts` times a fresh round."""
        return sum(
            self._db.write(
                f"UPDATE {table} SET attempts = 0 WHERE status = ? AND attempts >= ?",  # noqa: S608
                [MessageStatus.OWED, attempts],
            )
            for table in ("deliveries", "notices")
        )

    def _mark_sent(self, table: str, message_id: int, now: datetime) -> bool:
        return (
            self._db.write(
                f"""UPDATE {table} SET status = ?, sent_at = ?, attempts = attempts + 1
                    WHERE id = ? AND status = ?""",  # noqa: S608
                [MessageStatus.SENT, stamp(now), message_id, MessageStatus.OWED],
            )
            == 1
        )

    def _mark_failed(self, table: str, message_id: int, error: str) -> None:
        self._db.write(
            f"""UPDATE {table} SET attempts = attempts + 1, last_error = ?
                WHERE id = ? AND status = ?""",  # noqa: S608
            [error[:500], message_id, MessageStatus.OWED],
        )
