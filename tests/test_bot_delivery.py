"""The bot delivering answers and merge notices: DMs, closed DMs, failures and retries."""

from __future__ import annotations

import asyncio

import pytest

from tests.botkit import (
    ANSWER,
    Place,
    backoff_passed,
    deliver,
    delivery_rows,
    events,
    field_ids,
    q1_published,
    q1_thread,
    refused_kindly,
    reply_of,
    running,
    two_different_questions,
)
from tests.fakediscord import FakeDiscord, async_test


@async_test
async def test_a_merged_question_is_answered_through_the_one_it_joined(place: Place) -> None:
    async with running(place) as fake:
        _, bob, geoff = await two_different_questions(fake, place)
        merged = await fake.slash(
            geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general
        )
        assert "Merged Q-2 into Q-1; the askers are told." in reply_of(merged).text
        assert await deliver(fake) == 1
        [notice] = fake.dms(bob)
        assert "Your question Q-2 was merged into Q-1" in notice.text

        # /answer on the merged question opens the form for the question it joined.
        opened = await fake.slash(geoff, "answer", {"question": "Q-2"}, channel=place.general)
        assert opened.response is not None
        assert opened.response.body["title"] == "Answer Q-1"
        ids = field_ids(opened.response)
        turn = await fake.submit_modal(geoff, {ids["Answer"]: ANSWER})
        assert "Answer saved for Q-1" in reply_of(turn).text
        again = await fake.slash(
            geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general
        )
        refused_kindly(again, "Q-2 is merged; only questions still waiting can be merged.")
        itself = await fake.slash(
            geoff, "merge", {"question": "Q-1", "into": "Q-1"}, channel=place.general
        )
        refused_kindly(itself, "A question cannot be merged into itself.")
        assert [e["question_id"] for e in events(fake, "answer_written")] == [1]


@async_test
async def test_closed_dms_fall_back_to_a_mention_of_only_that_officer(place: Place) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        fake.close_dms(bob)
        assert await deliver(fake) == 3
        thread = q1_thread(fake)
        assert len(fake.dms(alice)) == 1
        assert fake.dms(bob) == []
        posted, fallback = fake.sent_messages(thread)[-2:]
        # The thread got the answer first; the fallback points to it rather than repeat it.
        assert "Answered: Q-1" in posted.text
        assert fallback.content == (
            f"<@{bob.id}> your direct messages are closed: the answer to Q-1 is posted in "
            "this thread."
        )
        assert fallback.embeds == []
        assert fallback.pings == {f"user:{bob.id}"}
        assert fallback.allowed_mentions == {"parse": [], "users": [bob.id]}
        assert await deliver(fake) == 0


@async_test
async def test_closed_dms_get_the_whole_answer_if_the_thread_does_not_have_it(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        fake.close_dms(bob)
        thread = q1_thread(fake)
        fake.fail("POST", f"/channels/{thread}/messages", 403)  # the thread's copy fails
        assert await deliver(fake) == 2  # Alice's DM and Bob's fallback
        assert len(fake.dms(alice)) == 1
        [fallback] = [m for m in fake.sent_messages(thread) if m.content]
        assert fallback.content.startswith(f"<@{bob.id}> your direct messages are closed")
        assert "Answered: Q-1" in fallback.text


@pytest.mark.parametrize("status", [500, 403])
@async_test
async def test_a_failed_send_is_recorded_and_retried_later_exactly_once(
    place: Place, status: int
) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        thread = q1_thread(fake)
        # discord.py retries a 5xx itself (5 attempts); a 403 fails at once
        fake.fail("POST", f"/channels/{thread}/messages", status, times=5 if status >= 500 else 1)
        assert await deliver(fake) == 2  # both DMs; the thread's message failed
        [failed] = [r for r in delivery_rows(fake) if r["recipient_is_place"]]
        assert failed["status"] == "owed"
        assert failed["attempts"] == 1
        assert str(status) in failed["last_error"]
        assert fake.sent_messages(thread) == []

        assert await deliver(fake) == 0  # backing off: not retried at once
        assert failed["next_attempt_at"] > failed["created_at"]  # kept in the database
        backoff_passed(fake)
        assert await deliver(fake) == 1
        [answer] = fake.sent_messages(thread)
        assert "Answered: Q-1" in answer.text
        backoff_passed(fake)
        assert await deliver(fake) == 0
        assert len(fake.sent_messages(thread)) == 1
        assert [len(fake.dms(u)) for u in (alice, bob)] == [1, 1]
        assert all(r["status"] == "sent" for r in delivery_rows(fake))


@async_test
async def test_every_delivery_carries_a_nonce_from_its_id(place: Place) -> None:
    async with running(place) as fake:
        await q1_published(fake, place)
        fake.requests.clear()
        await deliver(fake)
        posts = fake.requests_to("POST", "/channels/*/messages")
        assert len(posts) == 3
        rows = {r["id"] for r in delivery_rows(fake)}
        assert {p.json["nonce"] for p in posts} == {f"psnx-{i}" for i in rows}
        assert all(p.json["enforce_nonce"] is True for p in posts)


@async_test
async def test_the_background_worker_delivers_after_publish(place: Place) -> None:
    fake = FakeDiscord(place.bot(), place.world)
    await fake.start()
    try:
        alice, bob, _ = await q1_published(fake, place)
        for _ in range(200):  # the worker was poked by /publish; give it a moment
            if len(fake.dms(alice)) and len(fake.dms(bob)) and fake.sent_messages(q1_thread(fake)):
                break
            await asyncio.sleep(0.01)
        assert [len(fake.dms(u)) for u in (alice, bob)] == [1, 1]
        assert len(fake.sent_messages(q1_thread(fake))) == 1
    finally:
        await fake.close()


@async_test
async def test_a_merge_notice_to_closed_dms_is_not_called_an_answer(place: Place) -> None:
    async with running(place) as fake:
        _, bob, geoff = await two_different_questions(fake, place)
        fake.close_dms(bob)
        await fake.slash(geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general)
        assert await deliver(fake) == 1
        [notice] = [m for m in fake.sent_messages() if m.content.startswith(f"<@{bob.id}>")]
        assert "Your question Q-2 was merged into Q-1" in notice.text
        assert "here is your answer" not in notice.content
        assert notice.pings == {f"user:{bob.id}"}
