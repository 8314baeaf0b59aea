"""The event log (who did what, when: the audit trail) and small front-end facts."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from knowledge.models import AuditEntry, RelatedListing
from knowledge.store.database import Database, parse_stamp, stamp


def _who(row: dict[str, Any]) -> str:
    if row["actor_id"] is None:
        return "the exchange"
    if row["forgotten_at"] is not None or row["user_key"] is None:
        return f"erased officer #{row['actor_id']}"
    return f"{row['display_name'] or '?'} ({row['user_key']})"


class Events:
    """The audit trail: one row per action, with its details as JSON."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        action: str,
        *,
        actor_id: int | None,
        now: datetime,
        question_id: int | None = None,
        **detail: Any,
    ) -> None:
        self._db.insert(
            "INSERT INTO events (at, actor_id, action, question_id, detail) VALUES (?, ?, ?, ?, ?)",
            [stamp(now), actor_id, action, question_id, json.dumps(detail, sort_keys=True)],
        )

    def record_many(
        self,
        action: str,
        *,
        actor_id: int | None,
        now: datetime,
        items: list[tuple[int | None, dict[str, Any]]],
    ) -> None:
        """One `action` event per (question id, detail), in one statement (an import's rows)."""
        try:
            self._db.conn.executemany(
                "INSERT INTO events (at, actor_id, action, question_id, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (stamp(now), actor_id, action, question_id, json.dumps(detail, sort_keys=True))
                    for question_id, detail in items
                ],
            )
        except sqlite3.DatabaseError as exc:
            raise self._db.error(exc) from None

    def trail(
        self,
        *,
        since: datetime | None,
        until: datetime | None,
        question_id: int | None,
        actor_key: str | None,
        limit: int,
    ) -> list[AuditEntry]:
        """The audit trail in order, filtered; an erased officer is shown by number only."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if since is not None:
            where.append("e.at >= ?")
            params.append(stamp(since))
        if until is not None:
            where.append("e.at < ?")
            params.append(stamp(until))
        if question_id is not None:
            # A release names its questions in its detail: "who published this, when?"
            where.append(
                """(e.question_id = ? OR (e.question_id IS NULL AND EXISTS (
                     SELECT 1 FROM json_each(e.detail, '$.questions') WHERE value = ?)))"""
            )
            params += [question_id, question_id]
        if actor_key is not None:
            where.append("o.user_key = ? AND o.forgotten_at IS NULL")
            params.append(actor_key)
        rows = self._db.rows(
            f"""SELECT e.id, e.at, e.action, e.question_id, e.detail, e.actor_id,
                       o.user_key, o.display_name, o.forgotten_at
                FROM events e LEFT JOIN officers o ON o.id = e.actor_id
                WHERE {" AND ".join(where)} ORDER BY e.id LIMIT ?""",  # noqa: S608
            [*params, limit],
        )
        return [
            AuditEntry(
                id=r["id"],
                at=parse_stamp(r["at"]),
                who=_who(r),
                action=r["action"],
                question_id=r["question_id"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    def related_listing(
        self, officer_id: int, question_id: int, since: datetime
    ) -> RelatedListing | None:
        """How `question_id` was listed as related to the officer's latest new question,
        if it was, since `since`."""
        row = self._db.one(
            """SELECT question_id, detail FROM events
               WHERE action = 'related_listed' AND actor_id = ? AND at > ?
               ORDER BY id DESC LIMIT 1""",
            [officer_id, stamp(since)],
        )
        if row is None:
            return None
        detail = json.loads(row["detail"])
        listed = list(detail.get("related", []))
        if question_id not in listed:
            return None
        score = float(detail["scores"][listed.index(question_id)])
        return RelatedListing(int(row["question_id"]), score, str(detail.get("scale", "lexical")))

    def all(self, action: str | None = None) -> list[dict[str, Any]]:
        """Every event (or every one of `action`), oldest first, as stored."""
        if action is None:
            return self._db.rows("SELECT * FROM events ORDER BY id")
        return self._db.rows("SELECT * FROM events WHERE action = ? ORDER BY id", [action])


class Facts:
    """Small facts a front end keeps between runs (e.g. the synced command hash)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str) -> str | None:
        row = self._db.one("SELECT value FROM meta WHERE key = ?", [key])
        return row["value"] if row else None

    def set(self, key: str, value: str, now: datetime) -> None:
        self._db.write(
            """INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value,
               updated_at = excluded.updated_at""",
            [key, value, stamp(now)],
        )
