"""The only module that knows table names and SQL.

A `Store` wraps one sqlite3 connection (through sqlite-utils) and belongs to the thread
that opened it. Writes happen only inside `transaction()`, which the exchange opens once
per use case, so each use case commits whole or not at all.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from knowledge.errors import StoreError
from knowledge.migrations import MIGRATIONS
from knowledge.models import Answer, Delivery, Link, Question, Status

FTS_TABLES = {"questions": "questions_fts", "answers": "answers_fts"}

_QUESTION_SELECT = """
SELECT q.id, q.text, q.topic, q.status, q.created_at, q.merged_into, q.waiting_since,
       q.demand AS authorities,
       (SELECT COUNT(*) FROM asks a WHERE a.question_id = q.id AND a.withdrawn_at IS NULL)
         AS asks
FROM questions q
"""

_ANSWER_SELECT = """
SELECT an.id, an.question_id, an.version, an.body, an.links, an.created_at, r.number
FROM answers an LEFT JOIN releases r ON r.id = an.release_id
"""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def stamp(moment: datetime) -> str:
    """A sortable UTC text timestamp for storage."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


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


def _answer(row: dict[str, Any]) -> Answer:
    return Answer(
        id=row["id"],
        question_id=row["question_id"],
        version=row["version"],
        body=row["body"],
        links=tuple(json.loads(row["links"])),
        created_at=parse_stamp(row["created_at"]),
        release_number=row["number"],
    )


