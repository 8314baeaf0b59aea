"""Who holds the expert, steering and admin roles in Discord: by role name or by role id,
and only in the servers named in `discord.guild_ids`."""

from __future__ import annotations

from typing import Any

import discord

from knowledge.config import RoleSettings, Settings
from tests.botkit import Place, refused_kindly, reply_of, running
from tests.fakediscord import FakeDiscord, async_test


def with_roles(place: Place, *, guild_ids: tuple[int, ...] | None = None, **roles: Any) -> Settings:
    discord_settings = place.settings.discord
    if guild_ids is not None:
        discord_settings = discord_settings.model_copy(update={"guild_ids": guild_ids})
    return place.settings.model_copy(
        update={"roles": RoleSettings(**roles), "discord": discord_settings}
    )


def new_role(place: Place, name: str) -> int:
    """A role made in the place's server before the bot starts (so its id can be configured)."""
    return FakeDiscord(discord.Client(intents=discord.Intents.none()), place.world).role(name)


@async_test
async def test_the_expert_role_can_be_given_by_its_id(place: Place) -> None:
    cabinet_office = new_role(place, "Cabinet Office PSN team")
    async with running(place, with_roles(place, expert=cabinet_office)) as fake:
        geoff = fake.member("Geoff", roles=["Cabinet Office PSN team"])
        named = fake.member("Mallory", roles=["PSN Expert"])  # the default name: no longer it

        allowed = await fake.slash(geoff, "publish", channel=place.general)
        refused = await fake.slash(named, "publish", channel=place.general)

        refused_kindly(allowed, "There is nothing to publish")  # past the role check
        refused_kindly(refused, "Only the PSN expert")


@async_test
async def test_a_role_id_still_counts_after_the_role_is_renamed(place: Place) -> None:
    steering = new_role(place, "Steering Group")
    place.world.roles[steering]["name"] = "PSN Steering Board 2011"
    async with running(place, with_roles(place, steering=steering)) as fake:
        chair = fake.member("Chair", roles=["PSN Steering Board 2011"])
        turn = await fake.slash(chair, "digest", channel=place.general)
        assert "PSN Exchange digest" in reply_of(turn).text


@async_test
async def test_names_and_ids_can_be_listed_together(place: Place) -> None:
    by_id = new_role(place, "Cabinet Office PSN team")
    async with running(place, with_roles(place, expert=("PSN Expert", by_id))) as fake:
        for user in (
            fake.member("Geoff", roles=["PSN Expert"]),
            fake.member("Gill", roles=["Cabinet Office PSN team"]),
        ):
            turn = await fake.slash(user, "publish", channel=place.general)
            refused_kindly(turn, "There is nothing to publish")
        officer = fake.member("Olive")
        refused_kindly(await fake.slash(officer, "publish", channel=place.general), "Only the")


@async_test
async def test_a_role_by_id_counts_only_in_the_configured_servers(place: Place) -> None:
    by_id = new_role(place, "Cabinet Office PSN team")
    elsewhere = with_roles(place, expert=by_id, guild_ids=(424242,))
    async with running(place, elsewhere) as fake:
        impostor = fake.member("Mallory", roles=["Cabinet Office PSN team"])
        turn = await fake.slash(impostor, "publish", channel=place.general)
        refused_kindly(turn, "Only the PSN expert")
