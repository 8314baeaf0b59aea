"""The Discord bot's test kit: a world (guild, channels) and settings pointing at it, a
started bot on the fake Discord, and the small stories tests share (ask, publish, deliver)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import build_bot
from bot.client import ExchangeBot
from knowledge.config import Settings, load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor
from knowledge.runner import ExchangeThread
from tests.fakediscord import FakeDiscord, FakeUser, Reply, Turn, World

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
        return build_bot(chosen, thread)

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
    return run(fake, lambda ex: ex.store.events.all(action))  # type: ignore[no-any-return]


def actions(fake: FakeDiscord) -> list[str]:
    return [e["action"] for e in events(fake)]


def backoff_passed(fake: FakeDiscord) -> None:
    """As if the backoff of every failed message had run out (the bot runs on real time)."""
    run(fake, lambda ex: ex.store.db.execute("UPDATE outbox SET next_attempt_at = NULL"))


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
    """The exchange's actor for a Discord user (as bot.client.actor_for builds it)."""
    return Actor(f"discord:{user.id}", user.name)


def world_sent(world: World) -> list[int]:
    """Every message the bot has posted or DMed in this world, across restarts."""
    return [m.id for m in world.messages.values() if m.via in ("channel", "dm")]


def queue_size(fake: FakeDiscord) -> int:
    return len(run(fake, lambda ex: ex.store.questions.queue()))


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
    assert "published" in await publish(fake, expert, channel)


async def publish(fake: FakeDiscord, expert: FakeUser, channel: int) -> str:
    """/publish, then the confirmation button under the answers it lists: what the expert
    reads at the end (the release, or why there was none)."""
    listed = reply_of(await fake.slash(expert, "publish", channel=channel))
    confirm = [i for i in listed.custom_ids if i.startswith("psnx:publish:")]
    if confirm:
        await fake.click(expert, confirm[0], message=listed)
    return str(listed.text)


def button(body: Any, action: str) -> str:
    """The custom id of a suggestion button ('accept', 'follow', 'anyway') on a reply."""
    return str(next(i for i in body.custom_ids if f":{action}:" in i))


async def officer_and_question(fake: FakeDiscord, place: Place) -> tuple[FakeUser, FakeUser]:
    alice, bob = fake.member("Alice"), fake.member("Bob")
    await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
    await set_authority(fake, bob, NOTTINGHAM, place.general)
    return alice, bob


def as_read(markdown: str) -> str:
    """Text as Discord shows it: a backslash before punctuation shows only the punctuation."""
    return re.sub(r"\\([^\w\s])", r"\1", markdown)


def refused_kindly(turn: Turn, *words: str) -> str:
    shown = reply_of(turn)
    assert shown.ephemeral
    assert all(r.type != 9 for r in turn.replies), "a modal opened"
    assert "went wrong" not in shown.text
    assert "Traceback" not in shown.text
    for word in words:
        assert word in as_read(shown.text), shown.text
    return str(shown.text)


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


WORKSHOP = [
    "Who pays for the PSN accreditation of our schools broadband connections?",
    "Can a district council buy PSN services through the ESPO framework?",
    "Does the steering group need a named senior information risk owner for PSN?",
    "What quality of service classes will carry our VoIP telephony traffic?",
    "How long does the DNSP procurement take for a consortium like EMBC?",
    "Are police forces expected to join the same regional network as councils?",
]


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
    where = run(fake, lambda ex: ex.store.questions.place(1))
    return int(where.removeprefix("discord:channel:"))


def delivery_rows(fake: FakeDiscord) -> list[dict[str, Any]]:
    return run(  # type: ignore[no-any-return]
        fake,
        lambda ex: list(ex.store.db["outbox"].rows_where("recipient IS NOT NULL", order_by="id")),
    )


def no_pings_but(fake: FakeDiscord, allowed: set[str]) -> None:
    for body in [*fake.messages, *fake.replies]:
        assert body.pings <= allowed, body.text
