"""The bot delivering answers and merge notices: DMs, closed DMs, failures and retries."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.delivery import DELIVERIES_PER_ROUND, Refusal, Undeliverable, refusal
from knowledge.addresses import Address
from knowledge.cli import main
from knowledge.exchange import Exchange
from knowledge.models import SEND_ATTEMPTS, Actor
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    REPO,
    Place,
    actor,
    answer_and_publish,
    backoff_passed,
    bot_of,
    deliver,
    delivery_rows,
    events,
    field_ids,
    q1_published,
    q1_thread,
    refused_kindly,
    reply_of,
    run,
    running,
    set_authority,
    two_different_questions,
)
from tests.fakediscord import FakeDiscord, async_test
from tests.fakediscord.ratelimits import OPEN_DM


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


@async_test
async def test_an_unmerge_in_discord_tells_the_askers_once_by_dm(place: Place) -> None:
    async with running(place) as fake:
        alice, bob, geoff = await two_different_questions(fake, place)
        await fake.slash(geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general)
        assert await deliver(fake) == 1

        bob_asks = await fake.slash(bob, "unmerge", {"question": "Q-2"}, channel=place.general)
        refused_kindly(bob_asks, "Only the PSN expert can unmerge questions.")
        undone = await fake.slash(geoff, "unmerge", {"question": "Q-2"}, channel=place.general)
        assert reply_of(undone).text.startswith("Unmerged Q-2: it waits in the queue again")
        again = await fake.slash(geoff, "unmerge", {"question": "Q-2"}, channel=place.general)
        refused_kindly(again, "Q-2 is open, not merged")

        assert await deliver(fake) == 1
        assert await deliver(fake) == 0
        merged, unmerged = fake.dms(bob)
        assert "was merged into Q-1" in merged.text
        assert "Your question Q-2 is its own question again" in unmerged.text
        assert "not the same as Q-1 after all" in unmerged.text
        assert fake.dms(alice) == []


def http_error(kind: type[discord.HTTPException], status: int, code: int) -> Exception:
    """A discord.py error as it raises one for Discord's JSON error body."""
    response: Any = SimpleNamespace(status=status, reason="Refused")
    return kind(response, {"code": code, "message": "Refused"})


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        (http_error(discord.Forbidden, 403, 50007), Refusal.DMS_CLOSED),
        (http_error(discord.Forbidden, 403, 40003), Refusal.DMS_TOO_FAST),
        (http_error(discord.Forbidden, 403, 50278), Refusal.UNREACHABLE),
        (http_error(discord.NotFound, 404, 10013), Refusal.UNREACHABLE),
        (http_error(discord.NotFound, 404, 10003), Refusal.UNREACHABLE),
        (http_error(discord.Forbidden, 403, 50001), Refusal.UNREACHABLE),
        (http_error(discord.Forbidden, 403, 0), Refusal.RETRY),  # no code: not known lasting
        (http_error(discord.NotFound, 404, 10008), Refusal.RETRY),
        (http_error(discord.HTTPException, 400, 50007), Refusal.RETRY),  # a 403 code
        (http_error(discord.HTTPException, 400, 50033), Refusal.UNREACHABLE),  # no such user
        (http_error(discord.DiscordServerError, 500, 0), Refusal.RETRY),
        (TimeoutError(), Refusal.RETRY),
        (Undeliverable("DMs closed, no thread"), Refusal.UNREACHABLE),
    ],
)
def test_a_refusal_is_classified_by_discords_error_code(error: Exception, meaning: Refusal) -> None:
    assert refusal(error) is meaning


def deliveries_listed(capsys: pytest.CaptureFixture[str], place: Place, *flags: str) -> str:
    """What `psn-exchange deliveries` prints for the bot's database."""
    capsys.readouterr()
    command = ["deliveries", "--db", str(place.settings.database.path), *flags]
    assert main([*command, "--config", str(REPO / "config.toml")]) == 0
    return capsys.readouterr().out


def dms_paused_no_more(fake: FakeDiscord) -> None:
    """As if the pause in opening DMs had run out."""
    bot_of(fake).worker.dms_paused_until = 0.0


