"""The change log that keeps every process's duplicate matcher in step with the database.

Triggers (see migrations.py) add a row for each change to a question or its asks that the
matcher cares about, whoever makes it: this process, or another one such as
`psn-exchange import` while the bot runs. Each process remembers how far it has read.
"""

from __future__ import annotations

from knowledge.store.database import Database

# Rows kept; a process that falls further behind than this rebuilds its matcher instead.
KEEP = 100_000
# Old rows forgotten per commit at most.
TRIM_BATCH = 2_000


class QuestionChanges:
    """Read (and trim) the log of questions whose wordings or status changed."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def latest(self) -> int:
        """The position of the newest change (0 for none yet)."""
        row = self._db.one("SELECT COALESCE(MAX(id), 0) AS n FROM question_changes")
        return int(row["n"]) if row else 0

    def since(self, position: int) -> tuple[int, set[int]] | None:
        """(the newest position, the questions changed after `position`), or None if the
        log no longer reaches back that far (the caller must rebuild from scratch)."""
        rows = self._db.rows(
            "SELECT id, question_id FROM question_changes WHERE id > ? ORDER BY id", [position]
        )
        if not rows:
            if position > self.latest():  # rolled back under us (ids are reused): start afresh
                return None
            return position, set()
        if rows[0]["id"] > position + 1:  # ids are consecutive; a gap means trimmed
            return None
        return int(rows[-1]["id"]), {int(r["question_id"]) for r in rows}

    def trim(self, keep: int = KEEP, at_most: int = TRIM_BATCH) -> None:
        """Forget the oldest changes beyond the newest `keep`, `at_most` at a time, so no
        single use case pays for trimming a large import's worth at once."""
        self._db.write(
            """DELETE FROM question_changes WHERE id <= MIN(
                 (SELECT MAX(id) FROM question_changes) - ?,
                 (SELECT MIN(id) FROM question_changes) + ?)""",
            [keep, at_most - 1],
        )