def fts_query(text: str, stop_words: frozenset[str] = frozenset()) -> str | None:
    """An FTS5 MATCH expression that ORs the words of `text`, each quoted.

    Whatever the user typed (quotes, `*`, `NEAR(`, `AND`, `-`) becomes plain quoted words,
    so the query can never be a syntax error.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in stop_words] or words
    unique = list(dict.fromkeys(kept))[:32]
    if not unique:
        return None
    return " OR ".join(f'"{w}"' for w in unique)


class Store:
    """SQLite persistence for the exchange; open with `Store.open(path)`."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.db = sqlite_utils.Database(conn)

    # -- opening, migrating, transactions ---------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000, migrate: bool = True) -> Store:
        """Open (creating if needed) and migrate the database at `path`.

        Raises StoreError with a plain explanation if the file cannot be used.
        """
        name = str(path)
        if name != ":memory:":
            parent = Path(name).parent
            if not parent.exists():
                raise StoreError(
                    f"The folder for the database, {parent}, does not exist. "
                    "Create it or set database.path in config.toml."
                )
        try:
            # Autocommit mode: transactions are explicit (see transaction()), so nothing
            # inside sqlite-utils or sqlite3 commits halfway through a use case.
            conn = sqlite3.connect(name, isolation_level=None, timeout=busy_timeout_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA schema_version").fetchone()
            if name != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
            # FULL: a committed ask survives power loss too, not only a killed process.
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, name) from None
        store = cls(conn, name)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def data_version(self) -> int:
        """Changes whenever another connection commits to the database (not our own)."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> list[str]:
        """Apply the migrations this database has not had yet; return their names."""
        applied: list[str] = []
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if self.schema_version >= version:
                continue
            with self.transaction():
                for statement in _statements(sql):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {version}")
            applied.append(name)
        if self.schema_version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} was written by a newer version of PSN Exchange "
                f"(schema {self.schema_version}); please upgrade."
            )
        return applied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; nested calls join the outer transaction."""
        if self.conn.in_transaction:
            yield
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.conn.execute("ROLLBACK")
            raise _store_error(exc, self.path) from None

    def _insert(self, sql: str, params: Iterable[Any]) -> int:
        try:
            cursor = self.conn.execute(sql, tuple(params))
        except sqlite3.OperationalError as exc:
            raise _store_error(exc, self.path) from None
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        try:
            return self.conn.execute(sql, tuple(params)).rowcount
        except sqlite3.OperationalError as exc:
            raise _store_error(exc, self.path) from None

    def _rows(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            return list(self.db.query(sql, params if isinstance(params, dict) else tuple(params)))
        except sqlite3.OperationalError as exc:
            raise _store_error(exc, self.path) from None

    def _one(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- authorities and officers -----------------------------------------------------

    def authority_id(self, name: str, now: datetime) -> int:
        row = self._one("SELECT id FROM authorities WHERE name = ?", [name])
        if row:
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
        wanted = sorted(set(ids))
        found: dict[int, Question] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                _QUESTION_SELECT + f" WHERE q.id IN ({marks})",
                chunk,
            ):
                found[row["id"]] = _question(row)
        return found

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
        wanted = sorted(set(question_ids))
        result: dict[int, list[str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                f"""SELECT DISTINCT a.question_id, au.name FROM asks a
                    JOIN authorities au ON au.id = a.authority_id
                    WHERE a.withdrawn_at IS NULL AND a.question_id IN ({marks})
                    ORDER BY au.name""",  # noqa: S608
                chunk,
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

    def resolve_draft(self, draft_id: int, resolution: str, now: datetime) -> None:
        self._write(
            "UPDATE drafts SET resolved_at = ?, resolution = ? WHERE id = ?",
            [stamp(now), resolution, draft_id],
        )

    # -- answers and releases ---------------------------------------------------------

    def add_answer(
        self,
        *,
        question_id: int,
        body: str,
        links: tuple[str, ...],
        author_id: int,
        now: datetime,
    ) -> int:
        row = self._one(
            "SELECT COALESCE(MAX(version), 0) AS v FROM answers WHERE question_id = ?",
            [question_id],
        )
        version = (row["v"] if row else 0) + 1
        return self._insert(
            """INSERT INTO answers (question_id, version, body, links, author_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            [question_id, version, body, json.dumps(list(links)), author_id, stamp(now)],
        )

    def answer(self, answer_id: int) -> Answer | None:
        row = self._one(_ANSWER_SELECT + " WHERE an.id = ?", [answer_id])
        return _answer(row) if row else None

    def latest_answer(self, question_id: int, *, published_only: bool) -> Answer | None:
        where = " AND an.release_id IS NOT NULL" if published_only else ""
        row = self._one(
            _ANSWER_SELECT + f" WHERE an.question_id = ?{where} ORDER BY an.version DESC LIMIT 1",
            [question_id],
        )
        return _answer(row) if row else None

    def latest_published_answers(self, question_ids: Iterable[int]) -> dict[int, Answer]:
        found: dict[int, Answer] = {}
        wanted = sorted(set(question_ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                _ANSWER_SELECT
                + f""" WHERE an.release_id IS NOT NULL AND an.question_id IN ({marks})
                       ORDER BY an.version""",
                chunk,
            ):
                found[row["question_id"]] = _answer(row)
        return found

    def unpublished_answers(self) -> list[Answer]:
        return [
            _answer(r)
            for r in self._rows(
                _ANSWER_SELECT
                + """ JOIN questions q ON q.id = an.question_id
                      WHERE an.release_id IS NULL
                      AND q.status IN ('in_release', 'answered')
                      ORDER BY an.question_id, an.version"""
            )
        ]

    def last_release_number(self) -> int:
        row = self._one("SELECT COALESCE(MAX(number), 0) AS n FROM releases")
        return int(row["n"]) if row else 0

    def add_release(self, number: int, published_by: int, now: datetime) -> int:
        return self._insert(
            "INSERT INTO releases (number, published_at, published_by) VALUES (?, ?, ?)",
            [number, stamp(now), published_by],
        )

    def attach_answers(self, answer_ids: Iterable[int], release_id: int) -> None:
        for answer_id in answer_ids:
            self._write(
                "UPDATE answers SET release_id = ? WHERE id = ? AND release_id IS NULL",
                [release_id, answer_id],
            )

    # -- deliveries -------------------------------------------------------------------

    def owe(
        self,
        *,
        dedupe_key: str,
        kind: str,
        question_id: int,
        recipient: str,
        recipient_is_place: bool,
        now: datetime,
        answer_id: int | None = None,
        merged_from: int | None = None,
        officer_id: int | None = None,
    ) -> bool:
        """Record a message owed; False if the same one was already recorded."""
        count = self._write(
            """INSERT OR IGNORE INTO deliveries (dedupe_key, kind, question_id, answer_id,
                   merged_from, recipient, recipient_is_place, officer_id, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                dedupe_key,
                kind,
                question_id,
                answer_id,
                merged_from,
                recipient,
                int(recipient_is_place),
                officer_id,
                stamp(now),
            ],
        )
        return count == 1

    def owed_rows(
        self, recipient_prefix: str, limit: int, max_attempts: int | None = None
    ) -> list[dict[str, Any]]:
        """Owed deliveries, oldest first; with `max_attempts`, only those still worth trying."""
        return self._rows(
            """SELECT * FROM deliveries WHERE status = 'owed' AND recipient >= ? AND recipient < ?
               AND attempts < ? ORDER BY id LIMIT ?""",
            [
                recipient_prefix,
                recipient_prefix + "\U0010ffff",
                max_attempts if max_attempts is not None else 2**62,
                limit,
            ],
        )

    def delivery_row(self, delivery_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM deliveries WHERE id = ?", [delivery_id])

    def mark_sent(self, delivery_id: int, now: datetime) -> bool:
        """True if this call marked it; False if it was already sent."""
        return (
            self._write(
                """UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1
                   WHERE id = ? AND status = 'owed'""",
                [stamp(now), delivery_id],
            )
            == 1
        )

    def mark_failed(self, delivery_id: int, error: str) -> None:
        self._write(
            """UPDATE deliveries SET attempts = attempts + 1, last_error = ?
               WHERE id = ? AND status = 'owed'""",
            [error[:500], delivery_id],
        )

    def to_delivery(self, row: dict[str, Any], name_authorities: bool) -> Delivery:
        question = self.question(row["question_id"])
        assert question is not None
        answer = self.answer(row["answer_id"]) if row["answer_id"] else None
        names = (
            self.authorities_behind([question.id]).get(question.id, ()) if name_authorities else ()
        )
        return Delivery(
            id=row["id"],
            kind=row["kind"],
            recipient=row["recipient"],
            recipient_is_place=bool(row["recipient_is_place"]),
            question=question,
            answer=answer,
            merged_from=row["merged_from"],
            authority_names=names,
            recipient_name=self._display_name(row["officer_id"]),
            place=self.question_place(question.id),
            attempts=row["attempts"],
        )

    def answered_question_ids(self) -> list[int]:
        return [
            r["id"]
            for r in self._rows("SELECT id FROM questions WHERE status = 'answered' ORDER BY id")
        ]

    def asker_names(self, question_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        """Display names of the officers behind each question (for opted-in exports)."""
        wanted = sorted(set(question_ids))
        result: dict[int, list[str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                f"""SELECT DISTINCT a.question_id, o.display_name FROM asks a
                    JOIN officers o ON o.id = a.officer_id
                    WHERE a.withdrawn_at IS NULL AND o.forgotten_at IS NULL
                    AND a.question_id IN ({marks}) ORDER BY o.display_name""",  # noqa: S608
                chunk,
            ):
                result.setdefault(row["question_id"], []).append(row["display_name"])
        return {qid: tuple(names) for qid, names in result.items()}

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
        anonymous = f"forgotten:{officer_id}"
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

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole database (SQLite's online backup API)."""
        copy = sqlite3.connect(str(target))
        try:
            self.conn.backup(copy)
        finally:
            copy.close()

    # -- events -----------------------------------------------------------------------

    def record(
        self,
        action: str,
        *,
        actor_id: int | None,
        now: datetime,
        question_id: int | None = None,
        **detail: Any,
    ) -> None:
        self._insert(
            "INSERT INTO events (at, actor_id, action, question_id, detail) VALUES (?, ?, ?, ?, ?)",
            [stamp(now), actor_id, action, question_id, json.dumps(detail, sort_keys=True)],
        )

    def events(self, action: str | None = None) -> list[dict[str, Any]]:
        if action is None:
            return self._rows("SELECT * FROM events ORDER BY id")
        return self._rows("SELECT * FROM events WHERE action = ? ORDER BY id", [action])

    # -- reporting (digests and reminders) --------------------------------------------

    def asks_between(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Asks made in (since, until], with their question's topic and authority."""
        return self._rows(
            """SELECT a.id, a.question_id, a.link, a.asked_at, q.text, q.topic,
                      au.name AS authority
               FROM asks a JOIN questions q ON q.id = a.question_id
               JOIN authorities au ON au.id = a.authority_id
               WHERE a.asked_at > ? AND a.asked_at <= ? ORDER BY a.asked_at""",
            [stamp(since), stamp(until)],
        )

    def questions_created_between(self, since: datetime, until: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM questions WHERE created_at > ? AND created_at <= ?",
            [stamp(since), stamp(until)],
        )
        return int(row["n"]) if row else 0

    def event_questions(self, action: str, since: datetime, until: datetime) -> list[int | None]:
        """The question id of every `action` event in (since, until]."""
        return [
            r["question_id"]
            for r in self._rows(
                "SELECT question_id FROM events WHERE action = ? AND at > ? AND at <= ?",
                [action, stamp(since), stamp(until)],
            )
        ]

    def releases_between(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Releases published in (since, until] with each question they answered."""
        return self._rows(
            """SELECT r.number, r.published_at, an.question_id, an.version,
                      q.created_at AS asked_at,
                      (SELECT MIN(r2.published_at) FROM answers a2
                       JOIN releases r2 ON r2.id = a2.release_id
                       WHERE a2.question_id = an.question_id) AS first_published_at
               FROM releases r JOIN answers an ON an.release_id = r.id
               JOIN questions q ON q.id = an.question_id
               WHERE r.published_at > ? AND r.published_at <= ?
               ORDER BY r.number, an.question_id""",
            [stamp(since), stamp(until)],
        )

    def waiting_at(self, moment: datetime) -> list[dict[str, Any]]:
        """Questions that were waiting for a published answer at `moment`."""
        at = stamp(moment)
        return self._rows(
            """SELECT q.id, q.text, q.topic, q.status,
                      COALESCE(MIN(a.asked_at), q.created_at) AS waiting_since,
                      COUNT(DISTINCT a.authority_id) AS authorities
               FROM questions q
               LEFT JOIN asks a ON a.question_id = q.id AND a.asked_at <= ?
                    AND (a.withdrawn_at IS NULL OR a.withdrawn_at > ?)
               WHERE q.created_at <= ?
               AND NOT (q.status IN ('withdrawn', 'merged') AND q.updated_at <= ?)
               AND NOT EXISTS (SELECT 1 FROM answers an JOIN releases r ON r.id = an.release_id
                               WHERE an.question_id = q.id AND r.published_at <= ?)
               GROUP BY q.id ORDER BY waiting_since, q.id""",
            [at, at, at, at, at],
        )

    def authorities_waiting_at(
        self, moment: datetime, question_ids: Iterable[int]
    ) -> dict[str, int]:
        """For each authority, how many of the given questions it was waiting on."""
        at = stamp(moment)
        counts: dict[str, int] = {}
        wanted = sorted(set(question_ids))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(
                f"""SELECT au.name, COUNT(DISTINCT a.question_id) AS n FROM asks a
                    JOIN authorities au ON au.id = a.authority_id
                    WHERE a.asked_at <= ? AND (a.withdrawn_at IS NULL OR a.withdrawn_at > ?)
                    AND a.question_id IN ({marks}) GROUP BY au.name""",  # noqa: S608
                [at, at, *chunk],
            ):
                counts[row["name"]] = counts.get(row["name"], 0) + int(row["n"])
        return counts

    def notice_exists(self, key: str) -> bool:
        return self._one("SELECT 1 AS found FROM notices WHERE key = ?", [key]) is not None

    def add_notice(
        self,
        *,
        key: str,
        kind: str,
        audience: str,
        body: str,
        now: datetime,
        window: tuple[datetime, datetime] | None = None,
    ) -> int | None:
        """Record a notice owed; None if one with this key already exists."""
        start, end = (stamp(window[0]), stamp(window[1])) if window else (None, None)
        if self.notice_exists(key):
            return None
        return self._insert(
            """INSERT INTO notices (key, kind, audience, window_start, window_end, body,
                   created_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [key, kind, audience, start, end, body, stamp(now)],
        )

    def last_digest_end(self) -> datetime | None:
        row = self._one("SELECT MAX(window_end) AS end_at FROM notices WHERE kind = 'digest'")
        return parse_stamp(row["end_at"]) if row and row["end_at"] else None

    def first_activity(self) -> datetime | None:
        row = self._one("SELECT MIN(asked_at) AS first FROM asks")
        return parse_stamp(row["first"]) if row and row["first"] else None

    def owed_notices(
        self, audiences: Iterable[str] | None, limit: int, max_attempts: int | None = None
    ) -> list[dict[str, Any]]:
        """Owed notices, oldest first, for the given audiences (None: all)."""
        wanted = ["steering", "expert"] if audiences is None else list(audiences)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        return self._rows(
            f"""SELECT * FROM notices WHERE status = 'owed' AND audience IN ({marks})
                AND attempts < ? ORDER BY id LIMIT ?""",  # noqa: S608
            [*wanted, max_attempts if max_attempts is not None else 2**62, limit],
        )

    def mark_notice_sent(self, notice_id: int, now: datetime) -> bool:
        return (
            self._write(
                """UPDATE notices SET status = 'sent', sent_at = ?, attempts = attempts + 1
                   WHERE id = ? AND status = 'owed'""",
                [stamp(now), notice_id],
            )
            == 1
        )

    def mark_notice_failed(self, notice_id: int, error: str) -> None:
        self._write(
            """UPDATE notices SET attempts = attempts + 1, last_error = ?
               WHERE id = ? AND status = 'owed'""",
            [error[:500], notice_id],
        )

    # -- front-end state (small key/value facts, e.g. the synced command hash) -------

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", [key])
        return row["value"] if row else None

    def set_meta(self, key: str, value: str, now: datetime) -> None:
        self._write(
            """INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value,
               updated_at = excluded.updated_at""",
            [key, value, stamp(now)],
        )

    # -- health -----------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity check and the FTS consistency checks."""
        problems = [
            str(r[0])
            for r in self.conn.execute("PRAGMA integrity_check").fetchall()
            if r[0] != "ok"
        ]
        problems += [
            f"foreign key: {r[0]} row {r[1]} points at a missing {r[2]}"
            for r in self.conn.execute("PRAGMA foreign_key_check").fetchall()
        ]
        for table, fts in FTS_TABLES.items():
            try:
                self.conn.execute(
                    f"INSERT INTO [{fts}]([{fts}]) VALUES ('integrity-check')"  # noqa: S608
                )
            except sqlite3.DatabaseError as exc:
                problems.append(f"{fts}: full-text index out of step with {table} ({exc})")
            for suffix in ("ai", "ad", "au"):
                if f"{table}_{suffix}" not in self.db.table(table).triggers_dict:
                    problems.append(
                        f"{table}: trigger {table}_{suffix} that keeps {fts} in step is missing"
                    )
        return problems


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers contain inner semicolons)."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


def _store_error(exc: sqlite3.DatabaseError, path: str) -> StoreError:
    message = str(exc).lower()
    if "locked" in message or "busy" in message:
        return StoreError(
            f"The database {path} is busy (another program is writing to it). "
            "Nothing was changed; please try again in a moment."
        )
    if "readonly" in message or "read-only" in message:
        return StoreError(
            f"The database {path} is read-only, so nothing can be saved. "
            "Check the file's permissions; nothing was changed."
        )
    if "not a database" in message or "malformed" in message or "corrupt" in message:
        return StoreError(
            f"{path} is not a usable PSN Exchange database (it is damaged or another kind of "
            "file). Restore it from a backup (`psn-exchange db backup` makes one) or point "
            "database.path elsewhere."
        )
    if "unable to open" in message:
        return StoreError(
            f"The database {path} cannot be opened. Check that the folder exists and is writable."
        )
    return StoreError(f"The database {path} could not be used: {exc}")
