"""The audit trail has a reader (issue 15, item 4): who did what to which question, when,
and what changed — for the steering group and admins, on the command line and in Discord."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from knowledge.cli import main
from knowledge.errors import InvalidInput, NotAllowed
from knowledge.exchange import Exchange
from knowledge.models import Actor, Role
from tests.botkit import DERBYSHIRE, Q1_DERBYSHIRE, Place, ask, refused_kindly, reply_of, running
from tests.conftest import EXPERT, REPO, STEERING, Clock
from tests.fakediscord import async_test
from tests.stories import COCO, QOS, new

ADMIN = Actor("test:ada", "Ada", frozenset({Role.OFFICER, Role.ADMIN}))


def story(exchange: Exchange, alice: Actor, bob: Actor, clock: Clock) -> None:
    """Alice and Bob ask; the expert answers and publishes Q-2, merges and unmerges Q-1."""
    exchange.set_authority(EXPERT, "Cabinet Office")
    new(exchange.ask(alice, COCO))
    clock.advance(hours=1)
    new(exchange.ask(bob, QOS))
    clock.advance(days=1)
    exchange.answer(EXPERT, "Q-2", "Six classes of service.")
    exchange.publish(EXPERT)
    clock.advance(days=1)
    exchange.merge(EXPERT, "Q-1", "Q-2")
    exchange.unmerge(EXPERT, "Q-1")


def test_the_trail_says_who_did_what_to_which_question_and_when(
    exchange: Exchange, alice: Actor, bob: Actor, clock: Clock
) -> None:
    story(exchange, alice, bob, clock)

    trail = exchange.audit(STEERING)

    actions = [(e.action, e.question_ref, e.who) for e in trail]
    assert ("asked", "Q-1", "Alice (test:alice)") in actions
    assert ("answer_written", "Q-2", "Geoff (test:geoff)") in actions
    assert ("published", "", "Geoff (test:geoff)") in actions
    assert [e.action for e in trail if e.question_ref == "Q-1"][-2:] == ["merged", "unmerged"]
    written = next(e for e in trail if e.action == "answer_written")
    assert written.detail["version"] == 1
    assert [e.id for e in trail] == sorted(e.id for e in trail)


def test_the_trail_of_one_question_includes_the_release_that_published_it(
    exchange: Exchange, alice: Actor, bob: Actor, clock: Clock
) -> None:
    story(exchange, alice, bob, clock)

    q2 = [e.action for e in exchange.audit(ADMIN, question="Q-2")]
    assert q2[:3] == ["asked", "answer_written", "published"]
    assert "published" not in [e.action for e in exchange.audit(ADMIN, question="Q-1")]


def test_the_trail_can_be_cut_by_time_and_by_officer(
    exchange: Exchange, alice: Actor, bob: Actor, clock: Clock
) -> None:
    start = clock.now
    story(exchange, alice, bob, clock)

    first_hour = exchange.audit(STEERING, since=start, until=start + timedelta(minutes=30))
    assert first_hour
    assert all(start <= e.at < start + timedelta(minutes=30) for e in first_hour)
    assert ("asked", "Q-1") in {(e.action, e.question_ref) for e in first_hour}
    assert "Q-2" not in {e.question_ref for e in first_hour}  # asked an hour later
    bobs = exchange.audit(STEERING, actor_key="test:bob")
    assert bobs
    assert {e.who for e in bobs} == {"Bob (test:bob)"}


def test_an_erased_officer_appears_by_number_only(
    exchange: Exchange, alice: Actor, bob: Actor, clock: Clock
) -> None:
    story(exchange, alice, bob, clock)
    officer_id = exchange.store.officers.get("test:alice").id  # type: ignore[union-attr]
    exchange.forget_me(alice)

    trail = exchange.audit(STEERING)

    assert f"erased officer #{officer_id}" in {e.who for e in trail}
    assert not any("Alice" in e.who or "alice" in e.who for e in trail)
    assert exchange.audit(STEERING, actor_key="test:alice") == []


@pytest.mark.parametrize(
    ("who", "kwargs", "error", "message"),
    [
        ("officer", {}, NotAllowed, "Only the steering group and exchange admins"),
        ("expert", {}, NotAllowed, "Only the steering group and exchange admins"),
        ("steering", {"question": "question one"}, InvalidInput, "is not a question id"),
        ("steering", {"backwards": True}, InvalidInput, "must end after it starts"),
    ],
)
def test_bad_audit_requests_are_refused(
    exchange: Exchange,
    alice: Actor,
    clock: Clock,
    who: str,
    kwargs: dict[str, object],
    error: type,
    message: str,
) -> None:
    actor = {"officer": alice, "expert": EXPERT, "steering": STEERING}[who]
    if kwargs.pop("backwards", False):
        kwargs = {"since": clock.now, "until": clock.now - timedelta(days=1)}
    with pytest.raises(error, match=message):
        exchange.audit(actor, **kwargs)  # type: ignore[arg-type]


def test_the_command_line_writes_table_csv_and_json(
    exchange: Exchange,
    alice: Actor,
    bob: Actor,
    clock: Clock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    story(exchange, alice, bob, clock)
    exchange.set_authority(Actor("test:eve", "=HYPERLINK(1)"), DERBYSHIRE)
    common = ["--db", str(exchange.settings.database.path), "--config", str(REPO / "config.toml")]

    assert main(["audit", *common, "--question", "Q-2"]) == 0
    table = capsys.readouterr().out
    assert "answer_written" in table
    assert "Geoff (test:geoff)" in table

    assert main(["audit", *common, "--format", "json", "--actor", "test:bob"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["who"] for r in rows} == {"Bob (test:bob)"}
    assert rows[0]["at"].endswith("+01:00")  # UK time, British Summer Time in May

    out = tmp_path / "audit.csv"
    assert main(["audit", *common, "--format", "csv", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    parsed = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {"at", "who", "action", "question", "detail"} == set(parsed[0])
    eve = next(r for r in parsed if "HYPERLINK" in r["who"])
    assert eve["who"].startswith("'=")  # a spreadsheet shows it, never runs it

    assert main(["audit", *common, "--since", "2031-01-01"]) == 0
    assert capsys.readouterr().out == "No recorded actions match.\n"


@async_test
async def test_discord_gives_the_steering_group_the_trail_as_a_file(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        merlin = fake.member("Merlin", roles=["Steering Group"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)

        turn = await fake.slash(merlin, "audit", {"question": "Q-1"}, channel=place.general)
        shown = reply_of(turn)
        assert shown.ephemeral
        assert shown.text.startswith("The audit trail for Q-1 over the last 30 days: ")
        assert any("psn-exchange-audit.csv" in call.files for call in turn.requests)

        refused = await fake.slash(alice, "audit", channel=place.general)
        refused_kindly(refused, "Only the steering group and exchange admins")
