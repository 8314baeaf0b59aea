"""Undoing a wrong merge: the merged question waits again with its own askers, at its old
place in the queue, they are told once, the matcher finds it again, the audit trail keeps
both — in the service, the console, the command line and Discord."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from knowledge.cli import OPERATOR, main
from knowledge.console import Console
from knowledge.errors import Conflict, NotAllowed, NotFound
from knowledge.exchange import Exchange
from knowledge.importer import import_file
from knowledge.models import Actor, Status
from tests.conftest import REPO, Clock
from tests.stories import COCO, IDS, QOS, count, new

# Two different workshop questions an expert might merge by mistake.
NAMING = "Are there any naming conventions for PSN domains and email addresses?"
FUNDING = "Are there grants for PSN network procurement?"


def queue_ids(exchange: Exchange, expert: Actor) -> list[int]:
    return [entry.question.id for entry in exchange.queue(expert)]


def test_an_unmerged_question_waits_again_at_its_old_place_with_its_askers(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor, clock: Clock
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    clock.advance(days=1)
    q2 = new(exchange.ask(bob, IDS)).question
    clock.advance(days=1)
    q3 = new(exchange.ask(carol, QOS)).question
    before = queue_ids(exchange, expert)
    assert before == [q1.id, q2.id, q3.id]

    exchange.merge(expert, q1.ref, q3.ref)
    assert queue_ids(exchange, expert) == [q3.id, q2.id]  # two authorities wait on Q-3
    clock.advance(days=1)

    reopened = exchange.unmerge(expert, q1.ref)

    assert reopened.status is Status.OPEN
    assert (reopened.asks, reopened.authorities) == (1, 1)
    assert queue_ids(exchange, expert) == before
    assert exchange.question(q3.ref)[0].asks == 1
    assert [m.question.id for m in exchange.mine(alice)] == [q1.id]
    told = [d for d in exchange.owed_deliveries("test:alice") if d.kind == "unmerged"]
    assert [(d.question.id, d.merged_from) for d in told] == [(q1.id, q3.id)]


def test_the_matcher_finds_an_unmerged_question_by_its_own_words_again(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    naming = new(exchange.ask(alice, NAMING)).question
    funding = new(exchange.ask(bob, FUNDING)).question
    exchange.merge(expert, naming.ref, funding.ref)
    assert exchange.ask(carol, NAMING).question.id == funding.id  # type: ignore[union-attr]

    exchange.unmerge(expert, naming.ref)

    assert exchange.ask(carol, NAMING).question.id == naming.id  # type: ignore[union-attr]


def test_an_officer_who_asked_both_waits_on_both_again(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    exchange.follow(alice, q2.ref)
    exchange.merge(expert, q2.ref, q1.ref)  # Alice's second ask closed: she waits once
    assert [m.question.id for m in exchange.mine(alice)] == [q1.id]

    reopened = exchange.unmerge(expert, q2.ref)

    assert reopened.asks == 2
    assert sorted(m.question.id for m in exchange.mine(alice)) == [q1.id, q2.id]
    assert exchange.question(q1.ref)[0].asks == 1


def test_a_question_merged_into_one_merged_later_gets_its_askers_back(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    q3 = new(exchange.ask(carol, QOS)).question
    exchange.merge(expert, q1.ref, q2.ref)
    exchange.merge(expert, q2.ref, q3.ref)
    assert exchange.question(q3.ref)[0].asks == 3

    exchange.unmerge(expert, q1.ref)

    assert exchange.question(q1.ref)[0].asks == 1
    assert [m.question.id for m in exchange.mine(alice)] == [q1.id]
    assert exchange.question(q3.ref)[0].asks == 2  # Bob and Carol
    exchange.unmerge(expert, q2.ref)
    assert [m.question.id for m in exchange.mine(bob)] == [q2.id]
    assert exchange.question(q3.ref)[0].asks == 1


def test_a_withdrawn_ask_stays_withdrawn_after_an_unmerge(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    exchange.merge(expert, q2.ref, q1.ref)
    exchange.withdraw(bob, q1.ref)

    reopened = exchange.unmerge(expert, q2.ref)

    assert reopened.asks == 0
    assert exchange.mine(bob) == []
    assert not [d for d in exchange.owed_deliveries("test:bob") if d.kind == "unmerged"]


def test_the_audit_trail_keeps_the_merge_and_the_unmerge_and_calibration_drops_it(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    exchange.merge(expert, q2.ref, q1.ref)
    assert len(exchange.store.reports.merge_scores(None)) == 1

    exchange.unmerge(expert, q2.ref)

    trail = [
        (e["action"], e["question_id"])
        for e in exchange.store.events.all()
        if e["action"] in ("merged", "unmerged")
    ]
    assert trail == [("merged", q2.id), ("unmerged", q2.id)]
    assert exchange.store.reports.merge_scores(None) == []  # a wrong merge teaches nothing


def test_a_question_merged_during_an_import_can_be_unmerged(
    exchange: Exchange, alice: Actor, expert: Actor, tmp_path: Path
) -> None:
    stored = new(
        exchange.ask(alice, "Who decides how PSN addressing and naming will work?")
    ).question
    rows = tmp_path / "q.jsonl"
    rows.write_text(
        '{"text": "Who decides how addressing and naming will work for the PSN?", '
        '"authority": "Rutland County Council", "officer": "Jo"}\n'
    )
    import_file(exchange, OPERATOR, rows)
    [imported] = [e.question for e in exchange.queue(expert) if e.proposals]
    exchange.merge(expert, imported.ref, stored.ref)

    reopened = exchange.unmerge(expert, imported.ref)

    assert reopened.status is Status.OPEN
    assert reopened.asks == 1
    assert exchange.question(stored.ref)[0].asks == 1


@pytest.mark.parametrize(
    ("who", "ref", "error", "message"),
    [
        ("bob", "Q-2", NotAllowed, "Only"),
        ("expert", "Q-9", NotFound, "Q-9"),
        ("expert", "Q-1", Conflict, "Q-1 is open, not merged"),
    ],
    ids=["officer", "unknown", "not-merged"],
)
def test_bad_unmerges_are_refused_and_change_nothing(
    exchange: Exchange,
    alice: Actor,
    bob: Actor,
    expert: Actor,
    who: str,
    ref: str,
    error: type,
    message: str,
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    exchange.merge(expert, q2.ref, q1.ref)
    events, outbox = count(exchange, "events"), count(exchange, "outbox")

    with pytest.raises(error, match=message):
        exchange.unmerge({"bob": bob, "expert": expert}[who], ref)

    assert (count(exchange, "events"), count(exchange, "outbox")) == (events, outbox)
    assert exchange.store.db["questions"].get(q2.id)["status"] == Status.MERGED.value


def test_unmerge_twice_is_refused_and_the_askers_are_told_once(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    exchange.merge(expert, q2.ref, q1.ref)
    exchange.unmerge(expert, q2.ref)

    with pytest.raises(Conflict, match="not merged"):
        exchange.unmerge(expert, q2.ref)
    assert len([d for d in exchange.owed_deliveries("test:bob") if d.kind == "unmerged"]) == 1


def test_unmerge_in_the_console_tells_the_asker(exchange: Exchange) -> None:
    out = io.StringIO()
    lines = [
        "/as Alice @ Derbyshire County Council",
        f"/ask {COCO}",
        "/as Bob @ Nottingham City Council",
        f"/ask {IDS}",
        "/as Geoff @ Cabinet Office expert",
        "/merge Q-2 Q-1",
        "/unmerge",
        "/unmerge Q-2",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert "Merged Q-2 into Q-1: 2 authorities wait on it now" in output
    assert "⚠ Use /unmerge Q-ID, for example /unmerge Q-7." in output
    assert "Unmerged Q-2: it waits in the queue again on its own (1 authority waits on it)" in (
        output
    )
    assert "is not the same as Q-1 after all" in output


def test_unmerge_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.db"
    config = str(REPO / "config.toml")
    script = tmp_path / "s.txt"
    script.write_text(
        "\n".join(
            [
                "/as Alice @ Derbyshire County Council",
                f"/ask {COCO}",
                "/as Bob @ Nottingham City Council",
                f"/ask {IDS}",
            ]
        )
    )
    with script.open() as typed, pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", typed)
        assert main(["console", "--db", str(db), "--config", config]) == 0
    assert main(["merge", "Q-2", "Q-1", "--db", str(db), "--config", config]) == 0
    capsys.readouterr()

    assert main(["unmerge", "Q-2", "--db", str(db), "--config", config]) == 0
    assert capsys.readouterr().out.startswith("Unmerged Q-2: it waits in the queue again")
    assert main(["unmerge", "Q-2", "--db", str(db), "--config", config]) == 1
    assert "Q-2 is open, not merged" in capsys.readouterr().err
