"""The Discord bot (bot/) driven through the fake Discord, on a real SQLite file: the full
flow and the officers' and expert's everyday stories.

Each test builds the world (guild, channels) first, points the shipped config.toml at it
and at a fresh database, starts the real ExchangeBot and acts as officers and the expert
would: slash commands, modals, buttons, forum posts. Deliveries are sent by calling the
delivery worker's round directly (its background task is stopped), so every test is
deterministic; one test lets the background worker run to prove the wiring.
"""

from __future__ import annotations

import logging

import discord
import pytest

from knowledge.config import Settings
from knowledge.exchange import Exchange
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    LEICESTERSHIRE,
    LINK,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    Q1_NOTTINGHAM,
    WORKSHOP,
    Place,
    actions,
    actor,
    answer_and_publish,
    as_read,
    ask,
    bot_of,
    button,
    deliver,
    delivery_rows,
    events,
    field_ids,
    no_pings,
    no_pings_but,
    publish,
    queue_size,
    reply_of,
    run,
    running,
    set_authority,
    started,
    stop_worker,
    world_sent,
)
from tests.fakediscord import FakeDiscord, async_test
from tests.fakediscord.records import REQUIRE_TAG


@async_test
async def test_two_authorities_ask_the_same_thing_and_both_receive_the_answer_once(
    place: Place,
) -> None:
    fake = await started(place)
    try:
        alice = fake.member("Alice")  # Derbyshire
        bob = fake.member("Bob")  # Nottingham
        geoff = fake.member("Geoff", roles=["PSN Expert"])

        first = await ask(
            fake,
            alice,
            Q1_DERBYSHIRE,
            channel=place.general,
            authority=DERBYSHIRE,
            topic="technical",
        )
        shown = reply_of(first)
        assert shown.ephemeral
        assert "your question is Q-1" in shown.text
        [post] = fake.sent_messages(place.questions)
        assert post.content.startswith("**Q-1** · technical · asked by Derbyshire County Council")
        [_thread] = fake.requests_to("POST", f"/channels/{place.questions}/messages/*/threads")
        where = run(fake, lambda ex: ex.store.questions.place(1))
        assert where is not None
        assert where.startswith("discord:channel:")

        second = await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        offer = reply_of(second)
        assert offer.ephemeral
        assert "Already asked: Q-1" in offer.text
        assert "1 authority already waits on this question." in offer.text
        labels = [c["label"] for c in offer.components[0]["components"]]
        assert labels == ["Follow it", "Not the same — ask anyway"]

        follow_id = next(i for i in offer.custom_ids if ":follow:" in i)
        followed = await fake.click(bob, follow_id, message=offer)
        assert "You now follow Q-1: 2 authorities wait on it" in reply_of(followed).text
        assert queue_size(fake) == 1

        queue = await fake.slash(geoff, "queue", channel=place.general)
        page = reply_of(queue)
        assert page.ephemeral
        assert "2 authorities" in page.text
        assert DERBYSHIRE in page.text
        assert NOTTINGHAM in page.text
        assert "psnx:queue:answer:1" in page.custom_ids

        opened = await fake.click(geoff, "psnx:queue:answer:1", message=page)
        assert opened.response is not None
        assert opened.response.type == 9
        ids = field_ids(opened.response)
        saved = await fake.submit_modal(geoff, {ids["Answer"]: ANSWER, ids["Resource links"]: LINK})
        assert "Answer saved for Q-1 (version 1)" in reply_of(saved).text

        published = await publish(fake, geoff, place.general)
        assert "Release 1 published: 1 answer; 3 messages" in published

        assert await deliver(fake) == 3
        for officer in (alice, bob):
            [dm] = fake.dms(officer)
            assert "Answered: Q-1" in dm.text
            assert ANSWER in dm.text
            assert LINK in dm.text
        in_thread = [m for m in fake.sent_messages() if "Answered: Q-1" in m.text]
        assert len(in_thread) == 1
        assert where == f"discord:channel:{in_thread[0].channel_id}"
        assert in_thread[0].channel_id != place.questions  # the question's own thread

        assert await deliver(fake) == 0  # nothing owed twice
        no_pings(fake)

        sent_before = world_sent(place.world)
        fake = await fake.restart(place.bot())
        await stop_worker(fake)
        assert await deliver(fake) == 0
        assert world_sent(place.world) == sent_before
        assert run(fake, Exchange.owed_deliveries, "discord:", 100) == []
        assert actions(fake).count("published") == 1
    finally:
        await fake.close()


