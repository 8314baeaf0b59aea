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
        if body.type == 9 if isinstance(body, Reply) else False:
            continue
        assert body.pings == set(), (body.text, body.allowed_mentions)


def world_sent(world: World) -> list[int]:
    """Every message the bot has posted or DMed in this world, across restarts."""
    return [m.id for m in world.messages.values() if m.via in ("channel", "dm")]


def queue_size(fake: FakeDiscord) -> int:
    return len(run(fake, lambda ex: ex.store.queue()))


# --------------------------------------------------------------------------- the full flow


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
            fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE,
            topic="technical",
        )
        shown = reply_of(first)
        assert shown.ephemeral
        assert "your question is Q-1" in shown.text
        [post] = fake.sent_messages(place.questions)
        assert post.content.startswith("**Q-1** · technical · asked by Derbyshire County Council")
        [thread] = fake.requests_to("POST", f"/channels/{place.questions}/messages/*/threads")
        where = run(fake, lambda ex: ex.store.question_place(1))
        assert where is not None and where.startswith("discord:channel:")

        second = await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        offer = reply_of(second)
        assert offer.ephemeral
        assert "Already asked: Q-1" in offer.text
        assert "1 authority already wait" in offer.text
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
        assert DERBYSHIRE in page.text and NOTTINGHAM in page.text
        assert "psnx:queue:answer:1" in page.custom_ids

        opened = await fake.click(geoff, "psnx:queue:answer:1", message=page)
        assert opened.response is not None and opened.response.type == 9
        ids = field_ids(opened.response)
        saved = await fake.submit_modal(
            geoff, {ids["Answer"]: ANSWER, ids["Resource links"]: LINK}
        )
        assert "Answer saved for Q-1 (version 1)" in reply_of(saved).text

        published = await fake.slash(geoff, "publish", channel=place.general)
        assert "Release 1 published: 1 answer(s); 3 message(s)" in reply_of(published).text

        assert await deliver(fake) == 3
        for officer in (alice, bob):
            [dm] = fake.dms(officer)
            assert "Answered: Q-1" in dm.text
            assert ANSWER in dm.text and LINK in dm.text
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
    return next(i for i in body.custom_ids if f":{action}:" in i)


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
        assert ANSWER in offer.text and LINK in offer.text
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
    assert "went wrong" not in shown.text and "Traceback" not in shown.text
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
        assert len(fake.requests_to("PUT", "/applications/*")) == 1  # first start, empty db
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
        [put] = fake.requests_to("PUT", "/applications/*")
        assert put.path == f"/applications/{place.world.app_id}/guilds/{place.world.guild_id}/commands"


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
