"""The expert's answers and the numbered releases that publish them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from knowledge.models import Answer, Status
from knowledge.store.database import Database, parse_stamp, stamp

_ANSWER_SELECT = """
SELECT an.id, an.question_id, an.version, an.body, an.links, an.created_at, r.number,
       an.marking
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
        sensitive=row["marking"] is not None,
    )


class Answers:
    """Answers (drafts until a release publishes them) and releases."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(
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
        db = self._db
        draft = db.one(
            "SELECT id FROM answers WHERE question_id = ? AND release_id IS NULL "
            "ORDER BY version DESC LIMIT 1",
            [question_id],
        )
        if draft is not None:
            db.write(
                "UPDATE answers SET body = ?, links = ?, author_id = ?, created_at = ? "
                "WHERE id = ?",
                [body, json.dumps(list(links)), author_id, stamp(now), draft["id"]],
            )
            return int(draft["id"])
        row = db.one(
            "SELECT COALESCE(MAX(version), 0) AS v FROM answers WHERE question_id = ?",
            [question_id],
        )
        version = (row["v"] if row else 0) + 1
        return db.insert(
            """INSERT INTO answers (question_id, version, body, links, author_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [question_id, version, body, json.dumps(list(links)), author_id, stamp(now)],
        )

    def get(self, answer_id: int) -> Answer | None:
        row = self._db.one(_ANSWER_SELECT + " WHERE an.id = ?", [answer_id])
        return _answer(row) if row else None

    def latest(self, question_id: int, *, published_only: bool) -> Answer | None:
        where = " AND an.release_id IS NOT NULL" if published_only else ""
        row = self._db.one(
            _ANSWER_SELECT + f" WHERE an.question_id = ?{where} ORDER BY an.version DESC LIMIT 1",
            [question_id],
        )
        return _answer(row) if row else None

    def draft(self, question_id: int) -> Answer | None:
        """The question's answer written since its last release, if any."""
        row = self._db.one(
            _ANSWER_SELECT + " WHERE an.question_id = ? AND an.release_id IS NULL "
            "ORDER BY an.version DESC LIMIT 1",
            [question_id],
        )
        return _answer(row) if row else None

    def mark(self, answer_id: int, marking: str | None) -> None:
        """Set (or clear, with None) an answer's protective marking."""
        self._db.write("UPDATE answers SET marking = ? WHERE id = ?", [marking, answer_id])

    def discard(self, answer_id: int) -> None:
        """Drop a draft (never a published answer)."""
        self._db.write("DELETE FROM answers WHERE id = ? AND release_id IS NULL", [answer_id])

    def latest_published(self, question_ids: Iterable[int]) -> dict[int, Answer]:
        rows = self._db.rows_for_ids(
            _ANSWER_SELECT
            + " WHERE an.release_id IS NOT NULL AND an.question_id IN ({ids}) ORDER BY an.version",
            question_ids,
        )
        return {row["question_id"]: _answer(row) for row in rows}  # the last version wins

    def unpublished(self) -> list[Answer]:
        """Answers written since the last release, for questions still live."""
        return [
            _answer(r)
            for r in self._db.rows(
                _ANSWER_SELECT
                + """ JOIN questions q ON q.id = an.question_id
                      WHERE an.release_id IS NULL AND q.status IN (?, ?)
                      ORDER BY an.question_id, an.version""",
                [Status.IN_RELEASE, Status.ANSWERED],
            )
        ]

    def last_release_number(self) -> int:
        row = self._db.one("SELECT COALESCE(MAX(number), 0) AS n FROM releases")
        return int(row["n"]) if row else 0

    def add_release(self, number: int, published_by: int, now: datetime) -> int:
        return self._db.insert(
            "INSERT INTO releases (number, published_at, published_by) VALUES (?, ?, ?)",
            [number, stamp(now), published_by],
        )

    def attach(self, answer_ids: Iterable[int], release_id: int) -> None:
        """Put the answers in the release (publishing them)."""
        for answer_id in answer_ids:
            self._db.write(
                "UPDATE answers SET release_id = ? WHERE id = ? AND release_id IS NULL",
                [release_id, answer_id],
            )