@async_test
async def test_other_possible_matches_get_their_own_follow_buttons(place: Place) -> None:
    async with running(place) as fake:
        alice, bob, carol = fake.member("Alice"), fake.member("Bob"), fake.member("Carol")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        cost = await ask(
            fake,
            carol,
            "How much will GCSx Code of Connection compliance cost under PSN?",
            channel=place.general,
            authority=LEICESTERSHIRE,
        )
        if "Already asked" in reply_of(cost).text:
            await fake.click(carol, button(reply_of(cost), "anyway"), message=reply_of(cost))

        turn = await ask(
            fake,
            bob,
            "Will our GCSx CoCo compliance carry over to PSN, and how much will it cost?",
            channel=place.general,
            authority=NOTTINGHAM,
        )
        offer = reply_of(turn)
        assert "Or is it one of these?" in offer.text
        [other] = [i for i in offer.custom_ids if ":follow:" in i][1:]
        other_ref = "Q-" + other.rsplit(":", 1)[1]
        assert f"Follow {other_ref}" in offer.text

        followed = await fake.click(bob, other, message=offer)

        assert f"You now follow {other_ref}" in reply_of(followed).text
        assert run(fake, Exchange.mine, actor(bob))[0].question.ref == other_ref


@async_test
async def test_an_answered_match_is_offered_and_accepting_it_adds_nothing_to_the_queue(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice, carol = fake.member("Alice"), fake.member("Carol")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        await deliver(fake)
        asked = actions(fake).count("asked")

        turn = await ask(
            fake, carol, Q1_NOTTINGHAM, channel=place.general, authority=LEICESTERSHIRE
        )
        offer = reply_of(turn)
        assert offer.ephemeral
        assert "Already answered: Q-1" in offer.text
        assert ANSWER in offer.text
        assert LINK in offer.text
        labels = [c["label"] for c in offer.components[0]["components"]]
        assert labels == ["That answers it", "Not the same — ask anyway"]

        accepted = await fake.click(carol, button(offer, "accept"), message=offer)
        assert "Glad Q-1 answered it. Nothing was added to the queue." in reply_of(accepted).text
        [accepted_event] = events(fake, "answered_from_store")
        assert accepted_event["question_id"] == 1
        assert actions(fake).count("asked") == asked
        assert queue_size(fake) == 0
        assert await deliver(fake) == 0  # nobody is owed anything for it


@async_test
async def test_ask_anyway_makes_a_new_question_and_nobody_else_can_choose_for_you(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice, bob, carol = fake.member("Alice"), fake.member("Bob"), fake.member("Carol")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        offer = reply_of(
            await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        )
        await set_authority(fake, carol, LEICESTERSHIRE, place.general)
        before = events(fake)

        for action in ("follow", "anyway"):
            refused = await fake.click(carol, button(offer, action), message=offer)
            shown = reply_of(refused)
            assert shown.ephemeral
            assert "There is no suggestion waiting for your choice" in shown.text
            assert "went wrong" not in shown.text
        assert events(fake) == before
        assert queue_size(fake) == 1

        anyway = await fake.click(bob, button(offer, "anyway"), message=offer)
        assert "your question is Q-2" in reply_of(anyway).text
        posts = fake.sent_messages(place.questions)
        assert [p.content.split(" · ")[0] for p in posts] == ["**Q-1**", "**Q-2**"]
        assert NOTTINGHAM in posts[1].content
        assert queue_size(fake) == 2
        assert events(fake, "suggestion_declined")[0]["question_id"] == 1

        again = await fake.click(bob, button(offer, "follow"), message=offer)
        assert "already chosen what to do with that question (asked anyway)" in as_read(
            reply_of(again).text
        )
        assert queue_size(fake) == 2


@async_test
async def test_buttons_made_before_a_restart_still_work_after_it(place: Place) -> None:
    fake = await started(place)
    try:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        for text in WORKSHOP:
            turn = await ask(fake, alice, text, channel=place.general)
            assert "your question is" in reply_of(turn).text, reply_of(turn).text
        offer = reply_of(
            await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        )
        page = reply_of(await fake.slash(geoff, "queue", channel=place.general))
        assert "Page 1 of 2" in page.text
        assert "psnx:queue:page:1" in page.custom_ids

        fake = await fake.restart(place.bot())
        await stop_worker(fake)

        followed = await fake.click(bob, button(offer, "follow"), message=offer)
        assert "You now follow Q-1" in reply_of(followed).text
        turned = await fake.click(geoff, "psnx:queue:page:1", message=page)
        assert turned.response is not None
        assert turned.response.type == 6  # deferred first: the queue is read after
        assert "Page 2 of 2" in page.text  # the same message, edited in place
        back = await fake.click(geoff, "psnx:queue:page:0", message=page)
        assert back.response is not None
        assert back.response.type == 6
        assert "Page 1 of 2" in page.text
        opened = await fake.click(geoff, "psnx:queue:answer:1", message=page)
        assert opened.response is not None
        assert opened.response.type == 9
        assert opened.response.body["title"] == "Answer Q-1"
        merge = await fake.click(geoff, "psnx:queue:merge:2", message=page)
        assert merge.response is not None
        assert merge.response.type == 9
        [target] = field_ids(merge.response).values()
        merged = await fake.submit_modal(geoff, {target: "Q-3"})
        assert "Merged Q-2 into Q-3" in reply_of(merged).text
    finally:
        await fake.close()


@async_test
async def test_a_forum_post_becomes_a_question_once_the_officer_gives_an_authority(
    place: Place,
) -> None:
    async with running(place, place.with_forum()) as fake:
        assert bot_of(fake).intents.message_content
        alice, bob = fake.member("Alice"), fake.member("Bob")
        post = await fake.forum_post(
            alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE, tags=["Technical"]
        )
        [prompt] = post.messages
        assert prompt.channel_id != place.forum  # in the post's own thread
        assert prompt.content.startswith(f"<@{alice.id}> Before your first question")
        assert prompt.pings == {f"user:{alice.id}"}
        assert actions(fake) == []
        [authority_button] = prompt.custom_ids
        assert authority_button == f"psnx:forum:authority:{prompt.channel_id}"

        # somebody else cannot answer for Alice
        await set_authority(fake, bob, NOTTINGHAM, place.general)
        opened = await fake.click(bob, authority_button, message=prompt)
        assert opened.response is not None
        assert opened.response.type == 9
        [name_field] = field_ids(opened.response).values()
        other = await fake.submit_modal(bob, {name_field: LEICESTERSHIRE})
        assert "Only the officer who wrote this post" in reply_of(other).text
        assert run(fake, Exchange.authority_of, actor(bob)) == NOTTINGHAM

        opened = await fake.click(alice, authority_button, message=prompt)
        assert opened.response is not None
        assert opened.response.type == 9
        [name_field] = field_ids(opened.response).values()
        submitted = await fake.submit_modal(alice, {name_field: DERBYSHIRE})
        assert f"Thank you — recorded as {DERBYSHIRE}." in reply_of(submitted).text
        [outcome] = [m for m in submitted.messages if m.via == "channel"]
        assert outcome.channel_id == prompt.channel_id
        assert "your question is Q-1" in outcome.text
        stored, _ = run(fake, Exchange.question, "Q-1")
        assert stored.topic == "technical"
        assert run(fake, lambda ex: ex.store.questions.place(1)) == (
            f"discord:channel:{prompt.channel_id}"
        )

        second = await fake.forum_post(bob, place.forum, "CoCo carry over?", Q1_NOTTINGHAM)
        [offer] = second.messages
        assert offer.channel_id not in (place.forum, prompt.channel_id)
        assert "Already asked: Q-1" in offer.text
        assert not offer.ephemeral
        followed = await fake.click(bob, button(offer, "follow"), message=offer)
        assert "You now follow Q-1: 2 authorities" in reply_of(followed).text
        no_pings_but(fake, {f"user:{alice.id}"})


@async_test
async def test_asking_anyway_from_a_forum_post_keeps_the_answer_in_that_post(
    place: Place,
) -> None:
    async with running(place, place.with_forum()) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        await set_authority(fake, bob, NOTTINGHAM, place.general)
        await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
        second = await fake.forum_post(bob, place.forum, "CoCo carry over?", Q1_NOTTINGHAM)
        [offer] = second.messages
        threads_before = len(fake.requests_to("POST", f"/channels/{place.forum}/threads"))

        anyway = await fake.click(bob, button(offer, "anyway"), message=offer)

        assert "Asked as a new question: **Q-2**" in anyway.text
        assert len(fake.requests_to("POST", f"/channels/{place.forum}/threads")) == (
            threads_before
        )  # no second post for Q-2
        assert run(fake, lambda ex: ex.store.questions.place(2)) == (
            f"discord:channel:{offer.channel_id}"
        )


@async_test
async def test_a_forum_post_locked_before_the_bot_can_reply_is_said_so_kindly(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        post = await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
        [prompt] = post.messages
        fake.lock_thread(prompt.channel_id)  # a moderator locks the post meanwhile
        opened = await fake.click(alice, prompt.custom_ids[0], message=prompt)
        assert opened.response is not None
        [name_field] = field_ids(opened.response).values()
        with caplog.at_level(logging.WARNING, logger="bot"):
            submitted = await fake.submit_modal(alice, {name_field: DERBYSHIRE})
        told = reply_of(submitted)
        assert told.ephemeral
        assert "locked by a moderator, so I cannot reply in it" in told.text
        assert [m for m in submitted.messages if m.via == "channel"] == []
        assert [r.levelno for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert [r.getMessage() for r in caplog.records if r.name == "bot.forum"] == [
            f"forum post {prompt.channel_id} is locked, so the bot cannot reply in it"
        ]
        assert run(fake, Exchange.authority_of, actor(alice)) == DERBYSHIRE


@async_test
async def test_asking_anyway_from_a_locked_forum_post_still_asks_and_says_where_the_answer_goes(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(place, place.with_forum()) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        await set_authority(fake, bob, NOTTINGHAM, place.general)
        await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
        second = await fake.forum_post(bob, place.forum, "CoCo carry over?", Q1_NOTTINGHAM)
        [offer] = second.messages
        fake.lock_thread(offer.channel_id)
        with caplog.at_level(logging.WARNING, logger="bot"):
            anyway = await fake.click(bob, button(offer, "anyway"), message=offer)
        told = reply_of(anyway)
        assert "the answer cannot be posted in it; it will reach you by direct message" in (
            told.text
        )
        assert "Q-2" in told.text
        assert [r.levelno for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert [r.getMessage() for r in caplog.records if r.name == "bot.suggestions"] == [
            f"forum post {offer.channel_id} is locked, so the bot cannot reply in it"
        ]
        assert queue_size(fake) == 2


def post_replies(place: Place, thread: int) -> list[str]:
    """What the bot has posted in a forum post's thread, across restarts."""
    return [
        m.text
        for m in place.world.messages.values()
        if m.via == "channel" and m.channel_id == thread
    ]


def newest_thread(place: Place) -> int:
    return max(cid for cid, c in place.world.channels.items() if c["type"] == 11)


@async_test
async def test_a_forum_post_whose_starter_comes_late_is_still_taken_and_answered_once(
    place: Place,
) -> None:
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        await fake.forum_post(
            alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE, starter_delay=0.3
        )
        [outcome] = post_replies(place, newest_thread(place))
        assert "your question is Q-1" in outcome
        assert len(events(fake, "asked")) == 1


@async_test
async def test_a_reply_posted_in_a_forum_post_too_early_is_retried_not_lost(place: Place) -> None:
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        fake.fail(
            "POST",
            "/channels/*/messages",
            400,
            code=40058,
            message="Cannot send messages in this thread until the first message is sent",
            times=2,
        )
        await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
        [outcome] = post_replies(place, newest_thread(place))
        assert "your question is Q-1" in outcome
        assert len(events(fake, "asked")) == 1


async def posted_while_down(place: Place, settings: Settings) -> tuple[FakeDiscord, int]:
    """Alice (her authority known) makes a forum post while the bot is down; its thread."""
    fake = await started(place, settings)
    alice = fake.member("Alice")
    await set_authority(fake, alice, DERBYSHIRE, place.general)
    await fake.close()
    await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
    return fake, newest_thread(place)


@async_test
async def test_a_forum_post_made_while_the_bot_was_down_is_taken_once_at_the_next_start(
    place: Place,
) -> None:
    settings = place.with_forum()
    _, thread = await posted_while_down(place, settings)
    assert post_replies(place, thread) == []

    async with running(place, settings) as again:
        [outcome] = post_replies(place, thread)
        assert "your question is Q-1" in outcome
        assert len(events(again, "asked")) == 1
    async with running(place, settings) as third:
        assert len(post_replies(place, thread)) == 1
        assert len(events(third, "asked")) == 1


@async_test
async def test_a_post_made_while_the_bot_was_down_and_archived_since_is_taken_once(
    place: Place,
) -> None:
    settings = place.with_forum()
    fake, thread = await posted_while_down(place, settings)
    fake.archive_thread(thread)  # it went quiet before the bot came back

    async with running(place, settings) as again:
        [outcome] = post_replies(place, thread)
        assert "your question is Q-1" in outcome
        assert not place.world.channels[thread]["thread_metadata"]["archived"]  # the reply
        [read] = again.requests_to("GET", f"/channels/{place.forum}/threads/archived/public")
        assert read.status == 200
    fake.archive_thread(thread)
    async with running(place, settings) as third:
        assert len(post_replies(place, thread)) == 1
        assert len(events(third, "asked")) == 1


@async_test
async def test_an_archived_post_from_before_the_bots_first_start_is_never_taken(
    place: Place,
) -> None:
    before = FakeDiscord(discord.Client(intents=discord.Intents.none()), place.world)
    alice = before.member("Alice")
    await before.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
    thread = newest_thread(place)
    before.archive_thread(thread)
    settings = place.with_forum()
    async with running(place, settings):
        pass
    before.archive_thread(thread)  # someone wrote in it and it went quiet again
    async with running(place, settings) as fake:
        assert post_replies(place, thread) == []
        assert events(fake, "asked") == []


@async_test
async def test_archived_posts_the_bot_may_not_read_are_taken_at_a_later_start(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    settings = place.with_forum()
    fake, thread = await posted_while_down(place, settings)
    fake.archive_thread(thread)

    archived = f"/channels/{place.forum}/threads/archived/public"
    fresh = FakeDiscord(place.bot(settings), place.world)
    fresh.fail("GET", archived, 403, code=50013, message="Missing Permissions")
    await fresh.start()
    try:
        assert post_replies(place, thread) == []
        assert any("could not read forum" in r.getMessage() for r in caplog.records)
    finally:
        await fresh.close()

    async with running(place, settings):  # the permission given back
        [outcome] = post_replies(place, thread)
        assert "your question is Q-1" in outcome


@async_test
async def test_with_a_forum_new_questions_from_ask_become_forum_posts(place: Place) -> None:
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        await ask(
            fake,
            alice,
            Q1_DERBYSHIRE,
            channel=place.general,
            authority=DERBYSHIRE,
            topic="procurement",
        )
        [created] = fake.requests_to("POST", f"/channels/{place.forum}/threads")
        assert created.json["applied_tags"] == [str(fake.tag_id(place.forum, "Procurement"))]
        assert created.json["message"]["content"].startswith("**Q-1**")
        assert len(events(fake, "asked")) == 1  # the bot's own post is not taken as an ask


@async_test
async def test_forum_posts_from_before_the_bots_first_start_are_not_taken(place: Place) -> None:
    before = FakeDiscord(discord.Client(intents=discord.Intents.none()), place.world)
    alice = before.member("Alice")
    await before.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
    thread = newest_thread(place)
    async with running(place, place.with_forum()) as fake:
        assert post_replies(place, thread) == []
        assert events(fake, "asked") == []


@async_test
async def test_in_a_forum_that_requires_a_tag_the_bots_own_posts_carry_one(place: Place) -> None:
    place.world.channels[place.forum]["flags"] = REQUIRE_TAG
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        [created] = fake.requests_to("POST", f"/channels/{place.forum}/threads")
        assert created.status == 200
        assert created.json["applied_tags"] == [str(fake.tag_id(place.forum, "Technical"))]
        assert run(fake, lambda ex: ex.store.questions.place(1)) is not None


@async_test
async def test_counts_of_authorities_read_as_english(place: Place) -> None:
    async with running(place) as fake:
        alice, dan = fake.member("Alice"), fake.member("Dan")  # both Derbyshire
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        offer = reply_of(
            await ask(fake, dan, Q1_NOTTINGHAM, channel=place.general, authority=DERBYSHIRE)
        )
        assert "1 authority already waits on this question." in offer.text
        followed = await fake.click(dan, button(offer, "follow"), message=offer)
        assert "You now follow Q-1: 1 authority waits on it." in reply_of(followed).text
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(
            fake,
            geoff,
            "Who pays for the PSN accreditation of our schools broadband?",
            channel=place.general,
            authority="Cabinet Office",
        )
        page = reply_of(await fake.slash(geoff, "queue", channel=place.general))
        opened = await fake.click(geoff, "psnx:queue:merge:2", message=page)
        assert opened.response is not None
        [target] = field_ids(opened.response).values()
        merged = await fake.submit_modal(geoff, {target: "Q-1"})
        assert (
            "Merged Q-2 into Q-1; 2 authorities wait on it now and the askers are told."
            in reply_of(merged).text
        )


@async_test
async def test_what_each_command_records(place: Place) -> None:
    """The audit trail each slash command leaves (the closing note of issue 3 lists it)."""
    async with running(place) as fake:
        alice, bob, carol = fake.member("Alice"), fake.member("Bob"), fake.member("Carol")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        seen = len(events(fake))

        def new_events() -> list[str]:
            nonlocal seen
            found = [e["action"] for e in events(fake)[seen:]]
            seen += len(found)
            return found

        await set_authority(fake, alice, DERBYSHIRE, place.general)
        assert new_events() == ["authority_set"]
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general)
        assert new_events() == ["asked"]
        offer = reply_of(
            await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        )
        assert new_events() == ["authority_set", "suggested"]
        await fake.click(bob, button(offer, "follow"), message=offer)
        assert new_events() == ["followed"]
        await fake.slash(carol, "authority", {"name": LEICESTERSHIRE}, channel=place.general)
        await fake.slash(carol, "follow", {"question": "Q-1"}, channel=place.general)
        assert new_events() == ["authority_set", "followed"]
        for command, options in (("search", {"text": "coco"}), ("mine", {})):
            await fake.slash(alice, command, options, channel=place.general)
        await fake.slash(geoff, "queue", channel=place.general)
        assert new_events() == []
        await fake.slash(carol, "withdraw", {"question": "Q-1"}, channel=place.general)
        assert new_events() == ["withdrawn"]
        await ask(
            fake,
            bob,
            "Who pays for the PSN accreditation of our schools broadband?",
            channel=place.general,
        )
        assert new_events() == ["asked"]
        await fake.slash(geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general)
        assert new_events() == ["merged"]
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        assert new_events() == ["answer_written", "published"]
        assert await deliver(fake) == 4  # merge notice to Bob, answers to Alice, Bob, thread
        assert new_events() == []
        rows = delivery_rows(fake)
        assert sorted((r["kind"], r["status"]) for r in rows) == [
            ("answer", "sent"),
            ("answer", "sent"),
            ("answer", "sent"),
            ("merged", "sent"),
        ]
        ada = fake.member("Ada", roles=["Exchange Admin"])
        await fake.slash(ada, "exchange-sync", channel=place.general)
        assert new_events() == []
        assert run(fake, Exchange.front_end_fact, "discord.commands_hash")
        mine = reply_of(await fake.slash(alice, "mine", channel=place.general))
        assert "Q-1 — answered" in mine.text
        assert ANSWER in mine.text