@async_test
async def test_dms_opened_too_fast_pause_dms_and_never_mention_anyone_publicly(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        thread = q1_thread(fake)
        fake.fail(
            "POST",
            "/users/@me/channels",
            403,
            code=40003,
            message="You are opening direct messages too fast",
        )
        assert await deliver(fake) == 1  # the thread's copy; the first DM was refused
        [posted] = fake.sent_messages(thread)
        assert "Answered: Q-1" in posted.text
        assert posted.pings == set()  # no fallback: nobody is named in public
        assert fake.dms(alice) == fake.dms(bob) == []
        # Neither DM counts as a failed attempt: both just wait.
        officers = [r for r in delivery_rows(fake) if not r["recipient_is_place"]]
        assert [(r["status"], r["attempts"], r["last_error"]) for r in officers] == [
            ("owed", 0, None)
        ] * 2
        assert len(fake.requests_to("POST", "/users/@me/channels")) == 1  # Bob's was not tried

        fake.requests.clear()
        backoff_passed(fake)
        assert await deliver(fake) == 0  # still paused: no DM is opened
        assert fake.requests_to("POST", "/users/@me/channels") == []

        dms_paused_no_more(fake)
        assert await deliver(fake) == 2
        assert [len(fake.dms(u)) for u in (alice, bob)] == [1, 1]
        assert all(m.pings == set() for m in fake.messages)


@async_test
async def test_dms_are_opened_on_the_officers_id_without_fetching_them(place: Place) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        fake.requests.clear()
        assert await deliver(fake) == 3
        assert fake.requests_to("GET", "/users/*") == []
        opened = fake.requests_to("POST", "/users/@me/channels")
        assert sorted(int(c.json["recipient_id"]) for c in opened) == sorted([alice.id, bob.id])


@pytest.mark.parametrize(
    ("path", "status", "code", "message"),
    [
        ("/channels/*/messages", 403, 50278, "Cannot send messages to this user"),
        ("/users/@me/channels", 404, 10013, "Unknown User"),
    ],
)
@async_test
async def test_an_officer_discord_cannot_reach_is_given_up_on_at_once(
    place: Place,
    capsys: pytest.CaptureFixture[str],
    path: str,
    status: int,
    code: int,
    message: str,
) -> None:
    async with running(place) as fake:
        _, bob, geoff = await two_different_questions(fake, place)
        await fake.slash(geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general)
        public = len(fake.sent_messages())
        fake.fail("POST", path, status, code=code, message=message)
        assert await deliver(fake) == 0
        assert fake.dms(bob) == []
        assert len(fake.sent_messages()) == public  # no public fallback
        [row] = delivery_rows(fake)
        assert (row["status"], row["attempts"]) == ("owed", SEND_ATTEMPTS)
        assert str(code) in row["last_error"]
        listed = deliveries_listed(capsys, place)
        assert f"delivery {row['id']}: merged to Q-1 for discord:{bob.id}" in listed
        assert "(GAVE UP)" in listed
        assert f"error code: {code}" in listed

        fake.requests.clear()
        backoff_passed(fake)
        assert await deliver(fake) == 0  # not retried: each try would be an invalid request
        assert fake.requests == []

        assert deliveries_listed(capsys, place, "--retry").startswith("1 message given")
        assert await deliver(fake) == 1  # the cause fixed, the admin's retry sends it
        [notice] = fake.dms(bob)
        assert "Your question Q-2 was merged into Q-1" in notice.text


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [(404, 10003, "Unknown Channel"), (403, 50001, "Missing Access")],
)
@async_test
async def test_a_thread_discord_cannot_reach_is_given_up_on_at_once(
    place: Place, capsys: pytest.CaptureFixture[str], status: int, code: int, message: str
) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        thread = q1_thread(fake)
        fake.fail("POST", f"/channels/{thread}/messages", status, code=code, message=message)
        assert await deliver(fake) == 2  # both DMs
        assert [len(fake.dms(u)) for u in (alice, bob)] == [1, 1]
        [row] = [r for r in delivery_rows(fake) if r["recipient_is_place"]]
        assert (row["status"], row["attempts"]) == ("owed", SEND_ATTEMPTS)
        assert f"error code: {code}" in row["last_error"]
        listed = deliveries_listed(capsys, place)
        assert f"delivery {row['id']}: answer to Q-1 for discord:channel:{thread}" in listed
        assert "(GAVE UP)" in listed

        fake.requests.clear()
        backoff_passed(fake)
        assert await deliver(fake) == 0
        assert fake.requests_to("POST", f"/channels/{thread}/messages") == []

        assert deliveries_listed(capsys, place, "--retry").startswith("1 message given")
        assert await deliver(fake) == 1
        [answer] = fake.sent_messages(thread)
        assert "Answered: Q-1" in answer.text


def locked_warnings(caplog: pytest.LogCaptureFixture, thread: int) -> list[str]:
    """The warnings that name `thread` as locked; and no ERROR was logged by the bot."""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"thread {thread} is locked" in r.getMessage()
    ]


