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
from collections.abc import Iterator
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
