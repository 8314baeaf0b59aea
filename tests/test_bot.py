"""The Discord bot (bot/) driven through the fake Discord, on a real SQLite file.

Each test builds the world (guild, channels) first, points the shipped config.toml at it
and at a fresh database, starts the real ExchangeBot and acts as officers and the expert
would: slash commands, modals, buttons, forum posts. Deliveries are sent by calling the
delivery worker's round directly (its background task is stopped), so every test is
deterministic; one test lets the background worker run to prove the wiring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import ExchangeBot, intents_for
from knowledge.config import Settings, load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor
from knowledge.runner import ExchangeThread
from tests.fakediscord import FakeDiscord, FakeUser, Reply, Turn, World, async_test

REPO = Path(__file__).resolve().parent.parent

Q1_DERBYSHIRE = (
    "Will our existing GCSx Code of Connection compliance carry over when we move to the "
    "Public Sector Network?"
)
Q1_NOTTINGHAM = "Can we carry our GCSx CoCo compliance over to PSN or must we start again?"
DERBYSHIRE, NOTTINGHAM = "Derbyshire County Council", "Nottingham City Council"
LEICESTERSHIRE = "Leicestershire County Council"
ANSWER = (
    "Yes, largely: the PSN CoCo builds on the GCSx CoCo. Re-submit with the PSN template "
    "and your latest IT health check."
)
LINK = "https://www.gov.uk/guidance/public-services-network-psn-code-of-connection"


# --------------------------------------------------------------------------- the world


@dataclass
class Place:
    """A world (guild, channels) and settings pointing at it and at a fresh database."""

    settings: Settings
    world: World
    general: int
    questions: int
    forum: int
    threads: list[ExchangeThread] = field(default_factory=list)

    def bot(self, settings: Settings | None = None) -> ExchangeBot:
        """A new bot process on the same database (its own exchange thread)."""
        chosen = settings or self.settings
        thread = ExchangeThread(lambda: Exchange.open(chosen))
        self.threads.append(thread)
        return ExchangeBot(chosen, thread)

    def with_forum(self) -> Settings:
        discord_settings = self.settings.discord.model_copy(
            update={"forum_channel_id": self.forum, "questions_channel_id": 0}
        )
        return self.settings.model_copy(update={"discord": discord_settings})


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Place]:
    world = World()
    # The channels exist before the bot starts, so their ids can go into the settings.
    builder = FakeDiscord(discord.Client(intents=discord.Intents.none()), world)
    general = builder.text_channel("general")
    questions = builder.text_channel("psn-questions")
    forum = builder.forum_channel("ask-psn", tags=["Technical", "Procurement", "Governance"])
    loaded = load_settings(REPO / "config.toml")
    settings = loaded.model_copy(
        update={
            "database": loaded.database.model_copy(update={"path": tmp_path / "exchange.db"}),
            "discord": loaded.discord.model_copy(
                update={"guild_ids": (world.guild_id,), "questions_channel_id": questions}
            ),
        }
    )
    made = Place(settings, world, general, questions, forum)
    yield made
    for thread in made.threads:
        thread.close()


async def started(place: Place, settings: Settings | None = None) -> FakeDiscord:
    """Start a bot on the place's world with its background delivery worker stopped."""
    fake = FakeDiscord(place.bot(settings), place.world)
    await fake.start()
    await stop_worker(fake)
    return fake


@contextlib.asynccontextmanager
async def running(place: Place, settings: Settings | None = None) -> AsyncIterator[FakeDiscord]:
    fake = await started(place, settings)
    try:
        yield fake
    finally:
        await fake.close()


async def stop_worker(fake: FakeDiscord) -> None:
    task = bot_of(fake).worker.task
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def bot_of(fake: FakeDiscord) -> ExchangeBot:
    assert isinstance(fake.bot, ExchangeBot)
    return fake.bot


def run(fake: FakeDiscord, method: Any, *args: Any) -> Any:
    """Call the bot's exchange directly (to look at what it recorded)."""
    return bot_of(fake).exchange.run_sync(method, *args)


