"""The connection every gateway shares: opening, migrations, transactions, health."""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import sqlite_utils

from knowledge.errors import StoreError
from knowledge.migrations import MIGRATIONS
from knowledge.text import authority_key

log = logging.getLogger(__name__)

_IDS_PER_QUERY = 500  # well under SQLite's older default of 999 parameters

FTS_TABLES = {
    "questions": "questions_fts",
    "answers": "answers_fts",
    "asks": "asks_fts",
    "replies": "replies_fts",
    "notes": "notes_fts",
}

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def stamp(moment: datetime) -> str:
    """A sortable UTC text timestamp for storage."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def marks(count: int) -> str:
    """`?, ?, ?`: the parameters of an IN list of `count` values."""
    return ", ".join("?" * count)


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


class Database:
    """One SQLite connection (through sqlite-utils), owned by the thread that opened it.

    The gateways run their SQL through `rows`, `one`, `write` and `insert`, which turn
    SQLite's errors into a `StoreError` that says what to do.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self.conn = conn
        self.path = path
        self.db = sqlite_utils.Database(conn)
        self._depth = 0  # open transactions: 1 is the use case, more are savepoints
        self.read_only = False  # opened with open_read_only: nothing is ever written

    # -- opening, migrating, transactions ---------------------------------------------

    @classmethod
    def open_read_only(cls, path: Path | str, *, busy_timeout_ms: int = 5000) -> Self:
        """Open an existing database only to read it: a file the exchange may not write (a
        backup on read-only storage, say) still answers `queue`, `export` and `db check`.
        Its schema must be current (upgrading is a write)."""
        name = str(path)
        location = urllib.parse.quote(str(Path(name).resolve()))
        conn: sqlite3.Connection | None = None
        # A write-ahead-log database needs its shared-memory file; in a folder the exchange
        # may not write, that cannot be made, so the file is read as immutable instead.
        for mode in ("ro", "ro&immutable=1"):
            try:
                conn = sqlite3.connect(
                    f"file:{location}?mode={mode}",
                    uri=True,
                    isolation_level=None,
                    timeout=busy_timeout_ms / 1000,
                )
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                break
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                    conn = None
                if mode != "ro":
                    raise _store_error(exc, name) from None
        assert conn is not None
        add_functions(conn)
        store = cls(conn, name)
        store.read_only = True
        version, current = store.schema_version, len(MIGRATIONS)
        if version != current:
            conn.close()
            older = "an older" if version < current else "a newer"
            raise StoreError(
                f"{name} can only be read here, and was written by {older} version of "
                f"PSN Exchange (schema {version}, this one {current}): open it once where "
                "it can be written to bring it up to date."
            )
        return store

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
            # Deleted and overwritten content is zeroed, so an erased officer's name does not
            # linger in free pages of the file.
            conn.execute("PRAGMA secure_delete = ON")
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, name) from None
        add_functions(conn)
        store = cls(conn, name)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def checkpoint(self) -> bool:
        """Copy everything committed into the database file and empty the write-ahead log,
        so data just erased is gone from the disk too (not left in old log frames). False
        if a reader in another process still needed the log (try again later)."""
        if self.in_transaction:
            raise RuntimeError("checkpoint() runs only after the transaction has committed")
        # Waiting the whole busy timeout for a reader would stall the use case: try briefly.
        timeout = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        self.conn.execute("PRAGMA busy_timeout = 100")
        try:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")
        return not busy

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> list[str]:
        """Apply the migrations this database has not had yet; return their names.

        Each is checked again inside its write transaction, so several processes opening a
        new (or upgraded) database at once apply it once between them.
        """
        applied: list[str] = []
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if self.schema_version >= version:
                continue
            with self.transaction():
                if self.schema_version >= version:
                    continue  # another process applied it while we waited for the lock
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

    # -- transactions -------------------------------------------------------------------

    def begin(self) -> None:
        """Start a write transaction (BEGIN IMMEDIATE: the write lock is taken now, so a
        busy database fails here, before anything is decided); inside one, a savepoint."""
        try:
            if self._depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
            else:
                self.conn.execute(f"SAVEPOINT level{self._depth}")
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        self._depth += 1

    def commit(self) -> None:
        """Commit the transaction (or release the innermost savepoint). If it fails, the
        transaction is still open: the caller rolls it back."""
        try:
            if self._depth > 1:
                self.conn.execute(f"RELEASE level{self._depth - 1}")
            else:
                self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        self._depth -= 1

    def rollback(self) -> None:
        """Undo the transaction (or just the innermost savepoint). Never raises: it runs
        while another error is on its way. If SQLite has already cancelled the whole
        transaction (a full disk, an I/O error), every level is gone: `depth` says so."""
        if self._depth == 0:
            return
        self._depth -= 1
        try:
            if not self.conn.in_transaction:
                self._depth = 0
            elif self._depth:
                self.conn.execute(f"ROLLBACK TO level{self._depth}")
                self.conn.execute(f"RELEASE level{self._depth}")
            else:
                self.conn.execute("ROLLBACK")
        except sqlite3.DatabaseError:
            log.warning("rolling back failed; abandoning the whole transaction", exc_info=True)
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.DatabaseError):
                    self.conn.execute("ROLLBACK")
            self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @property
    def depth(self) -> int:
        """1 inside a transaction, more inside its savepoints, 0 outside."""
        return self._depth

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the database (the
        same connection's own commits leave it as it was): what a cache of reads needs."""
        row = self.one("PRAGMA data_version")
        return int(row["data_version"]) if row else 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A read transaction: every read inside sees one snapshot of the database, and no
        write lock is taken (inside another transaction, just that one)."""
        if self.conn.in_transaction:
            yield
            return
        try:
            self.conn.execute("BEGIN")
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit of work; a nested one is a savepoint that fails alone."""
        self.begin()
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise

    # -- queries (the gateways' SQL runs through these) ---------------------------------

    def error(self, exc: sqlite3.DatabaseError) -> StoreError:
        """SQLite's error as one the user can act on."""
        return _store_error(exc, self.path)

    def insert(self, sql: str, params: Iterable[Any]) -> int:
        try:
            cursor = self.conn.execute(sql, tuple(params))
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def write(self, sql: str, params: Iterable[Any] = ()) -> int:
        try:
            return self.conn.execute(sql, tuple(params)).rowcount
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None

    def rows(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        try:
            return list(self.db.query(sql, params if isinstance(params, dict) else tuple(params)))
        except sqlite3.DatabaseError as exc:
            raise _store_error(exc, self.path) from None

    def rows_for_ids(
        self, sql: str, ids: Iterable[int], params_before: Sequence[Any] = ()
    ) -> Iterator[dict[str, Any]]:
        """Rows of `sql` for any number of ids; `{ids}` in `sql` stands for the IN list.

        The ids go in chunks, as SQLite limits the parameters of one statement.
        """
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            yield from self.rows(
                sql.format(ids=",".join("?" * len(chunk))), [*params_before, *chunk]
            )

    def one(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    # -- health -----------------------------------------------------------------------

    def check(self) -> list[str]:
        """Problems found by SQLite's integrity check and the FTS consistency checks."""
        if self.read_only:
            # FTS5's integrity check is written as an INSERT, which a read-only file refuses:
            # check a copy in memory instead (SQLite's backup API reads the file whole).
            copy = sqlite3.connect(":memory:", isolation_level=None)
            try:
                self.conn.backup(copy)
                add_functions(copy)
                return type(self)(copy, self.path).check()
            finally:
                copy.close()
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


def add_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions migrations may call (other tools opening the file need none)."""
    conn.create_function("authority_key", 1, authority_key, deterministic=True)


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
