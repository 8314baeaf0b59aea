"""What the read-only web site reads beyond the other gateways: published answer versions,
releases, topics and the times behind its charts. Nothing here returns an officer, a
draft, a hidden row or an import still in progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from knowledge.models import Answer, Status
from knowledge.store.answers import _ANSWER_SELECT, _answer
from knowledge.store.database import Database, parse_stamp, stamp


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    number: int
    published_at: datetime
    answers: int  # answers it published (new questions and new versions)


@dataclass(frozen=True, slots=True)
class TopicCount:
    topic: str
    answered: int
    waiting: int  # open or answered and waiting for the next release


class Published:
    """Reads for the published knowledge base as the public may see it."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def versions(self, question_id: int) -> list[Answer]:
        """The question's published answers, oldest version first (drafts never)."""
        return [
            _answer(row)
            for row in self._db.rows(
                _ANSWER_SELECT
                + " WHERE an.question_id = ? AND an.release_id IS NOT NULL ORDER BY an.version",
                [question_id],
            )
        ]

    def releases(self, limit: int, offset: int = 0) -> tuple[list[ReleaseSummary], int]:
        """Releases, newest first, one page; and how many there are."""
        rows = self._db.rows(
            """SELECT r.number, r.published_at, COUNT(an.id) AS answers
               FROM releases r LEFT JOIN answers an ON an.release_id = r.id
               GROUP BY r.id ORDER BY r.number DESC LIMIT ? OFFSET ?""",
            [limit, offset],
        )
        total = self._db.one("SELECT COUNT(*) AS n FROM releases")
        return [
            ReleaseSummary(r["number"], parse_stamp(r["published_at"]), r["answers"]) for r in rows
        ], int(total["n"]) if total else 0

    def release(self, number: int) -> tuple[ReleaseSummary, list[Answer]] | None:
        """One release and the answers it published, in question order."""
        row = self._db.one(
            "SELECT id, number, published_at FROM releases WHERE number = ?", [number]
        )
        if row is None:
            return None
        answers = [
            _answer(r)
            for r in self._db.rows(
                _ANSWER_SELECT + " WHERE an.release_id = ? ORDER BY an.question_id", [row["id"]]
            )
        ]
        summary = ReleaseSummary(row["number"], parse_stamp(row["published_at"]), len(answers))
        return summary, answers

    def topics(self) -> list[TopicCount]:
        """Each topic with live questions: how many are answered and how many wait."""
        # Read from idx_questions_topic_status alone (migration "browsing by topic").
        rows = self._db.rows(
            """SELECT topic, status, COUNT(*) AS n FROM questions
               WHERE import_id IS NULL GROUP BY topic, status ORDER BY topic"""
        )
        answered: dict[str, int] = {}
        waiting: dict[str, int] = {}
        for row in rows:
            topic, status = row["topic"], row["status"]
            if status == Status.ANSWERED:
                answered[topic] = answered.get(topic, 0) + row["n"]
            elif status in (Status.OPEN, Status.IN_RELEASE):
                waiting[topic] = waiting.get(topic, 0) + row["n"]
        return [
            TopicCount(topic, answered.get(topic, 0), waiting.get(topic, 0))
            for topic in sorted(answered.keys() | waiting.keys())
        ]

    def ask_times(self, since: datetime) -> list[datetime]:
        """When each ask since `since` was made (withdrawn ones too: they were asked)."""
        return [
            parse_stamp(r["asked_at"])
            for r in self._db.rows(
                "SELECT asked_at FROM asks WHERE asked_at > ? AND import_id IS NULL",
                [stamp(since)],
            )
        ]

    def publish_times(self, since: datetime) -> list[datetime]:
        """When each answer published since `since` was released (one per answer)."""
        return [
            parse_stamp(r["published_at"])
            for r in self._db.rows(
                """SELECT r.published_at FROM answers an JOIN releases r ON r.id = an.release_id
                   WHERE r.published_at > ?""",
                [stamp(since)],
            )
        ]
