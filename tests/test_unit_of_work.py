"""The unit of work keeps the matcher exactly in step with what the database holds, however
a transaction ends: committed, rolled back at any depth, or cancelled by SQLite itself."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from knowledge.cli import OPERATOR
from knowledge.config import MatchingSettings
from knowledge.errors import StoreError
from knowledge.exchange import Exchange
from knowledge.importer import import_file
from knowledge.matching import Matcher
from knowledge.models import NewQuestion, OpenMatch
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases.imports import decide
from tests.conftest import officer
from tests.stories import store_question
from tests.test_import_helper import workshop_file

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


def _state(matcher: Matcher) -> tuple[Counter[tuple[int, str]], dict[str, int], Counter[str]]:
    """What a matcher holds, whatever keys it gave its wordings: (question, wording) pairs,
    each term's document frequency, and the character trigram counts."""
    wordings = Counter((matcher._owner[key], text) for key, text in matcher._texts.items())
    terms = {term for held in matcher._terms.values() for term in held}
    return wordings, {t: matcher._index.df(t) for t in terms}, +matcher._gram_df


def test_an_imports_rows_indexed_to_decide_them_are_taken_over_when_written(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each row is indexed once, to decide it (and the next rows); the question written for
    it takes that wording over instead of indexing it again. The matcher then holds exactly
    what one built afresh from the database holds, and nothing provisional is ever found."""
    with exchange.uow as uow:
        for text in (FIREWALL, SCHOOLS):
            add_question(uow, text)
    indexed: list[int] = []
    add = Matcher._add

    def counted(self: Matcher, question_id: int, *args: Any) -> None:
        indexed.append(question_id)
        add(self, question_id, *args)

    monkeypatch.setattr(Matcher, "_add", counted)
    path = workshop_file(tmp_path / "rows.jsonl")  # 330 rows, repeats in and across batches
    report = import_file(exchange, OPERATOR, path, each_row=True)
    rows = len(report.rows)
    joined = sum(1 for row in report.rows if row.outcome in ("joined", "present"))
    assert joined > 20
    provisional = sum(1 for question_id in indexed if question_id < 0)
    assert provisional == rows  # each row indexed once to decide it …
    # … and never again as a new question: only a joined question's wordings are redone.
    assert len(indexed) - provisional <= 4 * joined
    assert len(indexed) - provisional < rows / 2

    live = exchange.uow._matcher
    assert not live.has_spares
    assert all(question_id > 0 for question_id in live._wordings)
    fresh = live.emptied()
    with exchange.store.database.reading():
        fresh.add_many(exchange.store.questions.all_wordings())
    assert _state(live) == _state(fresh)
    for row in report.rows[:60]:
        text = json.loads(path.read_text().splitlines()[row.line - 1])["text"]
        assert [(m.question_id, m.score) for m in live.find(text)] == [
            (m.question_id, m.score) for m in fresh.find(text)
        ]


def test_rows_decided_but_never_written_are_never_found(exchange: Exchange) -> None:
    """An import's rows stay indexed while it runs, written or not; when it ends (here,
    abandoned after deciding a batch it never wrote) they are forgotten, and no use case
    ever finds one."""
    with exchange.uow as uow:
        add_question(uow, FIREWALL)
    with pytest.raises(RuntimeError, match="only during an import"):
        decide(exchange.uow, [SCHOOLS], 0, 0, 1, best_matches=False)
    exchange.uow.begin_import(1)
    decisions = decide(exchange.uow, [SCHOOLS, SCHOOLS], 0, 0, 2, best_matches=False)
    assert [type(d).__name__ for d in decisions] == ["_New", "_Join"]
    assert decisions[1].question_id == -1  # the second row joins the first
    with pytest.raises(RuntimeError, match="cannot be decided here"):
        decide(exchange.uow, [SCHOOLS], 0, 0, 1, best_matches=False)  # decided already
    exchange.uow.end_import()
    assert not exchange.uow._matcher.has_spares
    assert all(match.question_id > 0 for match in exchange.matcher.find(SCHOOLS))
    assert not held(exchange, SCHOOLS)


def test_a_spare_wording_is_taken_over_once_and_the_rest_forgotten() -> None:
    matcher = Matcher(MatchingSettings())
    matcher.add(-1, FIREWALL)
    matcher.add(-2, FIREWALL)  # the same row twice in a batch
    matcher.add(-3, SCHOOLS)
    kept = matcher._wordings[-1][0]
    for key, text in ((-1, FIREWALL), (-2, FIREWALL), (-3, SCHOOLS)):
        matcher.set_aside(key, text)
    matcher.remove(-3)  # forgotten meanwhile: never handed out
    matcher.replace(7, [FIREWALL])
    matcher.replace(8, [SCHOOLS])
    assert matcher._wordings[7] == [kept]
    assert matcher._owner[kept] == 7
    assert -1 not in matcher
    assert 8 in matcher
    matcher.drop_spares()
    assert -2 not in matcher
    assert not matcher.has_spares
    assert [m.question_id for m in matcher.find(FIREWALL, limit=1)] == [7]
    assert [m.question_id for m in matcher.find(SCHOOLS, limit=1)] == [8]
