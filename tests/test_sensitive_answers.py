"""Answers the expert marks OFFICIAL-SENSITIVE (issue 15, item 5): askers are told the answer
exists and how to obtain it through the secure route; it is never posted in threads, search
or exports; the audit trail records the marking."""

from __future__ import annotations

import io
import json

import pytest

from knowledge.console import Console
from knowledge.errors import InvalidInput, NotAllowed, NotFound
from knowledge.exchange import Exchange
from knowledge.export import to_json
from knowledge.models import Actor
from tests.botkit import (
    DERBYSHIRE,
    Place,
    ask,
    deliver,
    field_ids,
    publish,
    q1_thread,
    refused_kindly,
    reply_of,
    running,
)
from tests.conftest import STEERING
from tests.fakediscord import async_test
from tests.stories import QOS, count, new

BODY = "The gateway's firewall rules are held by the PSN team."
POINTER = "This answer is marked OFFICIAL-SENSITIVE, so the exchange does not hold or send it."


def sensitive_release(exchange: Exchange, alice: Actor, expert: Actor) -> str:
    q = new(exchange.ask(alice, QOS)).question
    exchange.set_place(q.id, "test:thread:1")
    exchange.answer(expert, q.ref, BODY, ["https://example.org/rules"])
    exchange.mark_sensitive(expert, q.ref)
    exchange.publish(expert)
    return q.ref


def test_askers_get_a_pointer_and_no_thread_gets_anything(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    sensitive_release(exchange, alice, expert)

    owed = exchange.owed_deliveries("test:")
    assert [d.recipient for d in owed] == ["test:alice"]  # not the thread
    [delivery] = owed
    assert delivery.answer is not None
    assert delivery.answer.body.startswith(POINTER)
    assert delivery.answer.links == ()


def test_search_exports_and_reads_never_show_it(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    ref = sensitive_release(exchange, alice, expert)

    assert exchange.search("firewall rules") == []  # the body is not searched
    [hit] = exchange.search("quality of service")
    assert hit.answer is not None
    assert hit.answer.body.startswith(POINTER)
    assert BODY not in json.dumps([m.answer.body for m in exchange.mine(alice) if m.answer])
    _, shown = exchange.question(ref)
    assert shown is not None
    assert shown.body.startswith(POINTER)
    assert BODY not in to_json(exchange.knowledge_base())
    offered = exchange.ask(bob, QOS)
    assert BODY not in repr(offered)


def test_the_marking_is_audited_and_can_be_lifted(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    ref = sensitive_release(exchange, alice, expert)
    lifted = exchange.mark_sensitive(expert, ref, sensitive=False)
    assert not lifted.sensitive
    assert [h.answer.body for h in exchange.search("firewall rules") if h.answer] == [BODY]
    marks = [e.detail["marking"] for e in exchange.audit(STEERING) if e.action == "answer_marked"]
    assert marks == ["OFFICIAL-SENSITIVE", "OFFICIAL"]


@pytest.mark.parametrize(
    ("who", "ref", "error", "message"),
    [
        ("officer", "Q-1", NotAllowed, "Only the PSN expert can mark answers."),
        ("expert", "Q-2", NotFound, "Q-2 has no answer to mark yet."),
        ("expert", "Q-1", InvalidInput, "is already OFFICIAL-SENSITIVE"),
    ],
)
def test_bad_markings_are_refused_and_change_nothing(
    exchange: Exchange,
    alice: Actor,
    expert: Actor,
    who: str,
    ref: str,
    error: type,
    message: str,
) -> None:
    sensitive_release(exchange, alice, expert)
    new(exchange.ask(alice, "Who runs the PSN core network in the East Midlands?"))
    events = count(exchange, "events")
    with pytest.raises(error, match=message):
        exchange.mark_sensitive({"officer": alice, "expert": expert}[who], ref)
    assert count(exchange, "events") == events


def test_the_console_marks_and_lifts(exchange: Exchange) -> None:
    out = io.StringIO()
    lines = [
        "/as Alice @ Derbyshire County Council",
        f"/ask {QOS}",
        "/as Geoff @ Cabinet Office expert",
        f"/answer Q-1 {BODY}",
        "/sensitive",
        "/sensitive Q-1",
        "/publish",
        "/sensitive Q-1 off",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert "⚠ Use /sensitive Q-ID to mark an answer" in output
    assert "is marked OFFICIAL-SENSITIVE: its askers are sent a pointer" in output
    delivered = output.split("> /publish\n")[1]
    assert POINTER in delivered
    assert BODY not in delivered
    assert "The answer to Q-1 (version 1) is OFFICIAL again." in output


@async_test
async def test_discord_sends_the_pointer_by_dm_and_nothing_to_the_thread(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, QOS, channel=place.general, authority=DERBYSHIRE)
        refused = await fake.slash(alice, "sensitive", {"question": "Q-1"}, channel=place.general)
        refused_kindly(refused, "Only the PSN expert can mark answers.")
        thread = q1_thread(fake)
        posted_before = len(fake.sent_messages(thread))

        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        await fake.submit_modal(geoff, {ids["Answer"]: BODY, ids["Resource links"]: ""})
        marked = await fake.slash(geoff, "sensitive", {"question": "Q-1"}, channel=place.general)
        assert "is marked OFFICIAL-SENSITIVE" in reply_of(marked).text
        assert "Release 1 published" in await publish(fake, geoff, place.general)

        assert await deliver(fake) == 1
        [dm] = fake.dms(alice)
        assert POINTER in dm.text
        assert BODY not in dm.text
        assert len(fake.sent_messages(thread)) == posted_before