def events(fake: FakeDiscord, action: str | None = None) -> list[dict[str, Any]]:
    return run(fake, lambda ex: ex.store.events(action))  # type: ignore[no-any-return]


def actions(fake: FakeDiscord) -> list[str]:
    return [e["action"] for e in events(fake)]


async def deliver(fake: FakeDiscord) -> int:
    """One round of the delivery worker, as its background task would run it."""
    return await bot_of(fake).worker.deliver_due()


def field_ids(modal: Reply) -> dict[str, str]:
    """A modal's field custom ids (discord.py makes them up) by their label."""
    assert modal.type == 9, modal
    return {c["label"]: c["component"]["custom_id"] for c in modal.components if c["type"] == 18}


async def ask(
    fake: FakeDiscord,
    user: FakeUser,
    text: str,
    *,
    channel: int,
    authority: str | None = None,
    topic: str | None = None,
) -> Turn:
    """/ask, then fill in and submit the form."""
    opened = await fake.slash(user, "ask", channel=channel)
    assert opened.response is not None
    ids = field_ids(opened.response)
    assert ("Your authority" in ids) == (authority is not None), ids
    values: dict[str, Any] = {ids["Your question"]: text}
    if authority is not None:
        values[ids["Your authority"]] = authority
    if topic is not None:
        values[ids["Topic"]] = [topic]
    return await fake.submit_modal(user, values)


def reply_of(turn: Turn) -> Any:
    """What the user saw in answer to one interaction: the followup, or the response."""
    if turn.followups:
        return turn.followups[-1]
    assert turn.response is not None
    return turn.response


def no_pings(fake: FakeDiscord) -> None:
    """Nothing the bot sent or replied could notify anyone."""
    for body in [*fake.messages, *fake.replies]:
        if isinstance(body, Reply) and body.type == 9:
            continue  # a modal is not a message
        assert body.pings == set(), (body.text, body.allowed_mentions)


def actor(user: FakeUser) -> Actor:
    """The exchange's actor for a Discord user (as bot.app.actor_for builds it)."""
    return Actor(f"discord:{user.id}", user.name)


def world_sent(world: World) -> list[int]:
    """Every message the bot has posted or DMed in this world, across restarts."""
    return [m.id for m in world.messages.values() if m.via in ("channel", "dm")]


def queue_size(fake: FakeDiscord) -> int:
    return len(run(fake, lambda ex: ex.store.queue()))


# --------------------------------------------------------------------------- the full flow


