"""Imports in progress: their rows are written in short transactions but stay hidden
(`import_id` set) until the import completes, so an import is all or nothing without
holding the write lock for its whole length."""

from __future__ import annotations

from datetime import datetime

from knowledge.store.database import Database, stamp


class Imports:
    """Start, keep alive, complete or remove an import's hidden rows."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def begin(self, started_by: int, now: datetime) -> int:
        return self._db.insert(
            "INSERT INTO imports (started_by, started_at, heartbeat_at) VALUES (?, ?, ?)",
            [started_by, stamp(now), stamp(now)],
        )

    def heartbeat(self, import_id: int, now: datetime) -> None:
        """Say the import is still running (an import silent for long is abandoned)."""
        self._db.write("UPDATE imports SET heartbeat_at = ? WHERE id = ?", [stamp(now), import_id])

    def complete(self, import_id: int, now: datetime) -> None:
        """Make the import's questions and asks visible to everyone, its demand counted."""
        db = self._db
        # Demand counts the import's asks as if visible, for every question they touch.
        db.write(
            """UPDATE questions SET
                 demand = (SELECT COUNT(DISTINCT a.authority_id) FROM asks a
                           WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL
                           AND (a.import_id IS NULL OR a.import_id = ?1)),
                 waiting_since = COALESCE((SELECT MIN(a.asked_at) FROM asks a
                           WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL
                           AND (a.import_id IS NULL OR a.import_id = ?1)), created_at)
               WHERE id IN (SELECT question_id FROM asks WHERE import_id = ?1)""",
            [import_id],
        )
        db.write("UPDATE questions SET import_id = NULL WHERE import_id = ?", [import_id])
        db.write("UPDATE asks SET import_id = NULL WHERE import_id = ?", [import_id])
        db.write("UPDATE merge_proposals SET import_id = NULL WHERE import_id = ?", [import_id])
        db.write("UPDATE imports SET finished_at = ? WHERE id = ?", [stamp(now), import_id])

    def remove(self, import_id: int, at_most: int = 2_000) -> int:
        """Delete up to `at_most` of an unfinished import's hidden rows (call again until it
        returns 0, each call its own short transaction); then the import itself, and the
        import officers and authorities it added that nothing else uses."""
        db = self._db
        db.write("DELETE FROM merge_proposals WHERE import_id = ?", [import_id])
        removed = db.write(
            """DELETE FROM asks WHERE id IN (
                 SELECT id FROM asks WHERE import_id = ? LIMIT ?)""",
            [import_id, at_most],
        )
        if removed:
            return removed
        removed = db.write(
            """DELETE FROM questions WHERE id IN (
                 SELECT id FROM questions WHERE import_id = ?
                 AND id NOT IN (SELECT question_id FROM asks) LIMIT ?)""",
            [import_id, at_most],
        )
        if removed:
            return removed
        started = db.one("SELECT started_at FROM imports WHERE id = ?", [import_id])
        if started is None:
            return 0
        # The people named in the file that nothing else refers to, and their one event.
        orphans = """SELECT id FROM officers WHERE user_key LIKE 'import:%' AND created_at >= ?
                     AND id NOT IN (SELECT officer_id FROM asks WHERE officer_id IS NOT NULL)"""
        since = [started["started_at"]]
        db.write(
            f"DELETE FROM events WHERE action = 'authority_set' AND actor_id IN ({orphans})",  # noqa: S608
            since,
        )
        db.write(
            f"""DELETE FROM officers WHERE id IN ({orphans})
                AND id NOT IN (SELECT actor_id FROM events WHERE actor_id IS NOT NULL)""",  # noqa: S608
            since,
        )
        db.write(
            """DELETE FROM authorities WHERE created_at >= ?
               AND id NOT IN (SELECT authority_id FROM asks)
               AND id NOT IN (SELECT authority_id FROM officers
                              WHERE authority_id IS NOT NULL)""",
            [started["started_at"]],
        )
        db.write("DELETE FROM imports WHERE id = ?", [import_id])
        return 0

    def abandoned(self, silent_since: datetime) -> list[int]:
        """Unfinished imports that have said nothing since `silent_since`."""
        return [
            int(r["id"])
            for r in self._db.rows(
                "SELECT id FROM imports WHERE finished_at IS NULL AND heartbeat_at < ?",
                [stamp(silent_since)],
            )
        ]
