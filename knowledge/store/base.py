"""The connection, migrations, transactions and health of the store (see the package)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import sqlite_utils

from knowledge.errors import StoreError
from knowledge.migrations import MIGRATIONS

_IDS_PER_QUERY = 500  # well under SQLite's older default of 999 parameters

FTS_TABLES = {"questions": "questions_fts", "answers": "answers_fts"}

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def stamp(moment: datetime) -> str:
    """A sortable UTC text timestamp for storage."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fts_query(
    text: str, stop_words: frozenset[str] = frozenset(), phrases: Iterable[str] = ()
) -> str | None:
    """An FTS5 MATCH expression that ORs the words of `text` and the given phrases.

    Whatever the user typed (quotes, `*`, `NEAR(`, `AND`, `-`) becomes plain quoted words,
    so the query can never be a syntax error. A phrase (e.g. an acronym's long form) must
    match as a whole, so its common words cannot match on their own.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    kept = [w for w in words if w not in stop_words] or words
    terms = [" ".join(_WORD.findall(p.lower())) for p in phrases]
    unique = list(dict.fromkeys([*kept, *(t for t in terms if t)]))[:32]
    if not unique:
        return None
    return " OR ".join(f'"{w}"' for w in unique)


class StoreBase:
    """One SQLite connection (through sqlite-utils), owned by the thread that opened it."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.db = sqlite_utils.Database(conn)

    # -- opening, migrating, transactions ---------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout_ms: int = 5000, migrate: bool = True) -> Self:
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

    def matching_changes(self) -> int:
        """How many changes to questions and asks the database has seen (by any process)."""
        row = self.conn.execute("SELECT n FROM matching_changes WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

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
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _write(self, sql: str, params: Iterable[Any] = ()) -> int:
        try:
            return self.conn.execute(sql, tuple(params)).rowcount
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None

    def _rows(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            return list(self.db.query(sql, params if isinstance(params, dict) else tuple(params)))
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None

    def _rows_for_ids(
        self, sql: str, ids: Iterable[int], params_before: Sequence[Any] = ()
    ) -> Iterator[dict[str, Any]]:
        """Rows of `sql` for any number of ids; `{ids}` in `sql` stands for the IN list.

        The ids go in chunks, as SQLite limits the parameters of one statement.
        """
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            yield from self._rows(
                sql.format(ids=",".join("?" * len(chunk))), [*params_before, *chunk]
            )

    def _one(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

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
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc) or "readonly" in str(exc):
                    raise _store_error(exc, self.path) from None  # could not check: not damage
                problems.append(f"{fts}: full-text index out of step with {table} ({exc})")
            except sqlite3.DatabaseError as exc:
                problems.append(f"{fts}: full-text index out of step with {table} ({exc})")
            for suffix in ("ai", "ad", "au"):
                if f"{table}_{suffix}" not in self.db.table(table).triggers_dict:
                    problems.append(
                        f"{table}: trigger {table}_{suffix} that keeps {fts} in step is missing"
                    )
        return problems

    def backup(self, target: Path) -> None:
        """A consistent copy of the whole database (SQLite's online backup API)."""
        copy = sqlite3.connect(str(target))
        try:
            self.conn.backup(copy)
        finally:
            copy.close()


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
