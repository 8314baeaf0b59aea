"""Shared notes: learning an authority shares that is not tied to a question."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from knowledge.models import Note
from knowledge.store.database import Database, parse_stamp, stamp

_NOTE_SELECT = """
SELECT n.id, n.title, n.text, n.links, n.topic, n.created_at, n.officer_id,
       n.endorsed_at, n.hidden_reason, au.name AS authority
FROM notes n JOIN authorities au ON au.id = n.authority_id
"""


def _note(row: dict[str, Any], name_authority: bool) -> Note:
    return Note(
        id=row["id"],
        title=row["title"],
        text=row["text"],
        links=tuple(json.loads(row["links"])),
        topic=row["topic"],
        authority=row["authority"] if name_authority else None,
        created_at=parse_stamp(row["created_at"]),
        endorsed=row["endorsed_at"] is not None,
        author_id=row["officer_id"],
        hidden_reason=row["hidden_reason"],
    )


class Notes:
    """Notes by topic; hidden ones only by id (for their author's notice and the audit)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        officer_id: int,
        authority_id: int,
        title: str,
        text: str,
        links: tuple[str, ...],
        topic: str,
        now: datetime,
    ) -> int:
        return self._db.insert(
            """INSERT INTO notes (officer_id, authority_id, title, text, links, topic,
                   created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [officer_id, authority_id, title, text, json.dumps(list(links)), topic, stamp(now)],
        )

    def get(self, note_id: int, *, name_authority: bool, visible: bool = True) -> Note | None:
        hidden = " AND n.hidden_at IS NULL" if visible else ""
        row = self._db.one(_NOTE_SELECT + " WHERE n.id = ?" + hidden, [note_id])
        return _note(row, name_authority) if row else None

    def listing(self, topic: str | None, *, name_authority: bool, limit: int) -> list[Note]:
        """Visible notes, endorsed first, then newest."""
        where, params = "n.hidden_at IS NULL", []
        if topic is not None:
            where += " AND n.topic = ?"
            params.append(topic)
        rows = self._db.rows(
            _NOTE_SELECT + f" WHERE {where} ORDER BY n.endorsed_at IS NULL, n.id DESC LIMIT ?",
            [*params, limit],
        )
        return [_note(row, name_authority) for row in rows]

    def search(self, match: str, limit: int, *, name_authority: bool) -> list[Note]:
        rows = self._db.rows(
            _NOTE_SELECT
            + """ JOIN notes_fts ON notes_fts.rowid = n.id
                  WHERE notes_fts MATCH ? AND n.hidden_at IS NULL
                  ORDER BY bm25(notes_fts) LIMIT ?""",
            [match, limit],
        )
        return [_note(row, name_authority) for row in rows]

    def endorse(self, note_id: int, by: int, now: datetime) -> None:
        self._db.write(
            "UPDATE notes SET endorsed_at = ?, endorsed_by = ? WHERE id = ?",
            [stamp(now), by, note_id],
        )

    def hide(self, note_id: int, by: int, reason: str, now: datetime) -> None:
        self._db.write(
            "UPDATE notes SET hidden_at = ?, hidden_by = ?, hidden_reason = ? WHERE id = ?",
            [stamp(now), by, reason, note_id],
        )

    def count_since(self, officer_id: int, since: datetime) -> int:
        row = self._db.one(
            "SELECT COUNT(*) AS n FROM notes WHERE officer_id = ? AND created_at > ?",
            [officer_id, stamp(since)],
        )
        return int(row["n"]) if row else 0