@async_test
async def test_an_answer_for_a_locked_thread_is_given_up_on_at_once_and_the_thread_named(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        thread = q1_thread(fake)
        fake.archive_thread(thread, locked=True)  # a moderator closed and locked it
        with caplog.at_level(logging.WARNING, logger="bot"):
            assert await deliver(fake) == 2  # both DMs
        assert [len(fake.dms(u)) for u in (alice, bob)] == [1, 1]
        assert fake.sent_messages(thread) == []
        [row] = [r for r in delivery_rows(fake) if r["recipient_is_place"]]
        assert (row["status"], row["attempts"]) == ("owed", SEND_ATTEMPTS)  # given up on
        assert f"thread {thread} is locked" in row["last_error"]
        [warning] = locked_warnings(caplog, thread)
        assert f"delivery {row['id']}" in warning

        fake.requests.clear()
        backoff_passed(fake)
        assert await deliver(fake) == 0
        assert fake.requests == []  # not retried: each try would be an invalid request


@async_test
async def test_closed_dms_whose_thread_is_locked_are_given_up_on_with_the_thread_named(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(place) as fake:
        alice, bob, _ = await q1_published(fake, place)
        fake.close_dms(bob)
        thread = q1_thread(fake)
        fake.lock_thread(thread)  # locked, still active
        with caplog.at_level(logging.WARNING, logger="bot"):
            assert await deliver(fake) == 1
        assert len(fake.dms(alice)) == 1
        assert fake.sent_messages(thread) == []
        rows = [r for r in delivery_rows(fake) if r["status"] == "owed"]
        assert len(rows) == 2  # the thread's answer and Bob's fallback
        assert all(r["attempts"] == SEND_ATTEMPTS for r in rows)
        assert len(locked_warnings(caplog, thread)) == 2


@async_test
async def test_closed_dms_for_a_question_with_no_thread_are_given_up_on_at_once(
    place: Place, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running(place) as fake:
        bob, geoff = fake.member("Bob"), fake.member("Geoff", roles=["PSN Expert"])
        carol = Actor(str(Address.console_user("carol")), "Carol")
        run(fake, Exchange.set_authority, carol, DERBYSHIRE)
        run(fake, Exchange.ask, carol, Q1_DERBYSHIRE)  # from the console: no thread
        await set_authority(fake, bob, NOTTINGHAM, place.general)
        await fake.slash(bob, "follow", {"question": "Q-1"}, channel=place.general)
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        fake.close_dms(bob)
        fake.requests.clear()
        assert await deliver(fake) == 0
        assert fake.dms(bob) == []
        [row] = [r for r in delivery_rows(fake) if r["recipient"] == f"discord:{bob.id}"]
        assert (row["status"], row["attempts"]) == ("owed", SEND_ATTEMPTS)
        assert "closed and the question has no thread" in row["last_error"]
        assert "(GAVE UP)" in deliveries_listed(capsys, place)

        fake.requests.clear()
        backoff_passed(fake)
        assert await deliver(fake) == 0  # not retried: each try is a 403 Discord counts
        assert fake.requests == []


@async_test
async def test_an_answer_for_an_archived_thread_reopens_it(place: Place) -> None:
    async with running(place) as fake:
        await q1_published(fake, place)
        thread = q1_thread(fake)
        fake.archive_thread(thread)  # it went quiet; nobody locked it
        assert await deliver(fake) == 3
        [answer] = fake.sent_messages(thread)
        assert "Answered: Q-1" in answer.text
        assert fake.world.channels[thread]["thread_metadata"]["archived"] is False


@async_test
async def test_a_dm_to_an_account_discord_no_longer_knows_is_given_up_on_at_once(
    place: Place,
) -> None:
    async with running(place) as fake:
        _, bob, geoff = await two_different_questions(fake, place)
        await fake.slash(geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general)
        del fake.world.users[bob.id]  # Bob deleted his Discord account
        assert await deliver(fake) == 0
        [row] = delivery_rows(fake)
        assert (row["status"], row["attempts"]) == ("owed", SEND_ATTEMPTS)
        assert "error code: 50033" in row["last_error"]
        fake.requests.clear()
        backoff_passed(fake)
        assert await deliver(fake) == 0
        assert fake.requests == []


@async_test
async def test_a_large_release_goes_out_at_once_in_full_batches_without_a_429(
    place: Place,
) -> None:
    fake = FakeDiscord(place.bot(), place.world)  # with its background worker running
    del fake.rate_limits.routes[OPEN_DM]  # only the global limit: the worker's own pace shows
    await fake.start()
    try:
        alice, _, geoff = await two_different_questions(fake, place)
        officers = [fake.member(f"Officer {n}") for n in range(DELIVERIES_PER_ROUND + 20)]
        for n, officer in enumerate(officers):
            run(fake, Exchange.set_authority, actor(officer), f"Authority {n}")
            run(fake, Exchange.follow, actor(officer), "Q-1")
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        published = fake.clock()
        await asyncio.sleep(bot_of(fake).worker.poll_seconds - 1)
        assert all(len(fake.dms(o)) == 1 for o in [alice, *officers])
        worker = [c for c in fake.requests if c.at >= published]
        # The second batch followed the first at once, not after the 30-second poll, and the
        # worker kept its own pace: no 429, and so never over Discord's 50 in any second.
        assert worker[-1].at - published < 10
        assert fake.rate_limits.rejected == 0
        assert max(len([c for c in worker if 0 <= c.at - w.at < 1]) for w in worker) <= 50
    finally:
        await fake.close()
