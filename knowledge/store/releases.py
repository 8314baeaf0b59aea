"""Answers, releases, deliveries and the event log."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from knowledge.models import Answer, Delivery
from knowledge.store.base import parse_stamp, stamp
from knowledge.store.questions import QuestionTables

_ANSWER_SELECT = """
SELECT an.id, an.question_id, an.version, an.body, an.links, an.created_at, r.number
FROM answers an LEFT JOIN releases r ON r.id = an.release_id
"""


def _answer(row: dict[str, Any]) -> Answer:
    return Answer(
        id=row["id"],
        question_id=row["question_id"],
        version=row["version"],
        body=row["body"],
        links=tuple(json.loads(row["links"])),
        created_at=parse_stamp(row["created_at"]),
        release_number=row["number"],
    )


def delivery_key(kind: str, about: int | None, recipient: str) -> str:
    """The one key of a message (kind, the answer or merge it is about, recipient): the
    same message to the same recipient is owed once."""
    return f"{kind}:{about}:{recipient}"


class ReleaseTables(QuestionTables):
    """What the expert writes and publishes, and what is owed to whom."""

    # -- answers and releases ---------------------------------------------------------

    def save_answer(
        self,
        *,
        question_id: int,
        body: str,
        links: tuple[str, ...],
        author_id: int,
        now: datetime,
    ) -> int:
        """Save the expert's answer. Until it is published it is a draft, rewritten in place;
        after that, answering again makes the next version. So a version number counts the
        answers officers were sent, and the first one they get is never "version 2"."""
        draft = self._one(
            "SELECT id FROM answers WHERE question_id = ? AND release_id IS NULL "
            "ORDER BY version DESC LIMIT 1",
            [question_id],
        )
        if draft is not None:
            self._write(
                "UPDATE answers SET body = ?, links = ?, author_id = ?, created_at = ? "
                "WHERE id = ?",
                [body, json.dumps(list(links)), author_id, stamp(now), draft["id"]],
            )
            return int(draft["id"])
        row = self._one(
            "SELECT COALESCE(MAX(version), 0) AS v FROM answers WHERE question_id = ?",
            [question_id],
        )
        version = (row["v"] if row else 0) + 1
        return self._insert(
            """INSERT INTO answers (question_id, version, body, links, author_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [question_id, version, body, json.dumps(list(links)), author_id, stamp(now)],
        )

    def answer(self, answer_id: int) -> Answer | None:
        row = self._one(_ANSWER_SELECT + " WHERE an.id = ?", [answer_id])
        return _answer(row) if row else None

    def latest_answer(self, question_id: int, *, published_only: bool) -> Answer | None:
        where = " AND an.release_id IS NOT NULL" if published_only else ""
        row = self._one(
            _ANSWER_SELECT + f" WHERE an.question_id = ?{where} ORDER BY an.version DESC LIMIT 1",
            [question_id],
        )
        return _answer(row) if row else None

    def latest_published_answers(self, question_ids: Iterable[int]) -> dict[int, Answer]:
        rows = self._rows_for_ids(
            _ANSWER_SELECT
            + " WHERE an.release_id IS NOT NULL AND an.question_id IN ({ids}) ORDER BY an.version",
            question_ids,
        )
        return {row["question_id"]: _answer(row) for row in rows}  # the last version wins

    def unpublished_answers(self) -> list[Answer]:
        return [
            _answer(r)
            for r in self._rows(
                _ANSWER_SELECT
                + """ JOIN questions q ON q.id = an.question_id
                      WHERE an.release_id IS NULL
                      AND q.status IN ('in_release', 'answered')
                      ORDER BY an.question_id, an.version"""
            )
        ]

    def last_release_number(self) -> int:
        row = self._one("SELECT COALESCE(MAX(number), 0) AS n FROM releases")
        return int(row["n"]) if row else 0

    def add_release(self, number: int, published_by: int, now: datetime) -> int:
        return self._insert(
            "INSERT INTO releases (number, published_at, published_by) VALUES (?, ?, ?)",
            [number, stamp(now), published_by],
        )

    def attach_answers(self, answer_ids: Iterable[int], release_id: int) -> None:
        for answer_id in answer_ids:
            self._write(
                "UPDATE answers SET release_id = ? WHERE id = ? AND release_id IS NULL",
                [release_id, answer_id],
            )

    # -- deliveries -------------------------------------------------------------------

    def owe(
        self,
        *,
        dedupe_key: str,
        kind: str,
        question_id: int,
        recipient: str,
        recipient_is_place: bool,
        now: datetime,
        answer_id: int | None = None,
        merged_from: int | None = None,
        officer_id: int | None = None,
    ) -> bool:
        """Record a message owed; False if the same one was already recorded."""
        count = self._write(
            """INSERT OR IGNORE INTO deliveries (dedupe_key, kind, question_id, answer_id,
                   merged_from, recipient, recipient_is_place, officer_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                dedupe_key,
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

    def owed_rows(
        self, recipient_prefix: str, limit: int, max_attempts: int | None = None
    ) -> list[dict[str, Any]]:
        """Owed deliveries, oldest first, places (public threads) before officers; with
        `max_attempts`, only those still worth trying."""
        return self._rows(
            """SELECT * FROM deliveries WHERE status = 'owed' AND recipient >= ? AND recipient < ?
               AND attempts < ? ORDER BY attempts, recipient_is_place DESC, id LIMIT ?""",
            [
                recipient_prefix,
                recipient_prefix + "\U0010ffff",
                max_attempts if max_attempts is not None else 2**62,
                limit,
            ],
        )

    def delivery_row(self, delivery_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM deliveries WHERE id = ?", [delivery_id])

    def answer_sent_to_place(self, answer_id: int, place: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM deliveries WHERE dedupe_key = ? AND status = 'sent'",
                [delivery_key("answer", answer_id, place)],
            )
            is not None
        )

    def mark_sent(self, delivery_id: int, now: datetime) -> bool:
        """True if this call marked it; False if it was already sent."""
        return (
            self._write(
                """UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1
                   WHERE id = ? AND status = 'owed'""",
                [stamp(now), delivery_id],
            )
            == 1
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        self._write(
            """UPDATE deliveries SET attempts = attempts + 1, last_error = ?
               WHERE id = ? AND status = 'owed'""",
            [error[:500], delivery_id],
        )

    def to_delivery(self, row: dict[str, Any], name_authorities: bool) -> Delivery:
        question = self.question(row["question_id"])
        assert question is not None
        answer = self.answer(row["answer_id"]) if row["answer_id"] else None
        names = (
            self.authorities_behind([question.id]).get(question.id, ()) if name_authorities else ()
        )
        return Delivery(
            id=row["id"],
            kind=row["kind"],
            recipient=row["recipient"],
            recipient_is_place=bool(row["recipient_is_place"]),
            question=question,
            answer=answer,
            merged_from=row["merged_from"],
            authority_names=names,
            recipient_name=self._display_name(row["officer_id"]),
            place=self.question_place(question.id),
            attempts=row["attempts"],
        )

    def answered_question_ids(self) -> list[int]:
        return [
            r["id"]
            for r in self._rows("SELECT id FROM questions WHERE status = 'answered' ORDER BY id")
        ]

    def asker_names(self, question_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        """Display names of the officers behind each question (for opted-in exports)."""
        result: dict[int, list[str]] = {}
        for row in self._rows_for_ids(
            """SELECT DISTINCT a.question_id, o.display_name FROM asks a
               JOIN officers o ON o.id = a.officer_id
               WHERE a.withdrawn_at IS NULL AND o.forgotten_at IS NULL
               AND a.question_id IN ({ids}) ORDER BY o.display_name""",
            question_ids,
        ):
            result.setdefault(row["question_id"], []).append(row["display_name"])
        return {qid: tuple(names) for qid, names in result.items()}

    # -- events -----------------------------------------------------------------------

    def record(
        self,
        action: str,
        *,
        actor_id: int | None,
        now: datetime,
        question_id: int | None = None,
        **detail: Any,
    ) -> None:
        self._insert(
            "INSERT INTO events (at, actor_id, action, question_id, detail) VALUES (?, ?, ?, ?, ?)",
            [stamp(now), actor_id, action, question_id, json.dumps(detail, sort_keys=True)],
        )

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        if action is None:
            return self._rows("SELECT * FROM events ORDER BY id")
        return self._rows("SELECT * FROM events WHERE action = ? ORDER BY id", [action])