@async_test
async def test_starting_logs_no_voice_library_warnings(
    place: Place, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As on a fresh install without PyNaCl and davey (the bot never joins voice).
    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    caplog.set_level(logging.WARNING, logger="discord")

    async with running(place):
        pass

    assert not [r for r in caplog.records if "voice" in r.getMessage()]


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
        where = run(fake, lambda ex: ex.store.question_place(1))
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

        published = await fake.slash(geoff, "publish", channel=place.general)
        assert "Release 1 published: 1 answer; 3 messages" in reply_of(published).text

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


# --------------------------------------------------------------------------- small stories


async def set_authority(fake: FakeDiscord, user: FakeUser, name: str, channel: int) -> None:
    turn = await fake.slash(user, "authority", {"name": name}, channel=channel)
    assert f"you are recorded as working for {name}" in reply_of(turn).text


async def answer_and_publish(
    fake: FakeDiscord, expert: FakeUser, ref: str, channel: int, links: str = LINK
) -> None:
    opened = await fake.slash(expert, "answer", {"question": ref}, channel=channel)
    assert opened.response is not None
    ids = field_ids(opened.response)
    saved = await fake.submit_modal(expert, {ids["Answer"]: ANSWER, ids["Resource links"]: links})
    assert "Answer saved" in reply_of(saved).text
    published = await fake.slash(expert, "publish", channel=channel)
    assert "published" in reply_of(published).text


def button(body: Any, action: str) -> str:
    """The custom id of a suggestion button ('accept', 'follow', 'anyway') on a reply."""
    return str(next(i for i in body.custom_ids if f":{action}:" in i))


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
        assert "already chosen what to do with that question (asked anyway)" in (
            reply_of(again).text
        )
        assert queue_size(fake) == 2


# --------------------------------------------------------------------------- permissions


async def officer_and_question(fake: FakeDiscord, place: Place) -> tuple[FakeUser, FakeUser]:
    alice, bob = fake.member("Alice"), fake.member("Bob")
    await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
    await set_authority(fake, bob, NOTTINGHAM, place.general)
    return alice, bob


def refused_kindly(turn: Turn, *words: str) -> str:
    shown = reply_of(turn)
    assert shown.ephemeral
    assert all(r.type != 9 for r in turn.replies), "a modal opened"
    assert "went wrong" not in shown.text
    assert "Traceback" not in shown.text
    for word in words:
        assert word in shown.text, shown.text
    return str(shown.text)


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        ("queue", {}, "Only the PSN expert and the steering group can see the queue."),
        ("publish", {}, "Only the PSN expert can publish a release."),
        ("merge", {"question": "Q-1", "into": "Q-2"}, "Only the PSN expert can merge questions."),
        ("answer", {"question": "Q-1"}, "Only the PSN expert can answer questions."),
    ],
)
@async_test
async def test_an_officer_is_refused_the_experts_commands(
    place: Place, command: str, options: dict[str, str], expected: str
) -> None:
    async with running(place) as fake:
        _, bob = await officer_and_question(fake, place)
        before = events(fake)
        turn = await fake.slash(bob, command, options, channel=place.general)
        refused_kindly(turn, expected, "PSN expert")
        assert events(fake) == before
        assert queue_size(fake) == 1


@async_test
async def test_an_officer_clicking_an_answer_button_is_refused_before_any_form_opens(
    place: Place,
) -> None:
    async with running(place) as fake:
        _, bob = await officer_and_question(fake, place)
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        page = reply_of(await fake.slash(geoff, "queue", channel=place.general))
        for custom_id, verb in (("psnx:queue:answer:1", "answer"), ("psnx:queue:merge:1", "merge")):
            turn = await fake.click(bob, custom_id, message=page)
            refused_kindly(turn, f"Only the PSN expert can {verb} questions.")
        assert [r.type for r in fake.replies if r.user_id == bob.id].count(9) == 0


@async_test
async def test_an_officer_cannot_withdraw_someone_elses_question(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = await officer_and_question(fake, place)
        before = events(fake)
        turn = await fake.slash(bob, "withdraw", {"question": "Q-1"}, channel=place.general)
        refused_kindly(turn, "You can only withdraw your own questions.")
        assert events(fake) == before
        assert queue_size(fake) == 1
        # ... and the autocomplete offers Bob none of Alice's questions
        offered = await fake.autocomplete(bob, "withdraw", "question", "", channel=place.general)
        assert offered == []
        mine = await fake.autocomplete(alice, "withdraw", "question", "", channel=place.general)
        assert [c["value"] for c in mine] == ["Q-1"]
        withdrawn = await fake.slash(alice, "withdraw", {"question": "Q-1"}, channel=place.general)
        assert "You withdrew from Q-1 (withdrawn)." in reply_of(withdrawn).text
        assert queue_size(fake) == 0


@async_test
async def test_only_an_admin_can_resync_the_commands(place: Place) -> None:
    async with running(place) as fake:
        # First start, empty db: the server's commands, then an empty global list.
        assert len(fake.requests_to("PUT", "/applications/*")) == 2
        fake.requests.clear()
        bob = fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        for user in (bob, geoff):
            turn = await fake.slash(user, "exchange-sync", channel=place.general)
            refused_kindly(turn, "Only an exchange admin can re-sync the commands.")
        assert fake.requests_to("PUT", "/applications/*") == []

        admin = fake.member("Ada", roles=["Exchange Admin"])
        turn = await fake.slash(admin, "exchange-sync", channel=place.general)
        assert "Slash commands re-synced with Discord." in reply_of(turn).text
        put, _ = fake.requests_to("PUT", "/applications/*")
        assert (
            put.path == f"/applications/{place.world.app_id}/guilds/{place.world.guild_id}/commands"
        )


@async_test
async def test_expert_commands_in_a_direct_message_are_refused(place: Place) -> None:
    # Discord hides guild-only commands in DMs; should one arrive anyway, the expert's role
    # cannot be seen there, so the exchange refuses it like any officer's.
    async with running(place) as fake:
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        for command in ("publish", "queue"):
            turn = await fake.slash(geoff, command)  # no channel: a DM
            refused_kindly(turn, "Only the PSN expert")
        assert actions(fake) == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("   \n\t  ", "Your question is empty."),
        # knowledge/text.py needs a two-letter word, so one letter reads as "no words"
        ("a", "very short"),
        ("PSN?", "Your question is very short (4 characters)."),
        ("🙂🎉🔥🙂🎉🔥🙂🎉🔥🙂🎉🔥", "no words we can read"),
        ("\u200b\u200c\u200d\u2060\ufeff\u200b\u200b\u200b\u200b\u200b", "Your question is empty."),
    ],
    ids=["whitespace", "one-char", "short", "emoji", "zero-width"],
)
@async_test
async def test_a_question_that_cannot_be_used_is_refused_and_given_back(
    place: Place, typed: str, expected: str
) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        before = events(fake)
        turn = await ask(fake, alice, typed, channel=place.general)
        text = refused_kindly(turn, expected)
        if typed.strip():  # nothing worth giving back in a blank question
            assert "What you typed:" in text
            assert typed in text
        assert events(fake) == before
        assert fake.sent_messages(place.questions) == []


