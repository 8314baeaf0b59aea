"""An import beside the running exchange: written in short batches, invisible until it
completes, then visible everywhere at once; an import that dies leaves nothing visible
and is cleaned up at the next start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge import importer
from knowledge.cli import OPERATOR
from knowledge.config import Settings
from knowledge.errors import NotFound
from knowledge.exchange import Exchange
from knowledge.importer import import_file
from knowledge.models import Actor, NewQuestion, OpenMatch
from knowledge.usecases.imports import ImportedRow, RowOutcome
from tests.conftest import STEERING, Clock, officer

COCO = "Will our GCSx Code of Connection compliance carry over to the Public Sector Network?"
QOS = "How is quality of service handled in the PSN?"
ASKED = datetime(2010, 5, 4, 9, 0, tzinfo=UTC)


def imported(text: str, line: int = 1, authority: str = "Rutland County Council") -> ImportedRow:
    return ImportedRow(line, text, authority, "Ruth", None, ASKED)


def test_an_unfinished_import_is_invisible_to_everyone_else(
    exchange: Exchange, settings: Settings, clock: Clock
) -> None:
    ann = officer("Ann")
    exchange.set_authority(ann, "Derby City Council")
    existing = exchange.ask(ann, QOS)
    assert isinstance(existing, NewQuestion)
    importing = Exchange.open(settings, clock)  # `psn-exchange import` in another process
    try:
        session = importing.begin_import(OPERATOR)
        outcomes = importing.import_rows(
            OPERATOR, session, [imported(COCO), imported(QOS, 2, "Leicester City Council")]
        )
        assert [o.outcome for o in outcomes] == ["new", "joined"]

        # The bot sees nothing of it: not the new question, not the extra demand.
        bob = officer("Bob")
        exchange.set_authority(bob, "Nottingham City Council")
        assert [e.question.id for e in exchange.queue(STEERING)] == [existing.question.id]
        assert exchange.question(existing.question.ref)[0].authorities == 1
        assert exchange.search("code of connection") == []
        with pytest.raises(NotFound):
            exchange.question(existing.question.id + 1)
        assert exchange.digest(STEERING, until=clock.now).asked == 1

        importing.finish_import(OPERATOR, session)
    finally:
        importing.close()

    # All of it at once, and the bot's matcher knows the new question at its next ask.
    assert len(exchange.queue(STEERING)) == 2
    assert exchange.question(existing.question.ref)[0].authorities == 2
    assert isinstance(exchange.ask(officer("Bob"), COCO), OpenMatch)


def test_the_file_s_own_repeats_are_joined_across_batches(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 2)  # each repeat lands in a later batch
    rows = [QOS, COCO, "Who decides PSN addressing and naming?", QOS, COCO]
    path = tmp_path / "q.jsonl"
    path.write_text(
        "".join(
            f'{{"text": "{text}", "authority": "Authority {n}", "officer": "Officer {n}"}}\n'
            for n, text in enumerate(rows)
        ),
        encoding="utf-8",
    )
    shown: list[tuple[int, int]] = []

    report = import_file(exchange, OPERATOR, path, progress=lambda d, t: shown.append((d, t)))

    assert (report.new, report.joined) == (3, 2)
    assert shown == [(2, 5), (4, 5), (5, 5)]
    assert sorted(e.question.authorities for e in exchange.queue(OPERATOR)) == [1, 2, 2]


def test_repeats_within_one_batch_are_joined_too(exchange: Exchange) -> None:
    session = exchange.begin_import(OPERATOR)
    outcomes = exchange.import_rows(
        OPERATOR,
        session,
        [imported(QOS), imported(QOS, 2, "Derby City Council"), imported(QOS, 3)],
    )
    exchange.finish_import(OPERATOR, session)

    assert [o.outcome for o in outcomes] == ["new", "joined", "present"]
    [entry] = exchange.queue(OPERATOR)
    assert entry.question.authorities == 2


def test_an_import_that_died_leaves_nothing_and_is_removed_at_the_next_start(
    settings: Settings, clock: Clock
) -> None:
    dying = Exchange.open(settings, clock)
    session = dying.begin_import(OPERATOR)
    fenland = "Fenland District Council"  # not one of config.toml's authorities
    dying.import_rows(OPERATOR, session, [imported(QOS, 1, fenland), imported(COCO, 2)])
    dying.close()  # killed: never finished, never abandoned

    soon = Exchange.open(settings, clock)
    try:
        assert soon.queue_size(OPERATOR) == 0  # hidden; perhaps still running
        assert soon.store.db["questions"].count == 2
    finally:
        soon.close()
    clock.advance(minutes=11)  # no heartbeat for longer than an import ever pauses
    later = Exchange.open(settings, clock)
    try:
        assert later.store.db["questions"].count == 0
        assert later.store.db["asks"].count == 0
        assert later.store.db["imports"].count == 0
        assert fenland not in later.authority_names()  # added by the import alone
        assert later.store.check() == []
    finally:
        later.close()


def test_a_running_import_is_not_removed_while_it_keeps_writing(
    exchange: Exchange, settings: Settings, clock: Clock
) -> None:
    session = exchange.begin_import(OPERATOR)
    exchange.import_rows(OPERATOR, session, [imported(QOS)])
    clock.advance(minutes=8)
    exchange.import_rows(OPERATOR, session, [imported(COCO, 2)])  # its heartbeat
    clock.advance(minutes=8)

    other = Exchange.open(settings, clock)  # starts while the import is still running
    other.close()
    exchange.finish_import(OPERATOR, session)

    assert exchange.queue_size(OPERATOR) == 2


def test_a_failed_import_removes_what_it_wrote(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "BATCH", 1)
    path = tmp_path / "q.jsonl"
    path.write_text(
        f'{{"text": "{QOS}", "authority": "Rutland", "officer": "Ruth"}}\n'
        f'{{"text": "{COCO}", "authority": "Rutland", "officer": "Ruth"}}\n',
        encoding="utf-8",
    )
    real = Exchange.import_rows
    calls = []

    def failing(self: Exchange, *args: object, **options: bool) -> list[RowOutcome]:
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C in the second batch
        return real(self, *args, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(Exchange, "import_rows", failing)
    with pytest.raises(KeyboardInterrupt):
        import_file(exchange, OPERATOR, path)

    assert exchange.store.db["questions"].count == 0
    assert exchange.store.db["imports"].count == 0
    assert len(exchange.matcher) == 0


def test_only_the_expert_or_an_admin_imports(exchange: Exchange) -> None:
    with pytest.raises(Exception, match="Only the PSN expert or an exchange admin"):
        exchange.begin_import(officer("Ann"))
    assert exchange.store.db["imports"].count == 0


def test_an_old_import_s_timestamp_is_kept(exchange: Exchange) -> None:
    session = exchange.begin_import(OPERATOR)
    exchange.import_rows(OPERATOR, session, [imported(QOS)])
    exchange.finish_import(OPERATOR, session)

    [entry] = exchange.queue(OPERATOR)
    assert entry.question.waiting_since == ASKED
    assert entry.question.created_at == ASKED
    assert timedelta(0) < exchange.clock() - ASKED


def test_an_answer_the_expert_writes_during_an_import_is_never_overwritten_by_the_file(
    exchange: Exchange, settings: Settings, clock: Clock, expert: Actor
) -> None:
    ann = officer("Ann")
    exchange.set_authority(ann, "Derby City Council")
    asked = exchange.ask(ann, QOS)
    assert isinstance(asked, NewQuestion)
    session = exchange.begin_import(OPERATOR)
    row = ImportedRow(1, QOS, "Rutland County Council", "Ruth", None, ASKED, "From the file.")
    assert [o.outcome for o in exchange.import_rows(OPERATOR, session, [row])] == ["joined"]

    bot = Exchange.open(settings, clock)  # the expert, in the bot, meanwhile
    try:
        bot.answer(expert, asked.question.ref, "The expert's own answer.")
    finally:
        bot.close()
    result = exchange.finish_import(OPERATOR, session)

    assert result.answered == 0
    assert "was answered, merged or withdrawn" in result.skipped[0]
    exchange.publish(expert)
    assert exchange.question(asked.question.ref)[1].body == "The expert's own answer."  # type: ignore[union-attr]
