"""Peer replies (issue 14, items 1 and 2): an officer shares their authority's experience on a
question; everyone else waiting on it is sent it once, marked as a peer's, not the Cabinet
Office answer; officers can turn these notices off."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest

from knowledge.console import Console
from knowledge.errors import AuthorityNeeded, InvalidInput, NotAllowed, NotFound, RateLimited
from knowledge.exchange import Exchange
from knowledge.models import Actor
from tests.botkit import (
    DERBYSHIRE,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    Place,
    ask,
    deliver,
    field_ids,
    refused_kindly,
    reply_of,
    running,
    set_authority,
)
from tests.conftest import REPO, Clock, officer
from tests.fakediscord import async_test
from tests.stories import COCO, count, new

HAMPSHIRE = "Hampshire County Council"
EXPERIENCE = (
    "We carried our CoCo evidence across: the PSN assessors accepted our last GCSx "
    "submission as the starting point, so only the changes needed new evidence."
)
LINK = "https://www.gov.uk/guidance/public-services-network-psn-code-of-connection"


@pytest.fixture
def hampshire(exchange: Exchange) -> Actor:
    actor = officer("Hana")
    exchange.set_authority(actor, HAMPSHIRE)
    return actor


def test_a_peer_reply_reaches_everyone_else_waiting_once(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)

    reply = exchange.reply(hampshire, q.ref, EXPERIENCE, [LINK])

    assert (reply.ref, reply.authority, reply.links) == ("R-1", HAMPSHIRE, (LINK,))
    owed = [d for d in exchange.owed_deliveries("test:") if d.kind == "reply"]
    assert sorted(d.recipient for d in owed) == ["test:alice", "test:bob"]  # not Hana
    assert all(d.reply == reply for d in owed)
    _, listed = exchange.replies(q.ref)
    assert listed == [reply]
    [mine] = exchange.my_data(hampshire)["replies"]
    assert (mine["reply"], mine["question"]) == ("R-1", q.ref)


def test_a_follower_who_joins_later_gets_the_reply_once(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    exchange.follow(bob, q.ref)  # joins after the reply: sent it once, on joining
    assert [d.reply.ref for d in exchange.owed_deliveries("test:bob") if d.reply] == ["R-1"]
    for delivery in exchange.owed_deliveries("test:"):
        exchange.mark_sent(delivery.id)
    exchange.reply(hampshire, q.ref, "And the assessors wanted our network diagram updated.")

    owed = [d for d in exchange.owed_deliveries("test:") if d.kind == "reply"]
    assert sorted(d.recipient for d in owed) == ["test:alice", "test:bob"]
    assert {d.reply.ref for d in owed if d.reply} == {"R-2"}


def test_an_officer_can_turn_reply_notices_off_and_on(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)
    exchange.set_reply_notices(bob, False)
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    assert [d.recipient for d in exchange.owed_deliveries("test:") if d.kind == "reply"] == [
        "test:alice"
    ]
    exchange.set_reply_notices(bob, True)
    exchange.reply(hampshire, q.ref, "The assessors also asked for our patching policy.")
    assert "test:bob" in {d.recipient for d in exchange.owed_deliveries("test:")}


def test_authorities_are_left_out_where_configured(
    settings: object, clock: object, alice: Actor
) -> None:
    from knowledge.config import Settings

    assert isinstance(settings, Settings)
    quiet = settings.exchange.model_copy(update={"name_authorities_in_replies": False})
    exchange = Exchange.open(settings.model_copy(update={"exchange": quiet}), clock)  # type: ignore[arg-type]
    try:
        exchange.set_authority(alice, DERBYSHIRE)
        hana = officer("Hana")
        exchange.set_authority(hana, HAMPSHIRE)
        q = new(exchange.ask(alice, COCO)).question
        assert exchange.reply(hana, q.ref, EXPERIENCE).authority is None
    finally:
        exchange.close()


@pytest.mark.parametrize(
    ("text", "ref", "error", "message"),
    [
        ("", "Q-1", InvalidInput, "Your reply is empty"),
        ("OFFICIAL-SENSITIVE: our rules", "Q-1", InvalidInput, "This reply carries"),
        (EXPERIENCE, "Q-9", NotFound, "There is no question Q-9"),
    ],
)
def test_bad_replies_are_refused_and_nothing_is_kept(
    exchange: Exchange,
    alice: Actor,
    hampshire: Actor,
    text: str,
    ref: str,
    error: type,
    message: str,
) -> None:
    new(exchange.ask(alice, COCO))
    before = (count(exchange, "replies"), count(exchange, "outbox"), count(exchange, "events"))
    with pytest.raises(error, match=message):
        exchange.reply(hampshire, ref, text)
    after = (count(exchange, "replies"), count(exchange, "outbox"), count(exchange, "events"))
    assert after == before


def test_a_reply_needs_an_authority_and_keeps_to_the_hourly_limit(
    exchange: Exchange, alice: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    with pytest.raises(AuthorityNeeded):
        exchange.reply(officer("Nobody"), q.ref, EXPERIENCE)
    for n in range(exchange.settings.exchange.asks_per_hour):
        exchange.reply(hampshire, q.ref, f"{EXPERIENCE} (note {n})")
    with pytest.raises(RateLimited, match="replies in the last hour"):
        exchange.reply(hampshire, q.ref, EXPERIENCE)


def test_the_console_story_a_peer_answers_before_the_expert(exchange: Exchange) -> None:
    out = io.StringIO()
    lines = [
        "/as Helen Cartwright @ Derbyshire County Council",
        f"/ask {COCO}",
        "/as Hana @ Hampshire County Council",
        f"/reply Q-1 {EXPERIENCE} | {LINK}",
        "/replies Q-1",
        "/notify replies maybe",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert "Thank you — your reply is R-1 on Q-1" in output
    heading = "A peer's experience on Q-1 (R-1, from Hampshire County Council)"
    assert f"📬 to Helen Cartwright: {heading} — not the Cabinet Office answer" in output
    assert f"→ {LINK}" in output
    assert "⚠ Use /notify replies off, or /notify replies on." in output


@async_test
async def test_discord_reply_is_sent_by_dm_as_a_peers_experience(place: Place) -> None:
    async with running(place) as fake:
        alice, hana = fake.member("Alice"), fake.member("Hana")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        await set_authority(fake, hana, NOTTINGHAM, place.general)

        opened = await fake.slash(hana, "reply", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        assert opened.response.body["custom_id"] == "psnx:reply:1"
        ids = field_ids(opened.response)
        turn = await fake.submit_modal(
            hana, {ids["Your authority's experience"]: EXPERIENCE, ids["Links (optional)"]: LINK}
        )
        assert "your reply is R-1 on Q-1" in reply_of(turn).text
        assert await deliver(fake) == 1
        [dm] = fake.dms(alice)
        assert "A peer's experience on Q-1 (R-1, from Nottingham City Council)" in dm.text
        assert "not the Cabinet Office answer" in dm.text
        assert LINK in dm.text
        assert dm.custom_ids == ["psnx:helpful:1"]
        helped = await fake.click(alice, "psnx:helpful:1", message=dm)
        assert reply_of(helped).text.startswith("Noted: R-1 helped you.")

        listed = await fake.slash(alice, "replies", {"question": "Q-1"}, channel=place.general)
        assert "R-1" in reply_of(listed).text
        assert "1 found it helpful" in reply_of(listed).text

        # The question's public post carries "Share your experience": the same form.
        [posted] = [m for m in fake.sent_messages() if "psnx:share:1" in m.custom_ids]
        shared = await fake.click(hana, "psnx:share:1", message=posted)
        assert shared.response is not None
        ids = field_ids(shared.response)
        bad = await fake.submit_modal(
            hana, {ids["Your authority's experience"]: "OFFICIAL-SENSITIVE: x"}
        )
        refused_kindly(bad, "This reply carries the protective marking")


def test_helpful_marks_are_counted_once_per_officer(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)
    exchange.reply(hampshire, q.ref, EXPERIENCE)

    assert exchange.mark_reply(alice, "R-1").helpful == 1
    assert exchange.mark_reply(bob, "r1").helpful == 2
    with pytest.raises(InvalidInput, match="already marked R-1 helpful"):
        exchange.mark_reply(alice, "R-1")
    [listed] = exchange.replies(q.ref)[1]
    assert listed.helpful == 2


def test_solved_takes_the_askers_demand_out_of_the_queue_while_others_still_wait(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    assert exchange.queue(expert)[0].question.authorities == 2

    exchange.mark_reply(alice, "R-1", solved=True)
    [entry] = exchange.queue(expert)
    assert entry.question.authorities == 1  # Bob still waits

    exchange.mark_reply(bob, "R-1", solved=True)
    assert exchange.queue(expert) == []  # nobody waits on the expert for it any more
    assert exchange.queue_size(expert) == 0
    assert [m.question.id for m in exchange.mine(alice)] == [q.id]  # she still follows it
    [listed] = exchange.replies(q.ref)[1]
    assert listed.solved == 2


@pytest.mark.parametrize(
    ("who", "ref", "error", "message"),
    [
        ("author", "R-1", NotAllowed, "cannot mark your own reply"),
        ("stranger", "R-1", NotAllowed, "Only officers who asked or follow Q-1"),
        ("asker", "R-9", NotFound, "There is no reply R-9"),
        ("asker", "reply one", InvalidInput, "is not a reply id"),
    ],
)
def test_bad_marks_are_refused_and_change_nothing(
    exchange: Exchange,
    alice: Actor,
    carol: Actor,
    hampshire: Actor,
    who: str,
    ref: str,
    error: type,
    message: str,
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    events = count(exchange, "events")
    actor = {"author": hampshire, "stranger": carol, "asker": alice}[who]
    with pytest.raises(error, match=message):
        exchange.mark_reply(actor, ref, solved=True)
    assert count(exchange, "events") == events
    assert count(exchange, "reply_marks") == 0


def test_the_console_story_the_asker_marks_it_solved(exchange: Exchange) -> None:
    out = io.StringIO()
    lines = [
        "/as Helen Cartwright @ Derbyshire County Council",
        f"/ask {COCO}",
        "/as Hana @ Hampshire County Council",
        f"/reply Q-1 {EXPERIENCE}",
        "/as Helen Cartwright @ Derbyshire County Council",
        "/helpful",
        "/solved R-1",
        "/replies Q-1",
        "/as Geoff @ Cabinet Office expert",
        "/queue",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert "⚠ Use /helpful R-ID; /replies Q-ID lists the replies." in output
    assert "Noted: R-1 answered your question, so your ask no longer waits" in output
    assert "  (it answered 1 asker's question)" in output
    assert output.rstrip().endswith("The queue is empty: every question has an answer.")


def test_the_peer_support_example_tells_the_whole_story(exchange: Exchange) -> None:
    script = (REPO / "examples" / "peer-support.txt").read_text(encoding="utf-8")
    out = io.StringIO()
    lines = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()

    peer = "A peer's experience on Q-1 (R-1, from Hampshire County Council)"
    assert f"📬 to Helen Cartwright: {peer}" in output
    assert f"📬 to Paul Hextall: {peer}" in output
    assert "Noted: R-1 answered your question" in output
    assert "1 peer reply, 1 marked helpful: /replies Q-1" in output
    published = output.split("> /publish\n")[1]
    assert "Asked by: Derbyshire County Council, East Midlands Broadband Consortium" in published
    assert "First shared by Hampshire County Council." in published
    assert published.count("📬 to Helen Cartwright: answer to Q-1") == 1
    joined_late = output.split("Rutland County Council> /follow Q-1\n")[1]
    assert joined_late.count(f"📬 to Rita Patel: {peer}") == 1  # the reply, once


@pytest.mark.parametrize(
    ("who", "ref", "error", "message"),
    [
        ("officer", "R-1", NotAllowed, "Only the PSN expert can endorse replies."),
        ("expert", "R-7", NotFound, "There is no reply R-7."),
    ],
)
def test_bad_endorsements_are_refused_and_change_nothing(
    exchange: Exchange,
    alice: Actor,
    hampshire: Actor,
    expert: Actor,
    who: str,
    ref: str,
    error: type,
    message: str,
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    events = count(exchange, "events")
    with pytest.raises(error, match=message):
        exchange.endorse({"officer": alice, "expert": expert}[who], ref)
    assert count(exchange, "events") == events
    assert count(exchange, "answers") == 0


def test_an_endorsement_can_be_edited_and_keeps_the_links(
    exchange: Exchange, alice: Actor, hampshire: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE, [LINK])

    answer = exchange.endorse(expert, "R-1", "Yes: your last CoCo submission is the start.")

    assert answer.body == (
        "Yes: your last CoCo submission is the start.\n\nFirst shared by Hampshire County Council."
    )
    assert answer.links == (LINK,)
    [event] = [e for e in exchange.store.events.all("endorsed")]
    assert event["question_id"] == q.id


def test_the_digest_counts_peer_support_and_names_who_shared_most(
    exchange: Exchange, alice: Actor, hampshire: Actor, expert: Actor, clock: object
) -> None:
    from tests.conftest import STEERING

    start = exchange.clock()
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    exchange.reply(hampshire, q.ref, "The assessors also asked for our patching policy.")
    exchange.mark_reply(alice, "R-1", solved=True)
    exchange.endorse(expert, "R-1")

    digest = exchange.digest(STEERING, since=start - timedelta(minutes=1))
    text = exchange.digest_markdown(digest)

    assert (digest.peer_replies, digest.solved_by_peers, digest.endorsed) == (2, 1, 1)
    assert (
        "**Peer support:** 2 replies and 0 notes shared by officers, 1 question solved by a "
        "peer's reply, "
        "1 endorsed by the expert as the answer. Shared most: Hampshire County Council (2)."
    ) in text
    assert "Hana" not in text  # authorities, never officers


def test_search_finds_a_question_by_its_peer_replies(
    exchange: Exchange, alice: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    assert exchange.search("assessors") == []
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    assert [h.question.id for h in exchange.search("assessors")] == [q.id]


def test_questions_can_be_browsed_by_status_and_topic_and_invite_replies(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor, expert: Actor
) -> None:
    coco = new(exchange.ask(alice, COCO, topic="technical")).question
    exchange.follow(bob, coco.ref)
    qos = new(exchange.ask(alice, "How is quality of service handled in the PSN?")).question
    exchange.reply(hampshire, coco.ref, EXPERIENCE)
    exchange.answer(expert, qos.ref, "Six classes of service.")
    exchange.publish(expert)

    waiting, total = exchange.questions()
    assert total == 1
    assert [(i.question.id, i.replies) for i in waiting] == [(coco.id, 1)]
    assert [i.question.id for i in exchange.questions(which="answered")[0]] == [qos.id]
    assert exchange.questions(which="all")[1] == 2
    assert exchange.questions("Technical")[1] == 1
    assert exchange.questions("procurement")[1] == 0
    with pytest.raises(InvalidInput, match="choose open, answered or all"):
        exchange.questions(which="closed")
    with pytest.raises(InvalidInput, match="is not a topic here"):
        exchange.questions("weather")


def test_the_console_pages_through_questions(exchange: Exchange, clock: Clock) -> None:
    from knowledge.cli import OPERATOR
    from knowledge.importer import import_file

    clock.advance(days=30)  # the workshop's questions were asked on its afternoon
    import_file(exchange, OPERATOR, REPO / "examples" / "workshop-questions.jsonl")
    open_now = exchange.questions()[1]
    assert open_now > 20
    lines = ["/questions", "/questions page 2", "/questions page 0", "/questions all page 9"]
    out = io.StringIO()
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert f"{open_now} questions (open), page 1 of 2:" in output
    assert f"{open_now} questions (open), page 2 of 2:" in output
    assert "Q-7 [other, waiting] 1 authority — /reply Q-7 if your authority has" in output
    assert "⚠ Pages are numbered from 1" in output
    assert "There is no page 9." in output


@async_test
async def test_discord_lists_questions_a_page_at_a_time(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        turn = await fake.slash(alice, "questions", {"which": "open"}, channel=place.general)
        listed = reply_of(turn)
        assert "1 question (open)" in listed.text
        assert "/reply Q-1 if your authority has been through this" in listed.text


def test_a_hidden_reply_leaves_every_view_and_its_author_is_told(
    exchange: Exchange, alice: Actor, bob: Actor, hampshire: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)
    exchange.reply(hampshire, q.ref, EXPERIENCE)  # owed to Alice and Bob, not yet sent

    hidden = exchange.hide_reply(expert, "R-1", "It names a supplier's pricing.")

    assert hidden.ref == "R-1"
    assert exchange.replies(q.ref)[1] == []
    assert exchange.search("assessors") == []
    owed = exchange.owed_deliveries("test:")
    assert [(d.kind, d.recipient) for d in owed] == [("reply_hidden", "test:hana")]
    assert owed[0].reply is not None
    assert owed[0].reply.hidden_reason == "It names a supplier's pricing."
    with pytest.raises(NotFound, match="There is no reply R-1"):
        exchange.mark_reply(alice, "R-1")
    with pytest.raises(NotFound):
        exchange.endorse(expert, "R-1")
    [event] = exchange.store.events.all("reply_hidden")
    assert "supplier" in event["detail"]


@pytest.mark.parametrize(
    ("who", "reason", "error", "message"),
    [
        ("officer", "Off topic.", NotAllowed, "Only the PSN expert and exchange admins"),
        ("expert", "", InvalidInput, "Say why the reply is hidden"),
    ],
)
def test_bad_hides_are_refused_and_change_nothing(
    exchange: Exchange,
    alice: Actor,
    hampshire: Actor,
    expert: Actor,
    who: str,
    reason: str,
    error: type,
    message: str,
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    events = count(exchange, "events")
    with pytest.raises(error, match=message):
        exchange.hide_reply({"officer": alice, "expert": expert}[who], "R-1", reason)
    assert count(exchange, "events") == events
    assert len(exchange.replies(q.ref)[1]) == 1


def test_exports_carry_peer_experience_in_its_own_section_and_never_a_hidden_reply(
    exchange: Exchange, alice: Actor, hampshire: Actor, expert: Actor
) -> None:
    from knowledge.export import RENDERERS

    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, f"{EXPERIENCE} <script>alert(1)</script>", [LINK])
    exchange.reply(hampshire, q.ref, "A reply the expert will hide.")
    exchange.hide_reply(expert, "R-2", "Off the point.")
    exchange.answer(expert, q.ref, "Yes, it carries over.")
    exchange.publish(expert)
    base = exchange.knowledge_base()

    as_json = json.loads(RENDERERS["json"](base))
    assert [r["id"] for r in as_json[0]["peer_replies"]] == ["R-1"]
    assert as_json[0]["peer_replies"][0]["authority"] == HAMPSHIRE
    markdown = RENDERERS["md"](base)
    assert "### Peer experience (not the Cabinet Office answer)" in markdown
    assert "**R-1**, from Hampshire County Council:" in markdown
    page = RENDERERS["html"](base)
    assert "<h4>R-1, from Hampshire County Council</h4>" in page
    assert "<script>" not in page
    assert "R-1 (Hampshire County Council):" in RENDERERS["csv"](base)
    for rendered in (markdown, page, json.dumps(as_json)):
        assert "will hide" not in rendered


def test_my_data_lists_my_replies_and_marks(
    exchange: Exchange, alice: Actor, hampshire: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.reply(hampshire, q.ref, EXPERIENCE)
    exchange.mark_reply(alice, "R-1")
    assert [m["reply"] for m in exchange.my_data(alice)["reply_marks"]] == ["R-1"]
    assert [r["reply"] for r in exchange.my_data(hampshire)["replies"]] == ["R-1"]


@async_test
async def test_a_message_typed_in_a_questions_forum_post_is_a_peer_reply(place: Place) -> None:
    from tests.test_bot import newest_thread, post_replies

    async with running(place, place.with_forum()) as fake:
        alice, hana = fake.member("Alice"), fake.member("Hana")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        await set_authority(fake, hana, NOTTINGHAM, place.general)
        await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
        thread = newest_thread(place)

        await fake.message(alice, thread, "To add: we are a county council.")  # her own
        await fake.message(hana, thread, EXPERIENCE)

        [shared] = exchange_replies(fake)
        assert shared.text == EXPERIENCE
        assert "kept as R-1, a peer's experience" in post_replies(place, thread)[-1]
        assert await deliver(fake) == 1
        [dm] = fake.dms(alice)
        assert "A peer's experience on Q-1 (R-1, from Nottingham City Council)" in dm.text


def exchange_replies(fake: object) -> list[object]:
    from tests.botkit import run

    _, replies = run(fake, Exchange.replies, "Q-1")  # type: ignore[arg-type]
    return list(replies)


@async_test
async def test_the_peer_support_story_through_discord(place: Place) -> None:
    from tests.botkit import publish

    async with running(place) as fake:
        helen, hana = fake.member("Helen"), fake.member("Hana")
        rita = fake.member("Rita")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, helen, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        await set_authority(fake, hana, HAMPSHIRE, place.general)

        opened = await fake.slash(hana, "reply", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        await fake.submit_modal(
            hana, {ids["Your authority's experience"]: EXPERIENCE, ids["Links (optional)"]: LINK}
        )
        assert await deliver(fake) == 1
        [peer] = fake.dms(helen)
        assert "A peer's experience on Q-1 (R-1, from Hampshire County Council)" in peer.text

        solved = await fake.slash(helen, "solved", {"reply": "R-1"}, channel=place.general)
        assert "R-1 answered your question" in reply_of(solved).text
        endorsed = await fake.slash(geoff, "endorse", {"reply": "R-1"}, channel=place.general)
        assert "Endorsed: the answer to Q-1" in reply_of(endorsed).text
        assert "Release 1 published: 1 answer" in await publish(fake, geoff, place.general)
        await deliver(fake)
        answer = fake.dms(helen)[-1]
        assert "First shared by Hampshire County Council." in answer.text
        assert DERBYSHIRE in answer.text  # the asking authority is credited too

        await set_authority(fake, rita, "Rutland County Council", place.general)
        await fake.slash(rita, "follow", {"question": "Q-1"}, channel=place.general)
        await deliver(fake)
        later = [m for m in fake.dms(rita) if "A peer's experience on Q-1" in m.text]
        assert len(later) == 1  # the reply, once, to a follower who joined later
