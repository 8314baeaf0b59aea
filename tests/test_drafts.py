"""Drafts in view (issue 15, item 3): the expert sees what the next release will publish,
answering again shows the draft it replaces and keeps its links unless new ones are given,
a draft can be dropped, and a release publishes exactly the drafts the expert confirmed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from knowledge.cli import main
from knowledge.console import Console
from knowledge.errors import Conflict, NotAllowed, NotFound
from knowledge.exchange import Exchange
from knowledge.models import Actor, Status, drafts_digest
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    LINK,
    Q1_DERBYSHIRE,
    Place,
    ask,
    field_ids,
    refused_kindly,
    reply_of,
    running,
)
from tests.conftest import REPO
from tests.fakediscord import async_test
from tests.stories import COCO, QOS, count, new

GOV = "https://www.gov.uk/government/groups/public-services-network"


def test_drafts_list_what_the_next_release_publishes(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q2.ref, "Six classes of service.", [GOV])
    exchange.answer(expert, q1.ref, "It carries over.")

    drafts = exchange.drafts(expert)

    assert [(d.question.id, d.answer.version, d.answer.links) for d in drafts] == [
        (q1.id, 1, ()),
        (q2.id, 1, (GOV,)),
    ]
    release = exchange.publish(expert, expected=drafts_digest(d.answer for d in drafts))
    assert release.question_ids == (q1.id, q2.id)
    assert exchange.drafts(expert) == []


def test_answering_again_keeps_the_drafts_links_unless_new_ones_are_given(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.", [GOV])

    kept = exchange.answer(expert, q.ref, "Six classes, EF for VoIP.")
    assert (kept.body, kept.links, kept.version) == ("Six classes, EF for VoIP.", (GOV,), 1)
    cleared = exchange.answer(expert, q.ref, "Six classes.", [])
    assert cleared.links == ()
    replaced = exchange.answer(expert, q.ref, "Six classes.", ["https://example.org/qos"])
    assert replaced.links == ("https://example.org/qos",)


def test_a_discarded_draft_is_gone_and_the_question_waits_again(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.")
    assert exchange.queue(expert) == []

    waiting = exchange.discard(expert, q.ref)

    assert waiting.status is Status.OPEN
    assert [e.question.id for e in exchange.queue(expert)] == [q.id]
    assert exchange.drafts(expert) == []
    assert count(exchange, "answers") == 0
    [event] = [e for e in exchange.store.events.all() if e["action"] == "draft_discarded"]
    assert event["question_id"] == q.id
    with pytest.raises(Conflict, match="nothing to publish"):
        exchange.publish(expert)


def test_discarding_a_new_version_keeps_the_published_answer(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.")
    exchange.publish(expert)
    exchange.answer(expert, q.ref, "Six classes; EF for VoIP.")

    kept = exchange.discard(expert, q.ref)

    assert kept.status is Status.ANSWERED
    _, answer = exchange.question(q.ref)
    assert answer is not None
    assert (answer.body, answer.version) == ("Six classes of service.", 1)


def test_a_release_confirmed_for_other_drafts_publishes_nothing(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q1.ref, "It carries over.")
    seen = drafts_digest(d.answer for d in exchange.drafts(expert))
    exchange.answer(expert, q2.ref, "Six classes of service.")  # written after the look
    exchange.answer(expert, q1.ref, "It carries over, mostly.")

    with pytest.raises(Conflict, match="changed after you looked"):
        exchange.publish(expert, expected=seen)
    assert count(exchange, "releases") == 0


@pytest.mark.parametrize(
    ("action", "error", "message"),
    [
        ("drafts-officer", NotAllowed, "Only the PSN expert can see draft answers."),
        ("discard-officer", NotAllowed, "Only the PSN expert can discard draft answers."),
        ("discard-none", NotFound, "has no draft answer to discard"),
        ("discard-unknown", NotFound, "There is no question Q-9."),
    ],
)
def test_bad_draft_requests_are_refused_and_change_nothing(
    exchange: Exchange, alice: Actor, expert: Actor, action: str, error: type, message: str
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    events = count(exchange, "events")
    calls = {
        "drafts-officer": lambda: exchange.drafts(alice),
        "discard-officer": lambda: exchange.discard(alice, q.ref),
        "discard-none": lambda: exchange.discard(expert, q.ref),
        "discard-unknown": lambda: exchange.discard(expert, "Q-9"),
    }
    with pytest.raises(error, match=message):
        calls[action]()
    assert count(exchange, "events") == events


def test_the_console_shows_drafts_what_a_new_answer_replaces_and_discards(
    exchange: Exchange,
) -> None:
    out = io.StringIO()
    lines = [
        "/as Alice @ Derbyshire County Council",
        f"/ask {QOS}",
        "/as Geoff @ Cabinet Office expert",
        f"/answer Q-1 Six classes of service. | {GOV}",
        "/answer Q-1 Six classes of service, with EF for VoIP.",
        "/drafts",
        "/answer Q-1 Six classes. |",
        "/discard",
        "/discard Q-1",
        "/drafts",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert (
        'This replaces your draft (version 1): "Six classes of service."; its links are kept.'
        in output
    )
    drafts = output.split("> /drafts\n")[1]
    assert drafts.startswith("The next release will publish 1 answer:\n  Q-1 (version 1, 1 link)")
    assert f"→ {GOV}" in drafts
    assert 'replaces your draft (version 1): "Six classes of service, with EF for VoIP.".\n' in (
        output
    )
    assert "⚠ Use /discard Q-ID, for example /discard Q-7." in output
    assert "Draft answer to Q-1 discarded; it waits in the queue again." in output
    assert output.rstrip().endswith("No draft answers: the next release has nothing to publish.")


def test_the_command_line_lists_discards_and_keeps_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "x.db"
    config = ["--db", str(db), "--config", str(REPO / "config.toml")]
    script = tmp_path / "s.txt"
    script.write_text(f"/as Alice @ Derbyshire County Council\n/ask {QOS}\n")
    with script.open() as typed, pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", typed)
        assert main(["console", *config]) == 0
    assert main(["answer", "Q-1", "Six classes.", "--link", GOV, *config]) == 0
    capsys.readouterr()

    assert main(["answer", "Q-1", "Six classes of service.", *config]) == 0
    assert "its links are kept" in capsys.readouterr().out
    assert main(["drafts", *config]) == 0
    assert f"→ {GOV}" in capsys.readouterr().out
    assert main(["answer", "Q-1", "Six classes of service.", "--no-links", *config]) == 0
    capsys.readouterr()
    assert main(["drafts", *config]) == 0
    assert "→" not in capsys.readouterr().out
    assert main(["discard", "Q-1", *config]) == 0
    assert "discarded; it waits in the queue again" in capsys.readouterr().out
    assert main(["discard", "Q-1", *config]) == 1
    assert "Q-1 has no draft answer to discard" in capsys.readouterr().err


@async_test
async def test_discord_publishes_exactly_the_drafts_the_expert_confirmed(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        await fake.submit_modal(geoff, {ids["Answer"]: ANSWER, ids["Resource links"]: LINK})

        # Answering again opens the form holding the draft: what it replaces, links kept.
        again = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert again.response is not None
        values = {
            c["component"]["custom_id"]: c["component"].get("value")
            for c in again.response.components
            if c["type"] == 18
        }
        assert (values["body"], values["links"]) == (ANSWER, LINK)

        drafts = reply_of(await fake.slash(geoff, "drafts", channel=place.general))
        assert "The next release: 1 answer" in drafts.text
        listed = reply_of(await fake.slash(geoff, "publish", channel=place.general))
        [confirm] = [i for i in listed.custom_ids if i.startswith("psnx:publish:")]
        officer = await fake.click(alice, confirm, message=listed)
        refused_kindly(officer, "Only the PSN expert can publish a release.")

        # A draft changes after the look: that confirmation publishes nothing.
        await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        await fake.submit_modal(
            geoff, {ids["Answer"]: ANSWER + " Updated.", ids["Resource links"]: LINK}
        )
        stale = await fake.click(geoff, confirm, message=listed)
        refused_kindly(stale, "changed after you looked")

        listed = reply_of(await fake.slash(geoff, "publish", channel=place.general))
        [confirm] = [i for i in listed.custom_ids if i.startswith("psnx:publish:")]
        await fake.click(geoff, confirm, message=listed)
        assert listed.text.startswith("Release 1 published: 1 answer")
        assert listed.custom_ids == []

        dropped = await fake.slash(geoff, "discard", {"question": "Q-1"}, channel=place.general)
        refused_kindly(dropped, "Q-1 has no draft answer to discard")
