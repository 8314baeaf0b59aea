"""Authorities, officers, questions, asks, drafts, search and personal data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from knowledge.addresses import Address
from knowledge.models import Link, Question, Status
from knowledge.store.base import StoreBase, parse_stamp, stamp

_QUESTION_SELECT = """
SELECT q.id, q.text, q.topic, q.status, q.created_at, q.merged_into, q.waiting_since,
       q.demand AS authorities,
       (SELECT COUNT(*) FROM asks a WHERE a.question_id = q.id AND a.withdrawn_at IS NULL)
         AS asks
FROM questions q
"""


def _question(row: dict[str, Any]) -> Question:
    return Question(
        id=row["id"],
        text=row["text"],
        topic=row["topic"],
        status=Status(row["status"]),
        created_at=parse_stamp(row["created_at"]),
        waiting_since=parse_stamp(row["waiting_since"]),
        authorities=row["authorities"],
        asks=row["asks"],
        merged_into=row["merged_into"],
    )


class QuestionTables(StoreBase):
    """Who asks what: the tables behind asking, following, withdrawing and searching."""

    # -- authorities and officers -----------------------------------------------------

    def authority_id(self, name: str, now: datetime, *, canonical: bool = False) -> int:
        """The authority's id, adding it if new; a `canonical` spelling replaces another."""
        row = self._one("SELECT id, name FROM authorities WHERE name = ?", [name])
        if row:
            if canonical and row["name"] != name:
                self._write("UPDATE authorities SET name = ? WHERE id = ?", [name, row["id"]])
            return int(row["id"])
        return self._insert(
            "INSERT INTO authorities (name, created_at) VALUES (?, ?)", [name, stamp(now)]
        )

    def authority_names(self) -> list[str]:
        return [r["name"] for r in self._rows("SELECT name FROM authorities ORDER BY name")]

    def officer(self, user_key: str) -> dict[str, Any] | None:
        return self._one(
            """SELECT o.id, o.user_key, o.display_name, o.authority_id, au.name AS authority
               FROM officers o LEFT JOIN authorities au ON au.id = o.authority_id
               WHERE o.user_key = ?""",
            [user_key],
        )

    def save_officer(self, user_key: str, display_name: str, now: datetime) -> dict[str, Any]:
        """The officer's row, creating it or refreshing the display name."""
        row = self.officer(user_key)
        if row is None:
            self._insert(
                "INSERT INTO officers (user_key, display_name, created_at) VALUES (?, ?, ?)",
                [user_key, display_name, stamp(now)],
            )
        elif row["display_name"] != display_name:
            self._write(
                "UPDATE officers SET display_name = ? WHERE id = ?", [display_name, row["id"]]
            )
        else:
            return row
        saved = self.officer(user_key)
        assert saved is not None
        return saved

    def _display_name(self, officer_id: int | None) -> str | None:
        if officer_id is None:
            return None
        row = self._one("SELECT display_name FROM officers WHERE id = ?", [officer_id])
        return row["display_name"] if row else None

    def set_officer_authority(self, officer_id: int, authority_id: int) -> None:
        self._write("UPDATE officers SET authority_id = ? WHERE id = ?", [authority_id, officer_id])

    # -- questions and asks -----------------------------------------------------------

    def add_question(self, text: str, topic: str, place: str | None, now: datetime) -> int:
        return self._insert(
            """INSERT INTO questions (text, topic, status, place, created_at, updated_at,
                                      waiting_since)
               VALUES (?, ?, 'open', ?, ?, ?, ?)""",
            [text, topic, place, stamp(now), stamp(now), stamp(now)],
        )

    def _refresh_demand(self, question_id: int) -> None:
        """Recount the queue ranking kept on the question row after its asks changed."""
        self._write(
            """UPDATE questions SET
                 demand = (SELECT COUNT(DISTINCT a.authority_id) FROM asks a
                           WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL),
                 waiting_since = COALESCE((SELECT MIN(a.asked_at) FROM asks a
                           WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL),
                           created_at)
               WHERE id = ?""",
            [question_id],
        )

    def add_ask(
        self,
        *,
        question_id: int,
        officer_id: int | None,
        authority_id: int,
        text: str,
        link: Link,
        score: float | None,
        place: str | None,
        now: datetime,
    ) -> int:
        ask_id = self._insert(
            """INSERT INTO asks (question_id, officer_id, authority_id, text, link, score,
                                 place, asked_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [question_id, officer_id, authority_id, text, link.value, score, place, stamp(now)],
        )
        self._refresh_demand(question_id)
        return ask_id

    def question(self, question_id: int) -> Question | None:
        row = self._one(_QUESTION_SELECT + " WHERE q.id = ?", [question_id])
        return _question(row) if row else None

    def questions(self, ids: Iterable[int]) -> dict[int, Question]:
        rows = self._rows_for_ids(_QUESTION_SELECT + " WHERE q.id IN ({ids})", ids)
        return {row["id"]: _question(row) for row in rows}

    def question_place(self, question_id: int) -> str | None:
        row = self._one("SELECT place FROM questions WHERE id = ?", [question_id])
        return row["place"] if row else None

    def set_place(self, question_id: int, place: str, now: datetime) -> None:
        self._write(
            "UPDATE questions SET place = ?, updated_at = ? WHERE id = ?",
            [place, stamp(now), question_id],
        )

    def set_status(
        self, question_id: int, status: Status, now: datetime, merged_into: int | None = None
    ) -> None:
        self._write(
            "UPDATE questions SET status = ?, merged_into = ?, updated_at = ? WHERE id = ?",
            [status.value, merged_into, stamp(now), question_id],
        )

    def matchable_texts(self) -> Iterator[tuple[int, str]]:
        """(question id, wording) for every live question: its text and its askers' words."""
        rows = self.conn.execute(
            """SELECT q.id, q.text FROM questions q
               WHERE q.status IN ('open', 'in_release', 'answered')
               UNION
               SELECT a.question_id, a.text FROM asks a JOIN questions q ON q.id = a.question_id
               WHERE q.status IN ('open', 'in_release', 'answered') AND a.withdrawn_at IS NULL"""
        )
        for qid, text in rows:
            yield int(qid), str(text)

    def active_ask(self, question_id: int, officer_id: int) -> dict[str, Any] | None:
        return self._one(
            """SELECT * FROM asks WHERE question_id = ? AND officer_id = ?
               AND withdrawn_at IS NULL ORDER BY id LIMIT 1""",
            [question_id, officer_id],
        )

    def withdraw_ask(self, ask_id: int, now: datetime) -> None:
        self._write("UPDATE asks SET withdrawn_at = ? WHERE id = ?", [stamp(now), ask_id])
        row = self._one("SELECT question_id FROM asks WHERE id = ?", [ask_id])
        if row:
            self._refresh_demand(row["question_id"])

    def ask_texts(self, question_id: int) -> list[str]:
        return [
            r["text"]
            for r in self._rows(
                "SELECT text FROM asks WHERE question_id = ? AND withdrawn_at IS NULL",
                [question_id],
            )
        ]

    def move_asks(
        self, from_question: int, to_question: int, now: datetime
    ) -> list[dict[str, Any]]:
        """Re-point the active asks of one question at another; return them as they were.

        An officer who already asks the target keeps that one ask: the moved duplicate is
        closed (withdrawn, marked as merged) so nobody waits twice on one question.
        """
        moved = self._rows(
            """SELECT a.id, a.officer_id, o.user_key FROM asks a
               LEFT JOIN officers o ON o.id = a.officer_id
               WHERE a.question_id = ? AND a.withdrawn_at IS NULL""",
            [from_question],
        )
        self._write(
            """UPDATE asks SET withdrawn_at = ?, merged_from = ?
               WHERE question_id = ? AND withdrawn_at IS NULL AND officer_id IN (
                 SELECT officer_id FROM asks WHERE question_id = ? AND withdrawn_at IS NULL
                 AND officer_id IS NOT NULL)""",
            [stamp(now), from_question, from_question, to_question],
        )
        self._write(
            """UPDATE asks SET question_id = ?, merged_from = ?
               WHERE question_id = ? AND withdrawn_at IS NULL""",
            [to_question, from_question, from_question],
        )
        self._refresh_demand(from_question)
        self._refresh_demand(to_question)
        return moved

    def officer_asks(self, officer_id: int) -> list[dict[str, Any]]:
        return self._rows(
            """SELECT id, question_id, link, asked_at FROM asks
               WHERE officer_id = ? AND withdrawn_at IS NULL ORDER BY asked_at DESC, id DESC""",
            [officer_id],
        )

    def asks_since(self, officer_id: int, since: datetime) -> int:
        """Questions the officer has put to the exchange since `since`: new ones, and
        ones that were offered a match (each /ask counts once, whatever its outcome)."""
        row = self._one(
            """SELECT (SELECT COUNT(*) FROM asks WHERE officer_id = :o AND asked_at >= :t
                       AND link = 'new')
                    + (SELECT COUNT(*) FROM drafts WHERE officer_id = :o AND created_at >= :t)
                    AS n""",
            {"o": officer_id, "t": stamp(since)},
        )
        return int(row["n"]) if row else 0

    def open_questions_started_by(self, officer_id: int) -> int:
        row = self._one(
            """SELECT COUNT(*) AS n FROM asks a JOIN questions q ON q.id = a.question_id
               WHERE a.officer_id = ? AND a.withdrawn_at IS NULL
               AND a.link IN ('new', 'asked_anyway') AND q.status = 'open'""",
            [officer_id],
        )
        return int(row["n"]) if row else 0

    def queue(
        self, limit: int | None = None, offset: int = 0
    ) -> list[tuple[Question, tuple[str, ...]]]:
        """Open questions, most authorities first, then longest waiting (one page)."""
        ids = [
            int(r["id"])
            for r in self._rows(
                """SELECT id FROM questions WHERE status = 'open'
                   ORDER BY demand DESC, waiting_since ASC, id ASC LIMIT ? OFFSET ?""",
                [-1 if limit is None else limit, offset],
            )
        ]
        questions = self.questions(ids)
        names = self.authorities_behind(ids)
        return [(questions[i], names.get(i, ())) for i in ids]

    def queue_size(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM questions WHERE status = 'open'")
        return int(row["n"]) if row else 0

    def queue_position(self, question_id: int) -> int | None:
        """1 for the top of the queue; None if the question is not waiting in it."""
        row = self._one(
            "SELECT status, demand, waiting_since FROM questions WHERE id = ?", [question_id]
        )
        if row is None or row["status"] != "open":
            return None
        demand, since = row["demand"], row["waiting_since"]
        ahead = self._one(
            """SELECT COUNT(*) AS n FROM questions WHERE status = 'open' AND (
                 demand > ? OR (demand = ? AND (waiting_since < ?
                 OR (waiting_since = ? AND id < ?))))""",
            [demand, demand, since, since, question_id],
        )
        return (int(ahead["n"]) if ahead else 0) + 1

    def authorities_behind(self, question_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        result: dict[int, list[str]] = {}
        for row in self._rows_for_ids(
            """SELECT DISTINCT a.question_id, au.name FROM asks a
               JOIN authorities au ON au.id = a.authority_id
               WHERE a.withdrawn_at IS NULL AND a.question_id IN ({ids}) ORDER BY au.name""",
            question_ids,
        ):
            result.setdefault(row["question_id"], []).append(row["name"])
        return {qid: tuple(names) for qid, names in result.items()}

    def recipients(self, question_id: int) -> list[dict[str, Any]]:
        """Officers with an active ask on the question (one row each)."""
        return self._rows(
            """SELECT DISTINCT o.id AS officer_id, o.user_key FROM asks a
               JOIN officers o ON o.id = a.officer_id
               WHERE a.question_id = ? AND a.withdrawn_at IS NULL
               AND o.forgotten_at IS NULL ORDER BY o.id""",
            [question_id],
        )

    # -- drafts (an ask waiting on the officer's choice after a suggestion) ----------

    def add_draft(
        self,
        *,
        officer_id: int,
        text: str,
        topic: str,
        place: str | None,
        suggested_question_id: int,
        score: float,
        now: datetime,
    ) -> int:
        return self._insert(
            """INSERT INTO drafts (officer_id, text, topic, place, suggested_question_id,
                                   score, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [officer_id, text, topic, place, suggested_question_id, score, stamp(now)],
        )

    def draft(self, draft_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM drafts WHERE id = ?", [draft_id])

    def latest_draft(self, officer_id: int) -> dict[str, Any] | None:
        return self._one(
            """SELECT * FROM drafts WHERE officer_id = ? AND resolved_at IS NULL
               ORDER BY id DESC LIMIT 1""",
            [officer_id],
        )

    def resolve_open_drafts(self, officer_id: int, resolution: str, now: datetime) -> None:
        self._write(
            """UPDATE drafts SET resolved_at = ?, resolution = ?
               WHERE officer_id = ? AND resolved_at IS NULL""",
            [stamp(now), resolution, officer_id],
        )

    def resolve_draft(self, draft_id: int, resolution: str, now: datetime) -> None:
        self._write(
            "UPDATE drafts SET resolved_at = ?, resolution = ? WHERE id = ?",
            [stamp(now), resolution, draft_id],
        )

    # -- search -----------------------------------------------------------------------

    def search(self, match: str, limit: int) -> list[int]:
        """Question ids whose text or published answer matches, best first."""
        rows = self._rows(
            """SELECT id, MIN(rank) AS rank FROM (
                 SELECT q.id, bm25(questions_fts) AS rank
                 FROM questions_fts JOIN questions q ON q.rowid = questions_fts.rowid
                 WHERE questions_fts MATCH ? AND q.status IN ('open', 'in_release', 'answered')
                 UNION ALL
                 SELECT q.id, bm25(answers_fts) AS rank
                 FROM answers_fts JOIN answers an ON an.rowid = answers_fts.rowid
                 JOIN questions q ON q.id = an.question_id
                 WHERE answers_fts MATCH ? AND an.release_id IS NOT NULL
                 AND q.status = 'answered'
               ) GROUP BY id ORDER BY rank LIMIT ?""",
            [match, match, limit],
        )
        return [int(r["id"]) for r in rows]

    # -- personal data ----------------------------------------------------------------

    def personal_data(self, officer_id: int) -> dict[str, Any]:
        """Everything kept that is about one officer, as plain rows."""
        return {
            "officer": self._one(
                """SELECT o.user_key, o.display_name, au.name AS authority, o.created_at
                   FROM officers o LEFT JOIN authorities au ON au.id = o.authority_id
                   WHERE o.id = ?""",
                [officer_id],
            ),
            "asks": self._rows(
                """SELECT 'Q-' || a.question_id AS question, a.text, a.link, a.score, a.place,
                          a.asked_at, a.withdrawn_at, q.status AS question_status
                   FROM asks a JOIN questions q ON q.id = a.question_id
                   WHERE a.officer_id = ? ORDER BY a.id""",
                [officer_id],
            ),
            "suggestions": self._rows(
                """SELECT text, topic, 'Q-' || suggested_question_id AS suggested, score,
                          created_at, resolution FROM drafts WHERE officer_id = ? ORDER BY id""",
                [officer_id],
            ),
            "deliveries": self._rows(
                """SELECT kind, 'Q-' || question_id AS question, status, attempts, created_at,
                          sent_at FROM deliveries WHERE officer_id = ? ORDER BY id""",
                [officer_id],
            ),
            "events": self._rows(
                """SELECT at, action, CASE WHEN question_id IS NULL THEN NULL
                          ELSE 'Q-' || question_id END AS question, detail
                   FROM events WHERE actor_id = ? ORDER BY id""",
                [officer_id],
            ),
        }

    def anonymise_officer(self, officer_id: int, now: datetime) -> None:
        """Erase an officer's identity; their asks stay, linked to an anonymous row."""
        anonymous = str(Address.forgotten(officer_id))
        self._write(
            """UPDATE officers SET user_key = ?, display_name = NULL, forgotten_at = ?
               WHERE id = ?""",
            [anonymous, stamp(now), officer_id],
        )
        self._write("DELETE FROM drafts WHERE officer_id = ?", [officer_id])
        self._write("DELETE FROM deliveries WHERE officer_id = ? AND status = 'owed'", [officer_id])
        self._write(
            """UPDATE deliveries SET recipient = ?, dedupe_key = 'forgotten:' || id,
               last_error = NULL WHERE officer_id = ?""",
            [anonymous, officer_id],
        )
        self._write("UPDATE asks SET place = NULL WHERE officer_id = ?", [officer_id])
