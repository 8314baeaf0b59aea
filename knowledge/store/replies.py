"""Peer replies: officers' experience on a question, beside the expert's answer."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from knowledge.models import Reply
from knowledge.store.database import Database, parse_stamp, stamp

_REPLY_SELECT = """
SELECT r.id, r.question_id, r.text, r.links, r.created_at, au.name AS authority,
       r.officer_id, r.hidden_reason,
       (SELECT COUNT(*) FROM reply_marks m WHERE m.reply_id = r.id AND m.kind = 'helpful')
         AS helpful,
       (SELECT COUNT(*) FROM reply_marks m WHERE m.reply_id = r.id AND m.kind = 'solved')
         AS solved
FROM replies r JOIN authorities au ON au.id = r.authority_id
"""
_VISIBLE = " AND r.hidden_at IS NULL"


def _reply(row: dict[str, Any], name_authority: bool) -> Reply:
    return Reply(
        id=row["id"],
        question_id=row["question_id"],
        text=row["text"],
        links=tuple(json.loads(row["links"])),
        authority=row["authority"] if name_authority else None,
        created_at=parse_stamp(row["created_at"]),
        author_id=row["officer_id"],
        helpful=row["helpful"],
        solved=row["solved"],
        hidden_reason=row["hidden_reason"],
    )


class Replies:
    """Replies by question; each names its authority only where the caller says it may."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        question_id: int,
        officer_id: int,
        authority_id: int,
        text: str,
        links: tuple[str, ...],
        now: datetime,
    ) -> int:
        return self._db.insert(
            """INSERT INTO replies (question_id, officer_id, authority_id, text, links,
                   created_at) VALUES (?, ?, ?, ?, ?, ?)""",
            [question_id, officer_id, authority_id, text, json.dumps(list(links)), stamp(now)],
        )

    def get(self, reply_id: int, *, name_authority: bool) -> Reply | None:
        row = self._db.one(_REPLY_SELECT + " WHERE r.id = ?", [reply_id])
        return _reply(row, name_authority) if row else None

    def of_question(self, question_id: int, *, name_authority: bool) -> list[Reply]:
        """A question's replies, oldest first."""
        rows = self._db.rows(
            _REPLY_SELECT + " WHERE r.question_id = ?" + _VISIBLE + " ORDER BY r.id",
            [question_id],
        )
        return [_reply(row, name_authority) for row in rows]

    def mark(self, reply_id: int, officer_id: int, kind: str, now: datetime) -> bool:
        """Record an officer's mark ('helpful' or 'solved'); False if they had given it."""
        count = self._db.write(
            """INSERT INTO reply_marks (reply_id, officer_id, kind, created_at)
               VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [reply_id, officer_id, kind, stamp(now)],
        )
        return count == 1

    def counts(self, question_ids: list[int]) -> dict[int, tuple[int, int]]:
        """(replies, helpful marks) of each question that has replies."""
        if not question_ids:
            return {}
        rows = self._db.rows_for_ids(
            """SELECT r.question_id, COUNT(DISTINCT r.id) AS replies,
                      COUNT(m.reply_id) AS helpful
               FROM replies r LEFT JOIN reply_marks m
                 ON m.reply_id = r.id AND m.kind = 'helpful'
               WHERE r.question_id IN ({ids}) AND r.hidden_at IS NULL
               GROUP BY r.question_id""",
            question_ids,
        )
        return {int(r["question_id"]): (int(r["replies"]), int(r["helpful"])) for r in rows}

    def hide(self, reply_id: int, by: int, reason: str, now: datetime) -> int:
        """Withdraw a reply from view; its deliveries not yet sent are dropped (how many)."""
        self._db.write(
            "UPDATE replies SET hidden_at = ?, hidden_by = ?, hidden_reason = ? WHERE id = ?",
            [stamp(now), by, reason, reply_id],
        )
        return self._db.write(
            "DELETE FROM outbox WHERE reply_id = ? AND kind = 'reply' AND status = 'owed'",
            [reply_id],
        )

    def hidden(self, reply_id: int) -> bool:
        row = self._db.one("SELECT hidden_at FROM replies WHERE id = ?", [reply_id])
        return row is not None and row["hidden_at"] is not None

    def count_since(self, officer_id: int, since: datetime) -> int:
        row = self._db.one(
            "SELECT COUNT(*) AS n FROM replies WHERE officer_id = ? AND created_at > ?",
            [officer_id, stamp(since)],
        )
        return int(row["n"]) if row else 0
