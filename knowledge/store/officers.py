"""Authorities and officers, and what an officer may see or erase of their own data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from knowledge.addresses import Address
from knowledge.models import Authority, MessageStatus, Officer
from knowledge.store.database import Database, stamp
from knowledge.text import authority_key

_OFFICER_SELECT = """
SELECT o.id, o.user_key, o.display_name, o.authority_id, au.name AS authority
FROM officers o LEFT JOIN authorities au ON au.id = o.authority_id
"""


def _officer(row: dict[str, Any]) -> Officer:
    return Officer(
        id=row["id"],
        user_key=row["user_key"],
        display_name=row["display_name"],
        authority_id=row["authority_id"],
        authority=row["authority"],
    )


class Officers:
    """Who the exchange knows, and the authorities they work for."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def find_authority(self, name: str) -> Authority | None:
        """The authority people would read `name` as (same `authority_key`), if known."""
        row = self._db.one("SELECT id, name FROM authorities WHERE key = ?", [authority_key(name)])
        return Authority(int(row["id"]), row["name"]) if row else None

    def add_authority(self, name: str, now: datetime) -> Authority:
        authority_id = self._db.insert(
            "INSERT INTO authorities (name, key, created_at) VALUES (?, ?, ?)",
            [name, authority_key(name), stamp(now)],
        )
        return Authority(authority_id, name)

    def respell_authority(self, authority_id: int, name: str) -> None:
        """Show the authority under `name` (a spelling with the same key)."""
        self._db.write(
            "UPDATE authorities SET name = ?, key = ? WHERE id = ?",
            [name, authority_key(name), authority_id],
        )

    def authority_id(self, name: str, now: datetime) -> int:
        """The id of the authority `name` is read as, adding it if new."""
        found = self.find_authority(name) or self.add_authority(name, now)
        return found.id

    def authority_names(self) -> list[str]:
        return [r["name"] for r in self._db.rows("SELECT name FROM authorities ORDER BY name")]

    def get(self, user_key: str) -> Officer | None:
        row = self._db.one(_OFFICER_SELECT + " WHERE o.user_key = ?", [user_key])
        return _officer(row) if row else None

    def named(self, text: str, limit: int = 50) -> list[Officer]:
        """Officers (not erased) whose name, key or authority contains `text`, any case."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.rows(
            _OFFICER_SELECT
            + """ WHERE o.forgotten_at IS NULL AND (o.display_name LIKE ? ESCAPE '\\'
                  OR o.user_key LIKE ? ESCAPE '\\' OR au.name LIKE ? ESCAPE '\\')
                  ORDER BY o.display_name, o.id LIMIT ?""",
            [pattern, pattern, pattern, limit],
        )
        return [_officer(row) for row in rows]

    def save(self, user_key: str, display_name: str, now: datetime) -> Officer:
        """The officer, added if new, with the display name refreshed."""
        officer = self.get(user_key)
        if officer is None:
            self._db.insert(
                "INSERT INTO officers (user_key, display_name, created_at) VALUES (?, ?, ?)",
                [user_key, display_name, stamp(now)],
            )
        elif officer.display_name != display_name:
            self._db.write(
                "UPDATE officers SET display_name = ? WHERE id = ?", [display_name, officer.id]
            )
        else:
            return officer
        saved = self.get(user_key)
        assert saved is not None
        return saved

    def display_name(self, officer_id: int | None) -> str | None:
        if officer_id is None:
            return None
        row = self._db.one("SELECT display_name FROM officers WHERE id = ?", [officer_id])
        return row["display_name"] if row else None

    def by_id(self, officer_id: int) -> Officer | None:
        row = self._db.one(_OFFICER_SELECT + " WHERE o.id = ?", [officer_id])
        return _officer(row) if row else None

    def reply_notices(self, officer_id: int) -> bool:
        """Whether the officer hears of peer replies to questions they wait on."""
        row = self._db.one("SELECT reply_notices FROM officers WHERE id = ?", [officer_id])
        return bool(row["reply_notices"]) if row else False

    def set_reply_notices(self, officer_id: int, on: bool) -> None:
        self._db.write("UPDATE officers SET reply_notices = ? WHERE id = ?", [int(on), officer_id])

    def set_authority(self, officer_id: int, authority_id: int) -> None:
        self._db.write(
            "UPDATE officers SET authority_id = ? WHERE id = ?", [authority_id, officer_id]
        )


class PersonalData:
    """Everything kept about one officer, across the tables: to export, or to erase."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def of(self, officer_id: int) -> dict[str, Any]:
        """Everything kept that is about one officer, as plain rows (for their export)."""
        db = self._db
        return {
            "officer": db.one(
                """SELECT o.user_key, o.display_name, au.name AS authority, o.created_at
                   FROM officers o LEFT JOIN authorities au ON au.id = o.authority_id
                   WHERE o.id = ?""",
                [officer_id],
            ),
            "asks": db.rows(
                """SELECT 'Q-' || a.question_id AS question, a.text,
                          CASE WHEN a.merged_from IS NULL THEN a.link ELSE 'merged' END AS link,
                          CASE WHEN a.merged_from IS NULL THEN NULL
                               ELSE 'Q-' || a.merged_from END AS merged_from,
                          a.score, a.place, a.asked_at, a.withdrawn_at,
                          q.status AS question_status
                   FROM asks a JOIN questions q ON q.id = a.question_id
                   WHERE a.officer_id = ? ORDER BY a.id""",
                [officer_id],
            ),
            "replies": db.rows(
                """SELECT 'R-' || id AS reply, 'Q-' || question_id AS question, text, links,
                          created_at FROM replies WHERE officer_id = ? ORDER BY id""",
                [officer_id],
            ),
            "notes": db.rows(
                """SELECT 'N-' || id AS note, title, text, links, topic, created_at,
                          hidden_at IS NOT NULL AS hidden FROM notes
                   WHERE officer_id = ? ORDER BY id""",
                [officer_id],
            ),
            "reply_marks": db.rows(
                """SELECT 'R-' || reply_id AS reply, kind, created_at FROM reply_marks
                   WHERE officer_id = ? ORDER BY created_at""",
                [officer_id],
            ),
            "suggestions": db.rows(
                """SELECT text, topic, 'Q-' || suggested_question_id AS suggested, score,
                          created_at, resolution FROM drafts WHERE officer_id = ? ORDER BY id""",
                [officer_id],
            ),
            "deliveries": db.rows(
                """SELECT kind, 'Q-' || question_id AS question, status, attempts, created_at,
                          sent_at FROM outbox WHERE officer_id = ? ORDER BY id""",
                [officer_id],
            ),
            "events": db.rows(
                """SELECT at, action, CASE WHEN question_id IS NULL THEN NULL
                          ELSE 'Q-' || question_id END AS question, detail
                   FROM events WHERE actor_id = ? ORDER BY id""",
                [officer_id],
            ),
        }

    def anonymise(self, officer_id: int, now: datetime) -> None:
        """Erase an officer's identity; their asks stay, linked to an anonymous row."""
        anonymous = str(Address.forgotten(officer_id))
        db = self._db
        db.write(
            """UPDATE officers SET user_key = ?, display_name = NULL, forgotten_at = ?
               WHERE id = ?""",
            [anonymous, stamp(now), officer_id],
        )
        db.write("DELETE FROM drafts WHERE officer_id = ?", [officer_id])
        db.write(
            "DELETE FROM outbox WHERE officer_id = ? AND status = ?",
            [officer_id, MessageStatus.OWED],
        )
        db.write(
            """UPDATE outbox SET recipient = ?, key = 'forgotten:' || id,
               last_error = NULL WHERE officer_id = ?""",
            [anonymous, officer_id],
        )
        db.write("UPDATE asks SET place = NULL WHERE officer_id = ?", [officer_id])
