"""The unit of work keeps the matcher exactly in step with what the database holds, however
a transaction ends: committed, rolled back at any depth, or cancelled by SQLite itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from knowledge.errors import StoreError
from knowledge.exchange import Exchange
from knowledge.models import NewQuestion, OpenMatch
from knowledge.unit_of_work import UnitOfWork
from tests.conftest import officer
from tests.stories import store_question

WHEN = datetime(2010, 5, 11, 9, 0, tzinfo=UTC)
FIREWALL = "Which firewall ports must be opened for the PSN DNS service?"


def add_question(uow: UnitOfWork, text: str) -> int:
    return store_question(uow, text, WHEN, f"test:{len(text)}-{text[:8]}")


SCHOOLS = "Is PSN accreditation needed for a schools network?"


def refused(exchange: Exchange, text: str) -> None:
    with exchange.uow as uow:
        add_question(uow, text)
        raise RuntimeError("refused")


def fails_after_an_inner_success(exchange: Exchange, text: str) -> None:
    with exchange.uow:
        with exchange.uow as inner:
            add_question(inner, text)
        assert held(exchange, text)  # indexed as soon as the inner level succeeded
        raise RuntimeError("the middle level fails after the inner one succeeded")


def cancelled_by_sqlite(exchange: Exchange) -> None:
    with exchange.uow:
        with exchange.uow as row:
            add_question(row, FIREWALL)
        assert held(exchange, FIREWALL)  # indexed as soon as its level succeeded
        with exchange.uow:
            # What SQLite does by itself on a full disk or an I/O error in a statement.
            exchange.store.conn.execute("ROLLBACK")
            raise StoreError("The database could not be used: database or disk is full")


def held(exchange: Exchange, text: str) -> bool:
    return any(m.score > 90 for m in exchange.matcher.find(text, limit=1))


def test_a_committed_question_is_indexed_and_a_rolled_back_one_is_not(
    exchange: Exchange,
) -> None:
    with exchange.uow as uow:
        add_question(uow, FIREWALL)
    with pytest.raises(RuntimeError):
        refused(exchange, "Who signs the PSN code of connection for a shared service?")

    assert held(exchange, FIREWALL)
    assert not held(exchange, "Who signs the PSN code of connection for a shared service?")


def test_an_inner_level_indexed_then_undone_by_its_parent_is_forgotten(
    exchange: Exchange,
) -> None:
    """A savepoint that succeeded inside one that failed: the database keeps neither, and
    neither does the matcher, while the outer transaction commits what it did itself."""
    with exchange.uow as outer:
        add_question(outer, FIREWALL)
        with pytest.raises(RuntimeError):
            fails_after_an_inner_success(exchange, SCHOOLS)

    assert exchange.store.db["questions"].count == 1
    assert held(exchange, FIREWALL)
    assert not held(exchange, "Is PSN accreditation needed for a schools network?")
    bob = officer("Bob")
    exchange.set_authority(bob, "Nottingham City Council")
    assert isinstance(
        exchange.ask(bob, "Is PSN accreditation needed for a schools network?"), NewQuestion
    )


def test_a_transaction_sqlite_cancels_leaves_no_phantom_in_the_matcher(
    exchange: Exchange,
) -> None:
    """SQLite may roll back the whole transaction by itself (a full disk, an I/O error):
    every level the unit of work had open is undone, and the change log read again."""
    with pytest.raises(StoreError, match="disk is full"):
        cancelled_by_sqlite(exchange)

    assert exchange.store.db["questions"].count == 0
    assert not held(exchange, FIREWALL)
    assert exchange.store.database.depth == 0
    ann, bob = officer("Ann"), officer("Bob")
    exchange.set_authority(ann, "Derbyshire County Council")
    exchange.set_authority(bob, "Nottingham City Council")
    assert isinstance(exchange.ask(ann, FIREWALL), NewQuestion)
    assert isinstance(exchange.ask(bob, FIREWALL), OpenMatch)  # the log is followed again
