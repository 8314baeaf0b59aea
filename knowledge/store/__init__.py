"""The store: the only code that knows table names and SQL.

`Store` is one SQLite database (`Database`: the connection, migrations, transactions)
seen through one gateway per kind of record, each returning the domain's own types:

    officers   authorities and officers          personal   one officer's own data
    questions  questions, queue, search          asks       who asks what
    drafts     suggestions awaiting a choice     answers    answers and releases
    outbox     messages owed and their sending   reports    digest and calibration reads
    events     the audit trail                   facts      small front-end facts
    changes    the matcher's change log          imports    imports in progress
    vectors    wording vectors for semantic matching
    proposals  merges proposed to the expert
    published  what the read-only web site reads (versions, releases, topics)

A `Store` belongs to the thread that opened it. Use cases reach it through a
`UnitOfWork` (knowledge/unit_of_work.py), which owns the transaction.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

from knowledge.store.answers import Answers
from knowledge.store.changes import QuestionChanges
from knowledge.store.database import FTS_TABLES, Database, fts_query, parse_stamp, stamp
from knowledge.store.events import Events, Facts
from knowledge.store.imports import Imports
from knowledge.store.notes import Notes
from knowledge.store.officers import Officers, PersonalData
from knowledge.store.outbox import Outbox, delivery_key
from knowledge.store.proposals import Proposals
from knowledge.store.published import Published
from knowledge.store.questions import Asks, Drafts, Questions
from knowledge.store.replies import Replies
from knowledge.store.reports import Reports
from knowledge.store.vectors import WordingVectors


class Store:
    """SQLite persistence for the exchange; open with `Store.open(path)`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.officers = Officers(database)
        self.personal = PersonalData(database)
        self.questions = Questions(database)
        self.asks = Asks(database)
        self.drafts = Drafts(database)
        self.answers = Answers(database)
        self.outbox = Outbox(database)
        self.reports = Reports(database)
        self.events = Events(database)
        self.facts = Facts(database)
        self.changes = QuestionChanges(database)
        self.imports = Imports(database)
        self.vectors = WordingVectors(database)
        self.proposals = Proposals(database)
        self.replies = Replies(database)
        self.notes = Notes(database)
        self.published = Published(database)

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        busy_timeout_ms: int = 5000,
        migrate: bool = True,
        read_only: bool = False,
    ) -> Store:
        """Open (creating if needed) and migrate the database at `path`; with `read_only`,
        an existing one only to read it (see Database.open_read_only).

        Raises StoreError with a plain explanation if the file cannot be used.
        """
        if read_only:
            return cls(Database.open_read_only(path, busy_timeout_ms=busy_timeout_ms))
        return cls(Database.open(path, busy_timeout_ms=busy_timeout_ms, migrate=migrate))

    @property
    def path(self) -> str:
        return self.database.path

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection itself (for tools and tests)."""
        return self.database.conn

    def transaction(self) -> AbstractContextManager[None]:
        """A plain transaction, for tools that write outside the use cases (benchmarks)."""
        return self.database.transaction()

    @property
    def db(self) -> sqlite_utils.Database:
        """The same connection through sqlite-utils (for tools and tests)."""
        return self.database.db

    def close(self) -> None:
        self.database.close()

    def migrate(self) -> list[str]:
        return self.database.migrate()

    @property
    def schema_version(self) -> int:
        return self.database.schema_version

    def check(self) -> list[str]:
        return self.database.check()

    def backup(self, target: Path) -> None:
        self.database.backup(target)


__all__ = ["FTS_TABLES", "Store", "delivery_key", "fts_query", "parse_stamp", "stamp"]