@async_test
async def test_the_discord_client_itself_refuses_an_empty_question(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        opened = await fake.slash(alice, "ask", channel=place.general)
        assert opened.response is not None
        with pytest.raises(ValueError, match="required"):
            await fake.submit_modal(alice, {field_ids(opened.response)["Your question"]: ""})


@pytest.mark.parametrize("typed", ['"', "*", "NEAR(", "AND", "-", 'psn" OR "', "gcsx*"])
@async_test
async def test_search_takes_fts_syntax_as_plain_words(place: Place, typed: str) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        turn = await fake.slash(alice, "search", {"text": typed}, channel=place.general)
        shown = reply_of(turn)
        assert shown.ephemeral
        assert "went wrong" not in shown.text
        assert ("Search:" in shown.text) or ("type a word or two" in shown.text), shown.text
        choices = await fake.autocomplete(alice, "search", "text", typed, channel=place.general)
        assert isinstance(choices, list)
        await fake.autocomplete(alice, "follow", "question", typed, channel=place.general)


@async_test
async def test_search_finds_by_acronym_and_by_id(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        for typed in ("coco", "Q-1"):
            turn = await fake.slash(alice, "search", {"text": typed}, channel=place.general)
            assert "Q-1 · other" in reply_of(turn).text
        choices = await fake.autocomplete(
            alice, "follow", "question", "gcsx", channel=place.general
        )
        assert [c["value"] for c in choices] == ["Q-1"]
        missing = await fake.slash(alice, "search", {"text": "Q-99"}, channel=place.general)
        refused_kindly(missing, "There is no question Q-99.")


@async_test
async def test_mentions_in_a_question_are_stored_as_text_and_ping_nobody(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        role = fake.role_id("PSN Expert")
        typed = (
            f"@everyone @here <@&{role}> <@{bob.id}> does the PSN CoCo apply to our "
            "schools network as well as the corporate network?"
        )
        turn = await ask(fake, alice, typed, channel=place.general, authority=DERBYSHIRE)
        assert "your question is Q-1" in reply_of(turn).text
        stored, _ = run(fake, Exchange.question, "Q-1")
        assert stored.text == typed  # kept exactly as written
        await fake.slash(geoff, "queue", channel=place.general)
        await fake.slash(alice, "mine", channel=place.general)
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        assert await deliver(fake) == 2
        sent = [m for m in fake.messages if m.content or m.embeds]
        assert sent
        for message in sent:
            assert message.allowed_mentions == {"parse": []}, message.text
        for reply in fake.replies:
            if reply.type in (4, 5, 7):
                assert reply.allowed_mentions in (None, {"parse": []})
        no_pings(fake)
        [post] = fake.sent_messages(place.questions)
        assert "@everyone" not in post.content.replace("@\u200beveryone", "")


@async_test
async def test_markdown_in_a_question_is_shown_as_text(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        typed = "**URGENT** read [the CoCo](https://evil.example) and __reply__ about GCSx `now`"
        turn = await ask(fake, alice, typed, channel=place.general, authority=DERBYSHIRE)
        embed = reply_of(turn).embeds[0]
        assert "\\*\\*URGENT\\*\\*" in embed["description"]
        assert "\\[the CoCo\\]" in embed["description"] or "\\[the CoCo]" in embed["description"]
        assert "**URGENT**" not in embed["description"]
        [post] = fake.sent_messages(place.questions)
        assert "\\*\\*URGENT\\*\\*" in post.content
        assert "\\_\\_reply\\_\\_" in post.content


@async_test
async def test_follow_refuses_unknown_and_malformed_ids(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        bob = fake.member("Bob")
        await set_authority(fake, bob, NOTTINGHAM, place.general)
        before = events(fake)
        for typed, expected in (
            ("Q-999", "There is no question Q-999."),
            ("banana", "is not a question id. Question ids look like Q-42."),
            ("Q-0", "is not a question id"),
        ):
            turn = await fake.slash(bob, "follow", {"question": typed}, channel=place.general)
            refused_kindly(turn, expected)
        again = await fake.slash(alice, "follow", {"question": "Q-1"}, channel=place.general)
        refused_kindly(again, "You already follow Q-1.")
        assert events(fake) == before
        ok = await fake.slash(bob, "follow", {"question": "q1"}, channel=place.general)
        assert "You now follow Q-1: 2 authorities" in reply_of(ok).text


@pytest.mark.parametrize(
    "links",
    ["ftp://files.example/coco.pdf", "www.gov.uk/psn", "javascript:alert(1)", "not a link"],
)
@async_test
async def test_bad_links_in_the_answer_form_are_refused(place: Place, links: str) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        turn = await fake.submit_modal(geoff, {ids["Answer"]: ANSWER, ids["Resource links"]: links})
        refused_kindly(turn, "is not a web link")
        assert events(fake, "answer_written") == []
        nothing = await fake.slash(geoff, "publish", channel=place.general)
        refused_kindly(nothing, "There is nothing to publish")


async def two_different_questions(
    fake: FakeDiscord, place: Place
) -> tuple[FakeUser, FakeUser, FakeUser]:
    """Alice asks Q-1 (Derbyshire), Bob asks Q-2 (Nottingham); and the expert, Geoff."""
    alice, bob = fake.member("Alice"), fake.member("Bob")
    geoff = fake.member("Geoff", roles=["PSN Expert"])
    await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
    await ask(
        fake,
        bob,
        "Who pays for the PSN accreditation of our schools broadband?",
        channel=place.general,
        authority=NOTTINGHAM,
    )
    return alice, bob, geoff


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


# --------------------------------------------------------------------------- restarts

WORKSHOP = [
    "Who pays for the PSN accreditation of our schools broadband connections?",
    "Can a district council buy PSN services through the ESPO framework?",
    "Does the steering group need a named senior information risk owner for PSN?",
    "What quality of service classes will carry our VoIP telephony traffic?",
    "How long does the DNSP procurement take for a consortium like EMBC?",
    "Are police forces expected to join the same regional network as councils?",
]


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
        assert turned.response.type == 7
        assert "Page 2 of 2" in page.text  # the same message, edited in place
        back = await fake.click(geoff, "psnx:queue:page:0", message=page)
        assert back.response is not None
        assert back.response.type == 7
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


# --------------------------------------------------------------------------- delivery


async def q1_published(fake: FakeDiscord, place: Place) -> tuple[FakeUser, FakeUser, FakeUser]:
    """Alice asks, Bob follows, Geoff answers and publishes; nothing delivered yet."""
    alice, bob = fake.member("Alice"), fake.member("Bob")
    geoff = fake.member("Geoff", roles=["PSN Expert"])
    await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
    await set_authority(fake, bob, NOTTINGHAM, place.general)
    await fake.slash(bob, "follow", {"question": "Q-1"}, channel=place.general)
    await answer_and_publish(fake, geoff, "Q-1", place.general)
    return alice, bob, geoff


def q1_thread(fake: FakeDiscord) -> int:
    where = run(fake, lambda ex: ex.store.question_place(1))
    return int(where.removeprefix("discord:channel:"))


def delivery_rows(fake: FakeDiscord) -> list[dict[str, Any]]:
    return run(  # type: ignore[no-any-return]
        fake,
        lambda ex: [ex.store.delivery_row(i) for i in range(1, 20) if ex.store.delivery_row(i)],
    )


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

        worker = bot_of(fake).worker
        assert await deliver(fake) == 0  # backing off: not retried at once
        assert failed["id"] in worker.not_before
        worker.not_before.clear()  # the backoff has passed
        assert await deliver(fake) == 1
        [answer] = fake.sent_messages(thread)
        assert "Answered: Q-1" in answer.text
        worker.not_before.clear()
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


# --------------------------------------------------------------------------- the forum


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
        assert run(fake, lambda ex: ex.store.question_place(1)) == (
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
        assert run(fake, lambda ex: ex.store.question_place(2)) == (
            f"discord:channel:{offer.channel_id}"
        )


def no_pings_but(fake: FakeDiscord, allowed: set[str]) -> None:
    for body in [*fake.messages, *fake.replies]:
        assert body.pings <= allowed, body.text


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


# --------------------------------------------------------------------------- unexpected errors


@async_test
async def test_an_unexpected_error_is_logged_with_ids_and_answered_generically(
    place: Place, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Exchange, *args: object) -> None:
        raise RuntimeError("disk on fire at /var/lib/secret")

    caplog.set_level(logging.ERROR, logger="bot.app")
    # The fake's guard watches discord.* and asyncio; bot.app logging this ERROR is expected.
    async with running(place) as fake:
        alice = fake.member("Alice")
        monkeypatch.setattr(Exchange, "mine", broken)
        turn = await fake.slash(alice, "mine", channel=place.general)
        shown = reply_of(turn)
        assert shown.ephemeral
        assert shown.text == (
            "Sorry — something went wrong on our side and nothing was changed. Please try "
            "again in a minute; if it keeps happening, tell an exchange admin "
            f"(reference {turn.interaction_id})."
        )
        assert "Traceback" not in shown.text
        assert "disk on fire" not in shown.text

        # the same from a button, after the response was already deferred
        monkeypatch.setattr(Exchange, "follow", broken)
        bob = fake.member("Bob")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        offer = reply_of(
            await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        )
        clicked = await fake.click(bob, button(offer, "follow"), message=offer)
        assert f"(reference {clicked.interaction_id})" in reply_of(clicked).text

    logged = [r for r in caplog.records if r.name == "bot.app" and r.levelno == logging.ERROR]
    assert [r.getMessage() for r in logged] == [
        f"unexpected error in interaction {turn.interaction_id} (user {alice.id})",
        f"unexpected error in interaction {clicked.interaction_id} (user {bob.id})",
    ]
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in logged)


# --------------------------------------------------------------------------- running it


def test_run_without_a_token_stops_at_once_with_help(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env["PSNX_DATABASE__PATH"] = str(tmp_path / "exchange.db")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "psn-exchange"), "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "DISCORD_TOKEN is not set" in done.stderr
    assert "https://discord.com/developers/applications" in done.stderr
    assert "psn-exchange console" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "exchange.db").exists()


def test_intents_ask_for_message_content_only_with_a_forum(place: Place) -> None:
    without = intents_for(place.settings)
    assert without.guilds
    assert not without.message_content
    assert not without.members
    assert not without.presences
    with_forum = intents_for(place.with_forum())
    assert with_forum.message_content
    assert with_forum.guild_messages
    assert not with_forum.members


@async_test
async def test_commands_are_synced_on_first_start_and_only_when_they_change(
    place: Place,
) -> None:
    fake = await started(place)
    try:
        first, clear = fake.requests_to("PUT", "/applications/*")
        assert first.path.endswith(f"/guilds/{place.world.guild_id}/commands")
        assert clear.path.endswith(f"/applications/{place.world.app_id}/commands")
        assert clear.json == []
        assert {c["name"] for c in first.json} == {
            "ask",
            "authority",
            "follow",
            "search",
            "mine",
            "withdraw",
            "queue",
            "answer",
            "merge",
            "publish",
            "exchange-sync",
            "digest",
            "mydata",
            "forget-me",
        }
        fake = await fake.restart(place.bot())
        await stop_worker(fake)
        assert fake.requests_to("PUT", "/applications/*") == []  # same definitions
        ada = fake.member("Ada", roles=["Exchange Admin"])
        await fake.slash(ada, "exchange-sync", channel=place.general)
        assert len(fake.requests_to("PUT", "/applications/*")) == 2  # the server, then global
    finally:
        await fake.close()


@async_test
async def test_moving_to_guild_commands_clears_the_global_ones(place: Place) -> None:
    # An earlier run with no guild_ids registered the commands globally.
    everywhere = place.settings.model_copy(
        update={"discord": place.settings.discord.model_copy(update={"guild_ids": ()})}
    )
    async with running(place, everywhere):
        pass
    assert "ask" in place.world.commands[None]

    fake = await started(place)  # now with guild_ids: a changed fingerprint, so a sync
    try:
        assert place.world.commands[None] == {}
        assert "ask" in place.world.commands[place.world.guild_id]
        # The commands still work, and a forced re-sync keeps them in the server.
        ada = fake.member("Ada", roles=["Exchange Admin"])
        turn = await fake.slash(ada, "exchange-sync", channel=place.general)
        assert "Slash commands re-synced with Discord." in reply_of(turn).text
        assert "ask" in place.world.commands[place.world.guild_id]
        assert place.world.commands[None] == {}
    finally:
        await fake.close()


@async_test
async def test_moving_back_to_global_commands_clears_the_servers_copy(place: Place) -> None:
    async with running(place):
        pass
    assert "ask" in place.world.commands[place.world.guild_id]
    everywhere = place.settings.model_copy(
        update={"discord": place.settings.discord.model_copy(update={"guild_ids": ()})}
    )

    async with running(place, everywhere):
        pass

    assert place.world.commands[place.world.guild_id] == {}
    assert "ask" in place.world.commands[None]


@async_test
async def test_a_server_the_bot_left_does_not_stop_the_sync(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(place):
        pass
    everywhere = place.settings.model_copy(
        update={"discord": place.settings.discord.model_copy(update={"guild_ids": ()})}
    )
    fake = FakeDiscord(place.bot(everywhere), place.world)
    fake.fail("PUT", f"/applications/*/guilds/{place.world.guild_id}/commands", 403)
    await fake.start()
    try:
        await stop_worker(fake)
        assert "ask" in place.world.commands[None]
        assert f"could not clear the commands of server {place.world.guild_id}" in caplog.text
    finally:
        await fake.close()


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


@async_test
async def test_authority_autocompletes_from_the_configured_list_and_refuses_nonsense(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        offered = await fake.autocomplete(
            alice, "authority", "name", "derby", channel=place.general
        )
        assert [c["value"] for c in offered] == ["Derby City Council", DERBYSHIRE]
        for typed in ("🙂🙂", "x" * 121):
            turn = await fake.slash(alice, "authority", {"name": typed}, channel=place.general)
            refused_kindly(turn, "Please give your authority's name in words")
        assert actions(fake) == []
        turn = await fake.slash(
            alice, "authority", {"name": "derbyshire  county council"}, channel=place.general
        )
        assert f"you are recorded as working for {DERBYSHIRE}." in reply_of(turn).text
        assert run(fake, Exchange.authority_of, actor(alice)) == DERBYSHIRE
