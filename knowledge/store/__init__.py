"""The store: the only code that knows table names and SQL.

A `Store` wraps one sqlite3 connection (through sqlite-utils) and belongs to the thread
that opened it. Writes happen only inside `transaction()`, which the exchange opens once
per use case, so each use case commits whole or not at all. The class is built in layers,
one module each: the connection (base), questions and asks (questions), answers, releases
and deliveries (releases), digests and notices (reports).
"""

from knowledge.store.base import FTS_TABLES, fts_query, parse_stamp, stamp
from knowledge.store.reports import ReportQueries


class Store(ReportQueries):
    """SQLite persistence for the exchange; open with `Store.open(path)`."""


__all__ = ["FTS_TABLES", "Store", "fts_query", "parse_stamp", "stamp"]
