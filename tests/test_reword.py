"""Rewording (issue 15, item 2): the expert sets a question's canonical wording, an officer
rewords their own question while it is open and only theirs; the askers' own wordings stay,
search and the matcher see every wording, and the audit trail keeps before and after."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from knowledge.cli import main
from knowledge.console import Console
from knowledge.errors import Conflict, InvalidInput, NotAllowed
from knowledge.exchange import Exchange
from knowledge.models import Actor, OpenMatch
from tests.botkit import DERBYSHIRE, Place, ask, refused_kindly, reply_of, running
from tests.conftest import REPO, STEERING
from tests.fakediscord import async_test
from tests.stories import count, new

MISSPELT = "When will the PSN compliance timetabel for councils be published?"
SPELT = "When will the PSN compliance timetable for councils be published?"
BETTER = "When will the Cabinet Office publish the PSN compliance timetable for councils?"


def test_the_expert_rewords_and_every_wording_is_still_found(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, MISSPELT)).question
    assert exchange.search("timetable") == []  # only the misspelt wording so far

    reworded = exchange.reword(expert, q.ref, SPELT)

    assert reworded.text == SPELT
    assert [h.question.id for h in exchange.search("timetable")] == [q.id]
    assert [h.question.id for h in exchange.search("timetabel")] == [q.id]  # Alice's words
    [ask] = exchange.my_data(alice)["asks"]
    assert ask["text"] == MISSPELT  # her own wording stays as she asked it
    offered = exchange.ask(bob, SPELT)
    assert isinstance(offered, OpenMatch)
    assert offered.question.id == q.id
    [event] = [e for e in exchange.audit(STEERING) if e.action == "reworded"]
    assert event.detail == {"old": MISSPELT, "new": SPELT}


def test_an_officer_rewords_their_own_open_question(exchange: Exchange, alice: Actor) -> None:
    q = new(exchange.ask(alice, MISSPELT)).question

    assert exchange.reword(alice, q.ref, SPELT).text == SPELT


def test_an_officer_cannot_reword_a_question_others_wait_on(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    q = new(exchange.ask(alice, MISSPELT)).question
    exchange.follow(bob, q.ref)
    events = count(exchange, "events")

    for officer in (alice, bob):
        with pytest.raises(NotAllowed, match="Only the PSN expert can reword"):
            exchange.reword(officer, q.ref, SPELT)
    assert count(exchange, "events") == events
    assert exchange.question(q.ref)[0].text == MISSPELT


def test_an_answered_question_keeps_its_wording_for_its_asker(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, MISSPELT)).question
    exchange.answer(expert, q.ref, "In the autumn, with the Code of Connection.")
    with pytest.raises(Conflict, match="has an answer already"):
        exchange.reword(alice, q.ref, SPELT)
    assert exchange.reword(expert, q.ref, SPELT).text == SPELT  # the expert still can


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MISSPELT, "That is already the wording"),
        ("", "Your question is empty"),
        ("OFFICIAL-SENSITIVE: the timetable", "protective marking"),
    ],
)
def test_a_bad_wording_is_refused_and_changes_nothing(
    exchange: Exchange, alice: Actor, expert: Actor, text: str, message: str
) -> None:
    q = new(exchange.ask(alice, MISSPELT)).question
    events = count(exchange, "events")
    with pytest.raises(InvalidInput, match=message):
        exchange.reword(expert, q.ref, text)
    assert count(exchange, "events") == events


def test_reword_in_the_console_and_on_the_command_line(
    exchange: Exchange, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    lines = [
        "/as Alice @ Derbyshire County Council",
        f"/ask {MISSPELT}",
        "/reword Q-1",
        f"/reword Q-1 {SPELT}",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert "⚠ Use /reword Q-ID TEXT" in output
    assert f'Q-1 now reads: "{SPELT}".' in output

    common = ["--db", str(exchange.settings.database.path), "--config", str(REPO / "config.toml")]
    assert main(["reword", "Q-1", BETTER, *common]) == 0
    assert f'Q-1 now reads: "{BETTER}"' in capsys.readouterr().out
    assert main(["reword", "Q-1", BETTER, *common]) == 1
    assert "That is already the wording of Q-1." in capsys.readouterr().err


@async_test
async def test_discord_rewords_and_refuses_kindly(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await ask(fake, alice, MISSPELT, channel=place.general, authority=DERBYSHIRE)
        refused = await fake.slash(
            bob, "reword", {"question": "Q-1", "text": SPELT}, channel=place.general
        )
        refused_kindly(refused, "Only the PSN expert can reword Q-1")
        done = await fake.slash(
            alice, "reword", {"question": "Q-1", "text": SPELT}, channel=place.general
        )
        assert "Q-1 now reads:" in reply_of(done).text
