"""The fake Discord with more than one server: each channel, thread and role is in one
guild, and what happens there reaches the bot with that guild's id (tiny bot, not bot/)."""

from __future__ import annotations

import discord

from tests.fakediscord import FakeDiscord, World, async_test
from tests.test_fakediscord import TinyBot


@async_test
async def test_a_second_server_has_its_own_channels_roles_and_interactions() -> None:
    world = World()
    north = world.add_guild("PSN North")
    async with FakeDiscord(TinyBot(), world) as fake:
        bot = fake.bot
        assert {g.id for g in bot.guilds} == {world.guild_id, north}
        south_room, north_room = fake.text_channel("general"), fake.text_channel("general", north)
        north_channel = bot.get_channel(north_room)
        assert isinstance(north_channel, discord.TextChannel)
        assert north_channel.guild.id == north
        # The role is made in the north: it counts there, and not in the first server.
        geoff = fake.member("Geoff", roles=["PSN Expert"], guild=north)
        assert fake.role_id("PSN Expert", north) in {r.id for r in bot.get_guild(north).roles}

        shown = await fake.slash(geoff, "queue", channel=north_room)
        refused = await fake.slash(geoff, "queue", channel=south_room)

        assert shown.response is not None
        assert shown.response.content == "The queue"
        assert refused.response is not None
        assert refused.response.text == "Only the PSN expert can do that."


@async_test
async def test_a_forum_post_in_a_second_server_is_in_that_server() -> None:
    world = World()
    north = world.add_guild("PSN North")
    async with FakeDiscord(TinyBot(), world) as fake:
        forum = fake.forum_channel("ask-psn", tags=["Costs"], guild=north)
        alice = fake.member("Alice")
        turn = await fake.forum_post(alice, forum, "VPN renewal?", "Who renews it?", tags=["Costs"])
        [reply] = turn.messages
        thread = fake.bot.get_channel(reply.channel_id)
        assert isinstance(thread, discord.Thread)
        assert thread.guild.id == north
        assert fake.bot.seen == ["Who renews it?"]
