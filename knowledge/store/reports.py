"""The queries behind digests and reminders, and the notices owed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from knowledge.models import Link, Resolution, Status
from knowledge.store.database import Database, parse_stamp, stamp

# What an officer may do with a suggestion that labels the matcher's score.
_ANSWERED_SUGGESTION = (
    Resolution.FOLLOWED,
    Resolution.FOLLOWED_OTHER,
    Resolution.ANSWERED_FROM_STORE,
    Resolution.ASKED_ANYWAY,
)


@dataclass(frozen=True, slots=True)
class Asked:
    """One ask in a window: which authority asked which question, on which topic."""

    question_id: int
    text: str  # the question's canonical text
    topic: str
    authority: str


@dataclass(frozen=True, slots=True)
class Released:
    """One answer published in a window, with what its turnaround needs."""

    number: int  # the release
    published_at: datetime
    question_id: int
    version: int
    asked_at: datetime  # when the question was first asked
    first_link: Link | None  # how its first ask came (an import has no real turnaround)
    first_published_at: datetime  # when any answer to it was first published


@dataclass(frozen=True, slots=True)
class Waiting:
    """A question waiting for a published answer at some moment."""

    id: int
    text: str
    topic: str
    waiting_since: datetime
    authorities: int  # distinct authorities waiting on it then


class Reports:
    """Read-only queries over a window of time, for digests, reminders and calibration."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- reporting (digests and reminders) --------------------------------------------

    def asks_between(self, since: datetime, until: datetime) -> list[Asked]:
        """Asks made in (since, until], with their question's topic and authority; not those
        answered straight from the store (`answered_from_store_between` counts them)."""
        rows = self._db.rows(
            """SELECT a.question_id, q.text, q.topic, au.name AS authority
               FROM asks a JOIN questions q ON q.id = a.question_id
               JOIN authorities au ON au.id = a.authority_id
               WHERE a.asked_at > ? AND a.asked_at <= ? AND a.link != ?
               AND a.import_id IS NULL ORDER BY a.asked_at""",
            [stamp(since), stamp(until), Link.ANSWERED_FROM_STORE],
        )
        return [Asked(**row) for row in rows]

    def suggestion_outcomes(
        self, since: datetime | None, scale: str = "lexical"
    ) -> list[tuple[float, str]]:
        """(score, resolution) of every suggestion on `scale` an officer has answered since
        `since`: followed, followed_other, answered_from_store or asked_anyway."""
        rows = self._db.rows(
            """SELECT score, resolution FROM drafts
               WHERE resolution IN (?, ?, ?, ?) AND resolved_at > ? AND scale = ? ORDER BY id""",
            [*_ANSWERED_SUGGESTION, stamp(since) if since else "", scale],
        )
        return [(float(r["score"]), str(r["resolution"])) for r in rows]

    def peer_activity(
        self, since: datetime, until: datetime
    ) -> tuple[int, int, int, int, list[tuple[str, int]]]:
        """(peer replies shared, replies endorsed, asks solved by a reply, notes shared,
        replies and notes by authority, most first) in (since, until]."""
        window = [stamp(since), stamp(until)]
        by_authority = [
            (str(r["name"]), int(r["n"]))
            for r in self._db.rows(
                """SELECT au.name, COUNT(*) AS n FROM (
                     SELECT authority_id FROM replies WHERE created_at > ? AND created_at <= ?
                     UNION ALL
                     SELECT authority_id FROM notes WHERE created_at > ? AND created_at <= ?
                   ) shared JOIN authorities au ON au.id = shared.authority_id
                   GROUP BY au.name ORDER BY n DESC, au.name""",
                window + window,
            )
        ]

        def events(action: str) -> int:
            row = self._db.one(
                "SELECT COUNT(*) AS n FROM events WHERE action = ? AND at > ? AND at <= ?",
                [action, *window],
            )
            return int(row["n"]) if row else 0

        replies = events("replied")
        notes = events("note_shared")
        return replies, events("endorsed"), events("reply_solved"), notes, by_authority

    def merge_scores(self, since: datetime | None, scale: str = "lexical") -> list[float]:
        """The matcher's score (on `scale`) for each pair the expert merged since `since`
        and has not unmerged since (merges recorded before scores were kept are left out;
        before scales were, lexical)."""
        rows = self._db.rows(
            """SELECT json_extract(m.detail, '$.score') AS score FROM events m
               WHERE m.action = 'merged' AND m.at > ?
                 AND json_extract(m.detail, '$.score') IS NOT NULL
                 AND COALESCE(json_extract(m.detail, '$.scale'), 'lexical') = ?
                 AND NOT EXISTS (SELECT 1 FROM events u WHERE u.action = 'unmerged'
                   AND u.question_id = m.question_id AND u.id > m.id)
               ORDER BY m.id""",
            [stamp(since) if since else "", scale],
        )
        return [float(r["score"]) for r in rows]

    def related_outcomes(
        self, since: datetime | None, scale: str = "lexical"
    ) -> list[tuple[float, bool]]:
        """(score, followed) of every question listed as related to a new question (on
        `scale`) since `since`: whether the officer then followed it."""
        after = stamp(since) if since else ""
        followed = {
            (r["actor_id"], r["question_id"], r["related_to"])
            for r in self._db.rows(
                """SELECT actor_id, question_id,
                          json_extract(detail, '$.related_to') AS related_to FROM events
                   WHERE action = 'followed' AND at > ?
                     AND json_extract(detail, '$.related_to') IS NOT NULL""",
                [after],
            )
        }
        outcomes: list[tuple[float, bool]] = []
        for row in self._db.rows(
            """SELECT actor_id, question_id, detail FROM events
               WHERE action = 'related_listed' AND at > ?
                 AND json_extract(detail, '$.scale') = ? ORDER BY id""",
            [after, scale],
        ):
            detail = json.loads(row["detail"])
            for listed, score in zip(detail["related"], detail["scores"], strict=True):
                key = (row["actor_id"], listed, row["question_id"])
                outcomes.append((float(score), key in followed))
        return outcomes

    def questions_created_between(self, since: datetime, until: datetime) -> int:
        row = self._db.one(
            """SELECT COUNT(*) AS n FROM questions WHERE created_at > ? AND created_at <= ?
               AND import_id IS NULL""",
            [stamp(since), stamp(until)],
        )
        return int(row["n"]) if row else 0

    def event_questions(self, action: str, since: datetime, until: datetime) -> list[int | None]:
        """The question id of every `action` event in (since, until]."""
        return [
            r["question_id"]
            for r in self._db.rows(
                "SELECT question_id FROM events WHERE action = ? AND at > ? AND at <= ?",
                [action, stamp(since), stamp(until)],
            )
        ]

    def releases_between(self, since: datetime, until: datetime) -> list[Released]:
        """Releases published in (since, until] with each question they answered."""
        rows = self._db.rows(
            """SELECT r.number, r.published_at, an.question_id, an.version,
                      q.created_at AS asked_at,
                      (SELECT a.link FROM asks a WHERE a.question_id = an.question_id
                       ORDER BY a.asked_at, a.id LIMIT 1) AS first_link,
                      (SELECT MIN(r2.published_at) FROM answers a2
                       JOIN releases r2 ON r2.id = a2.release_id
                       WHERE a2.question_id = an.question_id) AS first_published_at
               FROM releases r JOIN answers an ON an.release_id = r.id
               JOIN questions q ON q.id = an.question_id
               WHERE r.published_at > ? AND r.published_at <= ?
               ORDER BY r.number, an.question_id""",
            [stamp(since), stamp(until)],
        )
        return [
            Released(
                number=r["number"],
                published_at=parse_stamp(r["published_at"]),
                question_id=r["question_id"],
                version=r["version"],
                asked_at=parse_stamp(r["asked_at"]),
                first_link=Link(r["first_link"]) if r["first_link"] else None,
                first_published_at=parse_stamp(r["first_published_at"]),
            )
            for r in rows
        ]

    def waiting_at(self, moment: datetime) -> list[Waiting]:
        """Questions that were waiting for a published answer at `moment`."""
        at = stamp(moment)
        rows = self._db.rows(
            """SELECT q.id, q.text, q.topic,
                      COALESCE(MIN(a.asked_at), q.created_at) AS waiting_since,
                      COUNT(DISTINCT a.authority_id) AS authorities
               FROM questions q
               LEFT JOIN asks a ON a.question_id = q.id AND a.asked_at <= ?
                    AND (a.withdrawn_at IS NULL OR a.withdrawn_at > ?) AND a.import_id IS NULL
               WHERE q.created_at <= ? AND q.import_id IS NULL
               AND NOT (q.status IN (?, ?) AND q.updated_at <= ?)
               AND NOT EXISTS (SELECT 1 FROM answers an JOIN releases r ON r.id = an.release_id
                               WHERE an.question_id = q.id AND r.published_at <= ?)
               GROUP BY q.id ORDER BY waiting_since, q.id""",
            [at, at, at, Status.WITHDRAWN, Status.MERGED, at, at],
        )
        return [
            Waiting(
                id=r["id"],
                text=r["text"],
                topic=r["topic"],
                waiting_since=parse_stamp(r["waiting_since"]),
                authorities=r["authorities"],
            )
            for r in rows
        ]

    def authorities_waiting_at(
        self, moment: datetime, question_ids: Iterable[int]
    ) -> dict[str, int]:
        """For each authority, how many of the given questions it was waiting on."""
        at = stamp(moment)
        counts: dict[str, int] = {}
        for row in self._db.rows_for_ids(
            """SELECT au.name, COUNT(DISTINCT a.question_id) AS n FROM asks a
               JOIN authorities au ON au.id = a.authority_id
               WHERE a.asked_at <= ? AND (a.withdrawn_at IS NULL OR a.withdrawn_at > ?)
               AND a.import_id IS NULL AND a.question_id IN ({ids}) GROUP BY au.name""",
            question_ids,
            params_before=[at, at],
        ):
            counts[row["name"]] = counts.get(row["name"], 0) + int(row["n"])
        return counts

    def answered_from_store_between(self, since: datetime, until: datetime) -> list[Asked]:
        """Each time an officer took an answer from the store: their authority, the question."""
        rows = self._db.rows(
            """SELECT q.id AS question_id, q.text, q.topic, au.name AS authority FROM events e
               JOIN officers o ON o.id = e.actor_id
               JOIN authorities au ON au.id = o.authority_id
               JOIN questions q ON q.id = e.question_id
               WHERE e.action = 'answered_from_store' AND e.at > ? AND e.at <= ?""",
            [stamp(since), stamp(until)],
        )
        return [Asked(**row) for row in rows]

    def authorities_receiving_between(self, since: datetime, until: datetime) -> dict[str, int]:
        """For each authority, how many answers published in (since, until] it was waiting
        for when they were published (later followers are not counted)."""
        rows = self._db.rows(
            """SELECT au.name, COUNT(DISTINCT an.question_id) AS n
               FROM releases r JOIN answers an ON an.release_id = r.id
               JOIN asks a ON a.question_id = an.question_id AND a.asked_at <= r.published_at
                    AND (a.withdrawn_at IS NULL OR a.withdrawn_at > r.published_at)
                    AND a.import_id IS NULL
               JOIN authorities au ON au.id = a.authority_id
               WHERE r.published_at > ? AND r.published_at <= ? GROUP BY au.name""",
            [stamp(since), stamp(until)],
        )
        return {r["name"]: int(r["n"]) for r in rows}

    def first_activity(self) -> datetime | None:
        """When the first ask was made (digests start no earlier)."""
        row = self._db.one("SELECT MIN(asked_at) AS first FROM asks WHERE import_id IS NULL")
        return parse_stamp(row["first"]) if row and row["first"] else None
