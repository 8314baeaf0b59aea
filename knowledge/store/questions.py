"""Questions, the asks behind them, and the drafts waiting on an officer's choice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from knowledge.models import (
    LIVE_STATUSES,
    Ask,
    Asker,
    Draft,
    Link,
    Question,
    Resolution,
    Status,
)
from knowledge.store.database import Database, marks, parse_stamp, stamp

LIVE = tuple(status.value for status in LIVE_STATUSES)
# A search term found in more questions than this is left out while a rarer one remains.
COMMON_TERM = 5_000
_LIVE_IN = f"({marks(len(LIVE))})"

# Rows of an import still in progress are hidden everywhere (see migrations.py): every
# query over questions and asks reads only rows whose import_id is NULL, except where the
# import itself asks for its own.
_QUESTION_SELECT = """
SELECT q.id, q.text, q.topic, q.status, q.created_at, q.merged_into, q.waiting_since,
       q.demand AS authorities,
       (SELECT COUNT(*) FROM asks a WHERE a.question_id = q.id AND a.withdrawn_at IS NULL
        AND a.import_id IS NULL) AS asks
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


class Questions:
    """The canonical questions: their status, place, queue ranking and full-text search."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        text: str,
        topic: str,
        place: str | None,
        now: datetime,
        *,
        import_id: int | None = None,
    ) -> int:
        """A new open question (hidden until its import completes, with `import_id`)."""
        at = stamp(now)
        return self._db.insert(
            """INSERT INTO questions (text, topic, status, place, created_at, updated_at,
                                      waiting_since, import_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [text, topic, Status.OPEN, place, at, at, at, import_id],
        )

    def get(self, question_id: int) -> Question | None:
        row = self._db.one(
            _QUESTION_SELECT + " WHERE q.id = ? AND q.import_id IS NULL", [question_id]
        )
        return _question(row) if row else None

    def many(self, ids: Iterable[int]) -> dict[int, Question]:
        rows = self._db.rows_for_ids(
            _QUESTION_SELECT + " WHERE q.id IN ({ids}) AND q.import_id IS NULL", ids
        )
        return {row["id"]: _question(row) for row in rows}

    def browse(
        self, statuses: Sequence[Status], topic: str | None, limit: int, offset: int
    ) -> tuple[list[Question], int]:
        """Questions in `statuses` (and `topic`), most wanted first, one page; and how many
        there are in all."""
        # One arm per status, each read in order from the queue index, merged by SQLite:
        # no sort of every question for one page (`status IN (…)` would need one).
        where = "q.status = ? AND q.import_id IS NULL" + (" AND q.topic = ?" if topic else "")
        arm = f"SELECT q.id, q.demand, q.waiting_since FROM questions q WHERE {where}"  # noqa: S608
        params: list[object] = []
        for status in statuses:
            params += [status] if topic is None else [status, topic]
        ids = [
            int(row["id"])
            for row in self._db.rows(
                " UNION ALL ".join([arm] * len(statuses))
                + " ORDER BY 2 DESC, 3 ASC, 1 LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        ]
        found = self.many(ids)
        # Counted from idx_questions_topic_status ("browsing by topic"), never the table.
        # Only placeholders and fixed text are formatted in; the values are parameters.
        counted = self._db.one(
            f"""SELECT COUNT(*) AS n FROM questions
                WHERE import_id IS NULL AND +status IN ({marks(len(statuses))})
                {"AND topic = ?" if topic else "AND topic >= ''"}""",  # noqa: S608
            [*statuses, *([topic] if topic else [])],
        )
        return [found[i] for i in ids if i in found], int(counted["n"]) if counted else 0

    def at_place(self, place: str) -> int | None:
        """The question posted at `place` (its thread or forum post), if any."""
        row = self._db.one(
            "SELECT id FROM questions WHERE place = ? AND import_id IS NULL ORDER BY id LIMIT 1",
            [place],
        )
        return int(row["id"]) if row else None

    def place(self, question_id: int) -> str | None:
        row = self._db.one("SELECT place FROM questions WHERE id = ?", [question_id])
        return row["place"] if row else None

    def set_place(self, question_id: int, place: str, now: datetime) -> None:
        self._db.write(
            "UPDATE questions SET place = ?, updated_at = ? WHERE id = ?",
            [place, stamp(now), question_id],
        )

    def set_text(self, question_id: int, text: str, now: datetime) -> None:
        """Give the question a new canonical wording (its askers' own wordings stay)."""
        self._db.write(
            "UPDATE questions SET text = ?, updated_at = ? WHERE id = ?",
            [text, stamp(now), question_id],
        )

    def set_status(
        self, question_id: int, status: Status, now: datetime, merged_into: int | None = None
    ) -> None:
        self._db.write(
            "UPDATE questions SET status = ?, merged_into = ?, updated_at = ? WHERE id = ?",
            [status, merged_into, stamp(now), question_id],
        )

    def answered_ids(self) -> list[int]:
        return [
            r["id"]
            for r in self._db.rows(
                "SELECT id FROM questions WHERE status = ? AND import_id IS NULL ORDER BY id",
                [Status.ANSWERED],
            )
        ]

    # -- what the duplicate matcher holds ----------------------------------------------

    def all_wordings(self) -> Iterator[tuple[int, str]]:
        """(question id, wording) for every live question: its text and its askers' words."""
        rows = self._db.conn.execute(
            f"""SELECT q.id, q.text FROM questions q WHERE q.status IN {_LIVE_IN}
               AND q.import_id IS NULL
               UNION
               SELECT a.question_id, a.text FROM asks a JOIN questions q ON q.id = a.question_id
               WHERE q.status IN {_LIVE_IN} AND a.withdrawn_at IS NULL
               AND q.import_id IS NULL AND a.import_id IS NULL""",  # noqa: S608
            [*LIVE, *LIVE],
        )
        for qid, text in rows:
            yield int(qid), str(text)

    def wordings(
        self, question_ids: Iterable[int], *, own_import: int | None = None
    ) -> dict[int, list[str]]:
        """Each question's distinct wordings (its text first, then its askers' words); a
        question that is no longer live (or is hidden in an import in progress, other than
        `own_import`) has none, so the matcher forgets it."""
        found: dict[int, list[str]] = {qid: [] for qid in question_ids}
        seen = -1 if own_import is None else own_import
        for row in self._db.rows_for_ids(
            f"""SELECT id, text FROM questions WHERE status IN {_LIVE_IN}
                AND (import_id IS NULL OR import_id = ?) AND id IN ({{ids}})""",  # noqa: S608
            found,
            params_before=[*LIVE, seen],
        ):
            found[row["id"]].append(row["text"])
        for row in self._db.rows_for_ids(
            """SELECT question_id, text FROM asks WHERE withdrawn_at IS NULL
               AND (import_id IS NULL OR import_id = ?)
               AND question_id IN ({ids}) ORDER BY id""",
            [qid for qid, texts in found.items() if texts],
            params_before=[seen],
        ):
            texts = found[row["question_id"]]
            if row["text"] not in texts:
                texts.append(row["text"])
        return found

    # -- the expert's queue --------------------------------------------------------------

    def queue(
        self, limit: int | None = None, offset: int = 0
    ) -> list[tuple[Question, tuple[str, ...]]]:
        """Open questions, most authorities first, then longest waiting (one page)."""
        ids = [
            int(r["id"])
            for r in self._db.rows(
                """SELECT id FROM questions WHERE status = ? AND import_id IS NULL
                   AND demand > 0
                   ORDER BY demand DESC, waiting_since ASC, id ASC LIMIT ? OFFSET ?""",
                [Status.OPEN, -1 if limit is None else limit, offset],
            )
        ]
        questions = self.many(ids)
        names = Asks(self._db).authorities_behind(ids)
        return [(questions[i], names.get(i, ())) for i in ids]

    def queue_size(self) -> int:
        row = self._db.one(
            """SELECT COUNT(*) AS n FROM questions WHERE status = ? AND import_id IS NULL
               AND demand > 0""",
            [Status.OPEN],
        )
        return int(row["n"]) if row else 0

    def queue_position(self, question_id: int) -> int | None:
        """1 for the top of the queue; None if the question is not waiting in it."""
        row = self._db.one(
            """SELECT status, demand, waiting_since FROM questions
               WHERE id = ? AND import_id IS NULL""",
            [question_id],
        )
        # A question every asker has had answered by a peer (demand 0) waits no more.
        if row is None or row["status"] != Status.OPEN or row["demand"] == 0:
            return None
        demand, since = row["demand"], row["waiting_since"]
        ahead = self._db.one(
            """SELECT COUNT(*) AS n FROM questions WHERE status = ? AND import_id IS NULL AND (
                 demand > ? OR (demand = ? AND (waiting_since < ?
                 OR (waiting_since = ? AND id < ?))))""",
            [Status.OPEN, demand, demand, since, since, question_id],
        )
        return (int(ahead["n"]) if ahead else 0) + 1

    # -- search ------------------------------------------------------------------------

    def _selective(self, match: str) -> str:
        """`match` without the terms so common they say nothing about which question is
        meant ("psn" in an exchange about the PSN), as long as a rarer term remains: ranking
        every question that has a common term is what makes a search slow (a "common terms"
        cut-off, as search engines make). Below COMMON_TERM questions nothing changes."""
        terms = match.split(" OR ")
        if len(terms) < 2:
            return match
        rare = [
            term
            for term in terms
            if (
                counted := self._db.one(
                    "SELECT COUNT(*) AS n FROM questions_fts WHERE questions_fts MATCH ?", [term]
                )
            )
            is not None
            and counted["n"] <= COMMON_TERM
        ]
        return " OR ".join(rare) if rare else match

    def search(self, match: str, limit: int) -> list[int]:
        """Question ids whose text or published answer matches, best first."""
        match = self._selective(match)
        rows = self._db.rows(
            f"""SELECT id, MIN(rank) AS rank FROM (
                 SELECT q.id, bm25(questions_fts) AS rank
                 FROM questions_fts JOIN questions q ON q.rowid = questions_fts.rowid
                 WHERE questions_fts MATCH ? AND q.status IN {_LIVE_IN} AND q.import_id IS NULL
                 UNION ALL
                 SELECT q.id, bm25(asks_fts) AS rank
                 FROM asks_fts JOIN asks a ON a.rowid = asks_fts.rowid
                 JOIN questions q ON q.id = a.question_id
                 WHERE asks_fts MATCH ? AND a.import_id IS NULL
                 AND q.status IN {_LIVE_IN} AND q.import_id IS NULL
                 UNION ALL
                 SELECT q.id, bm25(replies_fts) AS rank
                 FROM replies_fts JOIN replies r ON r.rowid = replies_fts.rowid
                 JOIN questions q ON q.id = r.question_id
                 WHERE replies_fts MATCH ? AND r.hidden_at IS NULL
                 AND q.status IN {_LIVE_IN} AND q.import_id IS NULL
                 UNION ALL
                 SELECT q.id, bm25(answers_fts) AS rank
                 FROM answers_fts JOIN answers an ON an.rowid = answers_fts.rowid
                 JOIN questions q ON q.id = an.question_id
                 WHERE answers_fts MATCH ? AND an.release_id IS NOT NULL
                 AND an.marking IS NULL AND q.status = ? AND q.import_id IS NULL
               ) GROUP BY id ORDER BY rank LIMIT ?""",  # noqa: S608
            [match, *LIVE, match, *LIVE, match, *LIVE, match, Status.ANSWERED, limit],
        )
        return [int(r["id"]) for r in rows]


class Asks:
    """Who asks or follows what: the demand behind each question."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def solve(self, ask_id: int, reply_id: int) -> None:
        """The asker says a peer reply answered their question: their ask counts no more."""
        row = self._db.one("SELECT question_id FROM asks WHERE id = ?", [ask_id])
        self._db.write("UPDATE asks SET solved_by = ? WHERE id = ?", [reply_id, ask_id])
        if row is not None:
            self._refresh_demand(int(row["question_id"]))

    def _refresh_demand(self, question_id: int) -> None:
        """Recount the queue ranking kept on the question row after its asks changed."""
        self._db.write(
            """UPDATE questions SET
                 demand = (SELECT COUNT(DISTINCT a.authority_id) FROM asks a
                           WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL
                           AND a.import_id IS NULL AND a.solved_by IS NULL),
                 waiting_since = COALESCE((SELECT MIN(a.asked_at) FROM asks a
                           WHERE a.question_id = questions.id AND a.withdrawn_at IS NULL
                           AND a.import_id IS NULL AND a.solved_by IS NULL), created_at)
               WHERE id = ?""",
            [question_id],
        )

    def add(
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
        import_id: int | None = None,
    ) -> int:
        """Record an ask (hidden until its import completes, with `import_id`; the import
        counts its demand then)."""
        ask_id = self._db.insert(
            """INSERT INTO asks (question_id, officer_id, authority_id, text, link, score,
                                 place, asked_at, import_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                question_id,
                officer_id,
                authority_id,
                text,
                link,
                score,
                place,
                stamp(now),
                import_id,
            ],
        )
        if import_id is None:
            self._refresh_demand(question_id)
        return ask_id

    def active(self, question_id: int, officer_id: int) -> Ask | None:
        """The officer's ask on the question, if they still wait on it."""
        row = self._db.one(
            """SELECT id, question_id, officer_id, link, asked_at FROM asks
               WHERE question_id = ? AND officer_id = ? AND withdrawn_at IS NULL
               AND import_id IS NULL ORDER BY id LIMIT 1""",
            [question_id, officer_id],
        )
        return _ask(row) if row else None

    def withdraw(self, ask_id: int, now: datetime) -> None:
        self._db.write("UPDATE asks SET withdrawn_at = ? WHERE id = ?", [stamp(now), ask_id])
        row = self._db.one("SELECT question_id FROM asks WHERE id = ?", [ask_id])
        if row:
            self._refresh_demand(row["question_id"])

    def texts(self, question_id: int) -> list[str]:
        return [
            r["text"]
            for r in self._db.rows(
                """SELECT text FROM asks WHERE question_id = ? AND withdrawn_at IS NULL
                   AND import_id IS NULL""",
                [question_id],
            )
        ]

    def move(self, from_question: int, to_question: int, now: datetime) -> list[Asker]:
        """Re-point the active asks of one question at another; return who was moved.

        An officer who already asks the target keeps that one ask: the moved duplicate is
        closed (withdrawn, marked as merged) so nobody waits twice on one question.
        """
        moved = [
            Asker(r["officer_id"], r["user_key"])
            for r in self._db.rows(
                """SELECT a.officer_id, o.user_key FROM asks a
                   LEFT JOIN officers o ON o.id = a.officer_id
                   WHERE a.question_id = ? AND a.withdrawn_at IS NULL ORDER BY a.id""",
                [from_question],
            )
        ]
        # An ask keeps the question it was first moved from (see migrations.UNMERGE).
        self._db.write(
            """UPDATE asks SET withdrawn_at = ?, merged_from = COALESCE(merged_from, ?),
                 closed_by_merge = ?
               WHERE question_id = ? AND withdrawn_at IS NULL AND officer_id IN (
                 SELECT officer_id FROM asks WHERE question_id = ? AND withdrawn_at IS NULL
                 AND officer_id IS NOT NULL)""",
            [stamp(now), from_question, from_question, from_question, to_question],
        )
        self._db.write(
            """UPDATE asks SET question_id = ?, merged_from = COALESCE(merged_from, ?)
               WHERE question_id = ? AND withdrawn_at IS NULL""",
            [to_question, from_question, from_question],
        )
        self._refresh_demand(from_question)
        self._refresh_demand(to_question)
        return moved

    def move_back(self, question_id: int) -> list[Asker]:
        """Undo the merge of `question_id`: every ask moved from it, wherever it waits now,
        returns to it, and those the merge closed (their officer asked the target too) are
        open again; return who waits on it now."""
        elsewhere = {
            int(r["question_id"])
            for r in self._db.rows(
                "SELECT DISTINCT question_id FROM asks WHERE merged_from = ? AND question_id != ?",
                [question_id, question_id],
            )
        }
        self._db.write(
            """UPDATE asks SET question_id = ?, merged_from = NULL, closed_by_merge = NULL,
                 withdrawn_at = CASE WHEN closed_by_merge IS NULL THEN withdrawn_at END
               WHERE merged_from = ?""",
            [question_id, question_id],
        )
        for other in sorted(elsewhere):
            self._refresh_demand(other)
        self._refresh_demand(question_id)
        return self.recipients(question_id)

    def of_officer(self, officer_id: int) -> list[Ask]:
        """The officer's active asks, newest first."""
        return [
            _ask(row)
            for row in self._db.rows(
                """SELECT id, question_id, officer_id, link, asked_at FROM asks
                   WHERE officer_id = ? AND withdrawn_at IS NULL
                   ORDER BY asked_at DESC, id DESC""",
                [officer_id],
            )
        ]

    def count_since(self, officer_id: int, since: datetime) -> int:
        """Questions the officer has put to the exchange since `since`: new ones, and
        ones that were offered a match (each /ask counts once, whatever its outcome)."""
        row = self._db.one(
            """SELECT (SELECT COUNT(*) FROM asks WHERE officer_id = :o AND asked_at >= :t
                       AND link = :new)
                    + (SELECT COUNT(*) FROM drafts WHERE officer_id = :o AND created_at >= :t)
                    AS n""",
            {"o": officer_id, "t": stamp(since), "new": Link.NEW.value},
        )
        return int(row["n"]) if row else 0

    def open_started_by(self, officer_id: int) -> int:
        """Questions the officer started that still wait for the expert."""
        row = self._db.one(
            """SELECT COUNT(*) AS n FROM asks a JOIN questions q ON q.id = a.question_id
               WHERE a.officer_id = ? AND a.withdrawn_at IS NULL
               AND a.link IN (?, ?) AND q.status = ?""",
            [officer_id, Link.NEW, Link.ASKED_ANYWAY, Status.OPEN],
        )
        return int(row["n"]) if row else 0

    def authorities_behind(self, question_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        result: dict[int, list[str]] = {}
        for row in self._db.rows_for_ids(
            """SELECT DISTINCT a.question_id, au.name FROM asks a
               JOIN authorities au ON au.id = a.authority_id
               WHERE a.withdrawn_at IS NULL AND a.import_id IS NULL
               AND a.question_id IN ({ids}) ORDER BY au.name""",
            question_ids,
        ):
            result.setdefault(row["question_id"], []).append(row["name"])
        return {qid: tuple(names) for qid, names in result.items()}

    def recipients(self, question_id: int) -> list[Asker]:
        """Officers with an active ask on the question (once each), not erased ones."""
        return [
            Asker(r["officer_id"], r["user_key"])
            for r in self._db.rows(
                """SELECT DISTINCT o.id AS officer_id, o.user_key FROM asks a
                   JOIN officers o ON o.id = a.officer_id
                   WHERE a.question_id = ? AND a.withdrawn_at IS NULL AND a.import_id IS NULL
                   AND o.forgotten_at IS NULL ORDER BY o.id""",
                [question_id],
            )
        ]

    def asker_names(self, question_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        """Display names of the officers behind each question (for opted-in exports)."""
        result: dict[int, list[str]] = {}
        for row in self._db.rows_for_ids(
            """SELECT DISTINCT a.question_id, o.display_name FROM asks a
               JOIN officers o ON o.id = a.officer_id
               WHERE a.withdrawn_at IS NULL AND a.import_id IS NULL AND o.forgotten_at IS NULL
               AND a.question_id IN ({ids}) ORDER BY o.display_name""",
            question_ids,
        ):
            result.setdefault(row["question_id"], []).append(row["display_name"])
        return {qid: tuple(names) for qid, names in result.items()}


def _ask(row: dict[str, Any]) -> Ask:
    return Ask(
        id=row["id"],
        question_id=row["question_id"],
        officer_id=row["officer_id"],
        link=Link(row["link"]),
        asked_at=parse_stamp(row["asked_at"]),
    )


_DRAFT_SELECT = """
SELECT id, officer_id, text, topic, place, suggested_question_id, score, resolution FROM drafts
"""


def _draft(row: dict[str, Any]) -> Draft:
    return Draft(
        id=row["id"],
        officer_id=row["officer_id"],
        text=row["text"],
        topic=row["topic"],
        place=row["place"],
        suggested_question_id=row["suggested_question_id"],
        score=row["score"],
        resolution=Resolution(row["resolution"]) if row["resolution"] else None,
    )


class Drafts:
    """Asks waiting on the officer's choice after the matcher suggested a question."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        officer_id: int,
        text: str,
        topic: str,
        place: str | None,
        suggested_question_id: int,
        score: float,
        scale: str,
        now: datetime,
    ) -> int:
        return self._db.insert(
            """INSERT INTO drafts (officer_id, text, topic, place, suggested_question_id,
                                   score, scale, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            [officer_id, text, topic, place, suggested_question_id, score, scale, stamp(now)],
        )

    def get(self, draft_id: int) -> Draft | None:
        row = self._db.one(_DRAFT_SELECT + " WHERE id = ?", [draft_id])
        return _draft(row) if row else None

    def latest(self, officer_id: int) -> Draft | None:
        """The officer's newest suggestion still waiting for a choice."""
        row = self._db.one(
            _DRAFT_SELECT
            + " WHERE officer_id = ? AND resolved_at IS NULL ORDER BY id DESC LIMIT 1",
            [officer_id],
        )
        return _draft(row) if row else None

    def resolve_open(self, officer_id: int, resolution: Resolution, now: datetime) -> None:
        self._db.write(
            """UPDATE drafts SET resolved_at = ?, resolution = ?
               WHERE officer_id = ? AND resolved_at IS NULL""",
            [stamp(now), resolution, officer_id],
        )

    def resolve(self, draft_id: int, resolution: Resolution, now: datetime) -> None:
        self._db.write(
            "UPDATE drafts SET resolved_at = ?, resolution = ? WHERE id = ?",
            [stamp(now), resolution, draft_id],
        )
