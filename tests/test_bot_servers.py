"""One exchange in two Discord servers: each has its own questions channel, forum, steering
channel and expert channel; the store, the queue and the expert are national.

The first server ("south") keeps the single-server `[discord]` keys, as an existing install
would; the second ("north") has a `[discord.servers.<id>]` table of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import discord
import pytest

from bot.app import build_bot
from bot.client import intents_for
from bot.forum import SCANNED_KEY
from knowledge.config import ServerChannels, Settings, load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, Role
from knowledge.runner import ExchangeThread
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    REPO,
    actions,
    answer_and_publish,
    ask,
    deliver,
    events,
    refused_kindly,
    reply_of,
    run,
    set_authority,
    stop_worker,
)
from tests.conftest import Clock
from tests.fakediscord import FakeDiscord, Msg, World, async_test

Q2_NORTH = "Who pays for the PSN accreditation of our schools broadband connections?"
LAST_WEDNESDAY = datetime.fromisoformat("2010-05-12T11:00:00+01:00")
MONDAY_AFTER_NINE = datetime.fromisoformat("2010-05-17T10:00:00+01:00")
ADMIN = Actor("discord:ada", "Ada", frozenset({Role.OFFICER, Role.ADMIN}))


@dataclass
class Server:
    id: int
    general: int
    questions: int
    forum: int
    steering: int
    expert: int


@dataclass
class TwoServers:
    world: World
    south: Server
    north: Server
    settings: Settings
    clock: Clock
    threads: list[ExchangeThread] = field(default_factory=list)

    def bot(self, settings: Settings | None = None) -> discord.Client:
        chosen = settings or self.settings
        thread = ExchangeThread(lambda: Exchange.open(chosen, self.clock))
        self.threads.append(thread)
        return build_bot(chosen, thread)

    def without_forums(self) -> Settings:
        north = ServerChannels(
            questions_channel_id=self.north.questions,
            steering_channel_id=self.north.steering,
            expert_channel_id=self.north.expert,
            forum_channel_id=0,
        )
        discord_settings = self.settings.discord.model_copy(
            update={"forum_channel_id": 0, "servers": {self.north.id: north}}
        )
        return self.settings.model_copy(update={"discord": discord_settings})


def build_server(builder: FakeDiscord, guild: int) -> Server:
    return Server(
        guild,
        builder.text_channel("general", guild),
        builder.text_channel("psn-questions", guild),
        builder.forum_channel("ask-psn", tags=["Technical", "Procurement"], guild=guild),
        builder.text_channel("steering-group", guild),
        builder.text_channel("psn-expert", guild),
    )


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[TwoServers]:
    world = World("PSN South")
    north_id = world.add_guild("PSN North")
    builder = FakeDiscord(discord.Client(intents=discord.Intents.none()), world)
    south, north = build_server(builder, world.guild_id), build_server(builder, north_id)
    loaded = load_settings(REPO / "config.toml")
    discord_settings = loaded.discord.model_copy(
        update={
            "guild_ids": (south.id, north.id),
            # The first server as a single-server install configured it.
            "questions_channel_id": south.questions,
            "forum_channel_id": south.forum,
            "steering_channel_id": south.steering,
            "expert_channel_id": south.expert,
            "servers": {
                north.id: ServerChannels(
                    questions_channel_id=north.questions,
                    forum_channel_id=north.forum,
                    steering_channel_id=north.steering,
                    expert_channel_id=north.expert,
                )
            },
        }
    )
    settings = loaded.model_copy(
        update={
            "database": loaded.database.model_copy(update={"path": tmp_path / "exchange.db"}),
            "discord": discord_settings,
        }
    )
    made = TwoServers(world, south, north, settings, Clock(MONDAY_AFTER_NINE))
    yield made
    for thread in made.threads:
        thread.close()


@asynccontextmanager
async def running(
    servers: TwoServers, settings: Settings | None = None
) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(servers.bot(settings), servers.world)
    await fake.start()
    await stop_worker(fake)
    try:
        yield fake
    finally:
        await fake.close()


def posted(servers: TwoServers, channel: int) -> list[Msg]:
    """What the bot posted in a channel, across restarts."""
    return [
        m for m in servers.world.messages.values() if m.via == "channel" and m.channel_id == channel
    ]


def thread_of(fake: FakeDiscord, question_id: int) -> int:
    where = run(fake, lambda ex: ex.store.questions.place(question_id))
    return int(where.removeprefix("discord:channel:"))


def ask_last_week(servers: TwoServers) -> None:
    exchange = Exchange.open(servers.settings, Clock(LAST_WEDNESDAY))
    try:
        alice = Actor("discord:1", "Alice")
        exchange.set_authority(alice, DERBYSHIRE)
        exchange.ask(alice, "How is quality of service handled in the PSN?")
    finally:
        exchange.close()


# -- questions channels and delivery ----------------------------------------------------


@async_test
async def test_a_question_is_posted_in_the_questions_channel_of_its_own_server(
    servers: TwoServers,
) -> None:
    south, north = servers.south, servers.north
    async with running(servers, servers.without_forums()) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=south.general, authority=DERBYSHIRE)
        await ask(fake, bob, Q2_NORTH, channel=north.general, authority=NOTTINGHAM)

        [in_south] = fake.sent_messages(south.questions)
        [in_north] = fake.sent_messages(north.questions)
        assert in_south.content.startswith("**Q-1**")
        assert in_north.content.startswith("**Q-2**")
        thread = fake.bot.get_channel(thread_of(fake, 2))
        assert isinstance(thread, discord.Thread)
        assert (thread.parent_id, thread.guild.id) == (north.questions, north.id)


@async_test
async def test_one_national_queue_answers_each_asker_where_they_asked(servers: TwoServers) -> None:
    south, north = servers.south, servers.north
    async with running(servers, servers.without_forums()) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"], guild=north.id)
        await ask(fake, alice, Q1_DERBYSHIRE, channel=south.general, authority=DERBYSHIRE)
        await set_authority(fake, bob, NOTTINGHAM, north.general)
        # Bob, in the north, waits on the question asked in the south.
        followed = await fake.slash(bob, "follow", {"question": "Q-1"}, channel=north.general)
        assert "2 authorities" in reply_of(followed).text
        await answer_and_publish(fake, geoff, "Q-1", north.general)  # the expert, in the north

        assert await deliver(fake) == 3
        assert ANSWER[:40] in fake.dms(alice)[0].text
        assert ANSWER[:40] in fake.dms(bob)[0].text
        [in_thread] = fake.sent_messages(thread_of(fake, 1))  # the question's own thread
        assert fake.bot.get_channel(in_thread.channel_id).guild.id == south.id
        assert fake.sent_messages(north.questions) == []


# -- forums ------------------------------------------------------------------------------


@async_test
async def test_each_servers_forum_posts_are_taken_and_answered_in_their_threads(
    servers: TwoServers,
) -> None:
    south, north = servers.south, servers.north
    async with running(servers) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await set_authority(fake, alice, DERBYSHIRE, south.general)
        await set_authority(fake, bob, NOTTINGHAM, north.general)

        south_post = await fake.forum_post(alice, south.forum, "CoCo and PSN", Q1_DERBYSHIRE)
        north_post = await fake.forum_post(bob, north.forum, "Schools accreditation", Q2_NORTH)

        [south_reply] = south_post.messages
        [north_reply] = north_post.messages
        assert "your question is Q-1" in south_reply.text
        assert "your question is Q-2" in north_reply.text
        assert thread_of(fake, 2) == north_reply.channel_id
        assert len(events(fake, "asked")) == 2


@async_test
async def test_ask_in_a_server_with_a_forum_posts_the_question_in_that_forum(
    servers: TwoServers,
) -> None:
    south, north = servers.south, servers.north
    async with running(servers) as fake:
        bob = fake.member("Bob")
        await ask(fake, bob, Q2_NORTH, channel=north.general, authority=NOTTINGHAM)
        assert fake.requests_to("POST", f"/channels/{south.forum}/threads") == []
        [created] = fake.requests_to("POST", f"/channels/{north.forum}/threads")
        assert created.json["message"]["content"].startswith("**Q-1**")
        assert len(events(fake, "asked")) == 1  # the bot's own post is not taken as an ask


def test_a_forum_in_one_servers_table_is_enough_to_read_forum_posts(servers: TwoServers) -> None:
    only_north = servers.settings.discord.model_copy(update={"forum_channel_id": 0})
    settings = servers.settings.model_copy(update={"discord": only_north})
    assert intents_for(settings).message_content
    assert not intents_for(servers.without_forums()).message_content


@async_test
async def test_a_new_servers_forum_is_scanned_afresh_and_the_old_one_carries_on(
    servers: TwoServers,
) -> None:
    south, north = servers.south, servers.north
    # A bot from before servers had forums of their own scanned the one forum it knew.
    exchange = Exchange.open(servers.settings, servers.clock)
    exchange.remember_front_end_fact(SCANNED_KEY, "yes")
    exchange.close()
    officer = FakeDiscord(discord.Client(intents=discord.Intents.none()), servers.world)
    alice = officer.member("Alice")
    # Made while the bot was down: in the old forum, a post for it to take; in the north's
    # forum, one from before the bot was there.
    await officer.forum_post(alice, south.forum, "CoCo and PSN", Q1_DERBYSHIRE)
    await officer.forum_post(alice, north.forum, "Schools accreditation", Q2_NORTH)

    async with running(servers) as fake:
        # Only the south's post is taken: Alice is asked there for her authority.
        [prompt] = fake.sent_messages()
        thread = fake.bot.get_channel(prompt.channel_id)
        assert isinstance(thread, discord.Thread)
        assert thread.parent_id == south.forum
        assert prompt.content.startswith(f"<@{alice.id}>")
    async with running(servers) as again:  # nothing more at the next start
        assert again.sent_messages() == []


# -- digests and reminders ---------------------------------------------------------------


@async_test
async def test_every_servers_steering_channel_gets_the_digest_once(servers: TwoServers) -> None:
    ask_last_week(servers)
    async with running(servers) as fake:
        await fake.settle()
        for server in (servers.south, servers.north):
            [digest] = posted(servers, server.steering)
            assert "PSN Exchange digest" in digest.text
            assert DERBYSHIRE in digest.text
    async with running(servers) as again:
        await again.settle()
        for server in (servers.south, servers.north):
            assert len(posted(servers, server.steering)) == 1


@async_test
async def test_every_servers_expert_channel_gets_the_release_reminder(
    servers: TwoServers,
) -> None:
    ask_last_week(servers)
    servers.clock.now = datetime.fromisoformat("2010-05-20T17:00:00+01:00")  # Friday's is due
    async with running(servers) as fake:
        await fake.settle()
        for server in (servers.south, servers.north):
            [reminder] = posted(servers, server.expert)
            assert "Release due" in reminder.text


@async_test
async def test_a_steering_channel_shared_by_two_servers_gets_the_digest_once(
    servers: TwoServers,
) -> None:
    ask_last_week(servers)
    north = servers.settings.discord.servers[servers.north.id].model_copy(
        update={"steering_channel_id": None}  # left out: the [discord] one, the south's
    )
    discord_settings = servers.settings.discord.model_copy(
        update={"servers": {servers.north.id: north}}
    )
    shared = servers.settings.model_copy(update={"discord": discord_settings})
    async with running(servers, shared) as fake:
        await fake.settle()
        assert len(posted(servers, servers.south.steering)) == 1
        assert posted(servers, servers.north.steering) == []


@async_test
async def test_a_steering_channel_that_refuses_holds_up_no_other_server(
    servers: TwoServers,
) -> None:
    ask_last_week(servers)
    south, north = servers.south, servers.north
    fake = FakeDiscord(servers.bot(), servers.world)
    # The bot may not post in the north's steering channel (a permission not given).
    fake.fail("POST", f"/channels/{north.steering}/messages", 403, code=50001, times=None)
    await fake.start()
    await stop_worker(fake)
    await fake.settle()
    assert len(posted(servers, south.steering)) == 1
    assert posted(servers, north.steering) == []
    [failing] = run(fake, Exchange.failing_messages, ADMIN)
    assert failing.recipient == f"steering at discord:channel:{north.steering}"
    await fake.close()

    # Fixed: an admin retries, and only the north gets it now.
    fake = FakeDiscord(servers.bot(), servers.world)
    await fake.start()
    await stop_worker(fake)
    assert run(fake, Exchange.retry_given_up, ADMIN) == 1
    await deliver(fake)
    assert len(posted(servers, south.steering)) == 1
    assert len(posted(servers, north.steering)) == 1
    await fake.close()


# -- roles -------------------------------------------------------------------------------


@async_test
async def test_roles_count_in_either_server_and_in_no_other(servers: TwoServers) -> None:
    elsewhere = servers.world.add_guild("Somebody's own server")
    builder = FakeDiscord(discord.Client(intents=discord.Intents.none()), servers.world)
    their_general = builder.text_channel("general", elsewhere)
    async with running(servers, servers.without_forums()) as fake:
        south_expert = fake.member("Geoff", roles=["PSN Expert"])
        north_expert = fake.member("Gill", roles=["PSN Expert"], guild=servers.north.id)
        impostor = fake.member("Mallory", roles=["PSN Expert"], guild=elsewhere)

        for user, channel in (
            (south_expert, servers.south.general),
            (north_expert, servers.north.general),
        ):
            refused_kindly(await fake.slash(user, "publish", channel=channel), "nothing to publish")
        # Gill's role is the north's: in the south she is an officer.
        refused_kindly(
            await fake.slash(north_expert, "publish", channel=servers.south.general), "Only the"
        )
        refused_kindly(await fake.slash(impostor, "publish", channel=their_general), "Only the")
        assert "answer_written" not in actions(fake)
