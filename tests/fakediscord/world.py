"""The world the bot lives in: guild, roles, members, channels, synced commands."""

from __future__ import annotations

from typing import Any

import discord

from tests.fakediscord.ratelimits import RateLimits
from tests.fakediscord.records import (
    EVERYONE_PERMS,
    Call,
    Msg,
    _ids,
    _now,
)


class World:
    """The guild, users and messages; shared across a simulated restart.

    `add_guild` adds another server: channels and roles belong to one guild each (the first,
    `guild_id`, unless named); every user is a member of every guild.
    """

    def __init__(self, guild_name: str = "PSN Test") -> None:
        self.app_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.bot_user = self._user_payload(self.app_id, "PSN Exchange", bot=True)
        self.users: dict[int, dict[str, Any]] = {self.app_id: self.bot_user}
        self.members: dict[int, dict[str, Any]] = {}
        self.roles: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, Msg] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        # The bot's messages by nonce (message id, when), and the POSTs Discord answered with
        # the earlier message instead of a new one (enforce_nonce), across restarts.
        self.nonces: dict[str, tuple[int, float]] = {}
        self.dropped_duplicates: list[Call] = []
        # Discord's rate limits for the bot, and what it has used of them (ratelimits.py).
        self.rate_limits = RateLimits()
        # Synced commands by scope (None: global, else a guild id), then by name.
        self.commands: dict[int | None, dict[str, dict[str, Any]]] = {}
        self.guild = {
            "id": str(self.guild_id),
            "name": guild_name,
            "owner_id": str(self.app_id),
            "features": [],
            "preferred_locale": "en-GB",
        }
        self.roles[self.guild_id] = self._role_payload(
            self.guild_id, "@everyone", EVERYONE_PERMS.value
        )
        self.members[self.app_id] = self._member_payload(self.bot_user, [])
        self.guilds: dict[int, dict[str, Any]] = {self.guild_id: self.guild}
        self.role_guilds: dict[int, int] = {}  # role id -> its guild, if not the first

    def add_guild(self, name: str) -> int:
        """Another server the bot is in (its @everyone role has the guild's id)."""
        gid = self.snowflake()
        self.guilds[gid] = {**self.guild, "id": str(gid), "name": name}
        self.roles[gid] = self._role_payload(gid, "@everyone", EVERYONE_PERMS.value)
        self.role_guilds[gid] = gid
        return gid

    def guild_of_role(self, role_id: int) -> int:
        return self.role_guilds.get(role_id, self.guild_id)

    def guild_of(self, channel_id: int) -> int:
        """The guild a (guild) channel or thread is in."""
        return int(self.channels[channel_id].get("guild_id") or self.guild_id)

    @staticmethod
    def snowflake() -> int:
        return next(_ids)

    @staticmethod
    def _user_payload(uid: int, name: str, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(uid),
            "username": name.lower(),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    @staticmethod
    def _role_payload(rid: int, name: str, permissions: int) -> dict[str, Any]:
        return {
            "id": str(rid),
            "name": name,
            "permissions": str(permissions),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    @staticmethod
    def _member_payload(user: dict[str, Any], roles: list[int]) -> dict[str, Any]:
        return {
            "user": user,
            "roles": [str(r) for r in roles],
            "joined_at": _now(),
            "nick": None,
            "flags": 0,
            "deaf": False,
            "mute": False,
            "pending": False,
        }

    def permissions(self, user_id: int, guild_id: int | None = None) -> int:
        guild_id = guild_id or self.guild_id
        role_ids = [guild_id] + [int(r) for r in self.members[user_id]["roles"]]
        value = 0
        for rid in role_ids:
            if self.guild_of_role(rid) == guild_id:
                value |= int(self.roles[rid]["permissions"])
        return discord.Permissions.all().value if value & 8 else value  # 8 = administrator

    def guild_payload(self, with_members: bool, guild_id: int | None = None) -> dict[str, Any]:
        guild_id = guild_id or self.guild_id
        members = list(self.members.values()) if with_members else [self.members[self.app_id]]
        here = [
            c
            for c in self.channels.values()
            if c["type"] != 1 and self.guild_of(int(c["id"])) == guild_id
        ]
        channels = [c for c in here if c["type"] not in (11, 12)]
        # Only active threads: archived ones are not synced up front
        # (https://discord.com/developers/docs/topics/threads#active-archived-threads).
        threads = [
            c for c in here if c["type"] in (11, 12) and not c["thread_metadata"]["archived"]
        ]
        return {
            **self.guilds[guild_id],
            "roles": [r for rid, r in self.roles.items() if self.guild_of_role(rid) == guild_id],
            "channels": channels,
            "threads": threads,
            "members": members,
            "member_count": len(members),
            "emojis": [],
            "stickers": [],
            "large": False,
            "unavailable": False,
            "joined_at": _now(),
            "voice_states": [],
            "presences": [],
        }
