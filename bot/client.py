"""The bot itself: identity, exchange calls, command sync, start-up and close.

It imports no cog: the launcher (bot/app.py) hands it a `setup` coroutine that adds the
cogs and starts the background workers, so the cogs can import this module without a cycle.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import discord
from discord.ext import commands

from bot.interactions import ExchangeTree, FormStore
from knowledge.addresses import Address
from knowledge.config import Settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, Role
from knowledge.runner import ExchangeThread

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

COMMANDS_HASH_KEY = "discord.commands_hash"
SYNCED_GUILDS_KEY = "discord.synced_guild_ids"


class Worker(Protocol):
    """What the bot needs of its one sender (bot.delivery.DeliveryWorker): a round of
    sending what is owed, and a stop."""

    async def deliver_due(self) -> int: ...

    async def stop(self) -> None: ...


class Board(Protocol):
    """What the bot needs of its notice board (bot.notices.NoticeBoard): a check, and a stop."""

    async def check(self) -> int: ...

    def stop(self) -> None: ...


# What the launcher hands the bot: adds the cogs and starts the workers, in setup_hook.
Setup = Callable[["ExchangeBot"], Awaitable[None]]


def intents_for(settings: Settings) -> discord.Intents:
    """Only what the bot needs: guilds (channels, roles, threads); forum posts need content."""
    intents = discord.Intents.none()
    intents.guilds = True
    if settings.discord.channel_ids("forum"):
        # Reading a forum post's body is the one use of the privileged Message Content intent.
        intents.guild_messages = True
        intents.message_content = True
    return intents


def actor_for(user: discord.User | discord.Member, settings: Settings) -> Actor:
    """The exchange's view of a Discord user: a stable key, a name, and roles by the names
    or ids in `[roles]`.

    Roles count only in the servers named in `discord.guild_ids`: anyone can create a role
    called "PSN Expert" in a server of their own, so with no servers named, everyone is an
    officer.
    """
    roles = {Role.OFFICER}
    trusted = isinstance(user, discord.Member) and user.guild.id in settings.discord.guild_ids
    if isinstance(user, discord.Member) and trusted:
        held = {role.name for role in user.roles} | {role.id for role in user.roles}
        for name, role in (
            ("expert", Role.EXPERT),
            ("steering", Role.STEERING),
            ("admin", Role.ADMIN),
        ):
            if held.intersection(settings.roles.refs(name)):
                roles.add(role)
    return Actor(str(Address.discord_user(user.id)), user.display_name, frozenset(roles))


class ExchangeBot(commands.Bot):
    """A discord.py bot whose every action goes through the exchange service."""

    def __init__(
        self, settings: Settings, exchange: ExchangeThread, *, setup: Setup, sync: bool = False
    ) -> None:
        """`setup` adds the cogs and starts the workers (see bot/app.py); setup_hook awaits it."""
        # The bot never joins voice, so the missing voice libraries are not worth a warning
        # at every start (it made operators think something was wrong).
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            # Required by commands.Bot, never used: on_message parses no prefix commands.
            command_prefix=commands.when_mentioned,
            intents=intents_for(settings),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=ExchangeTree,
            help_command=None,
        )
        self.settings = settings
        self.exchange = exchange
        self.force_sync = sync
        self.deliveries_due = asyncio.Event()
        self.forms = FormStore()  # the cogs add their forms, as they add dynamic items
        self._setup = setup
        # Set by `setup`; the bot stops them at close and checks notices when ready.
        self.worker: Worker | None = None
        self.notices: Board | None = None

    def actor(self, user: discord.User | discord.Member) -> Actor:
        return actor_for(user, self.settings)

    async def call(
        self, method: Callable[Concatenate[Exchange, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run an Exchange method on the exchange's own thread."""
        return await self.exchange.run(method, *args, **kwargs)

    async def setup_hook(self) -> None:
        await self._setup(self)
        await self.sync_commands_if_changed()  # after setup: the cogs bring the commands

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        await self.forms.dispatch(interaction)

    async def on_message(self, message: discord.Message) -> None:
        """Nothing: the bot has slash commands only. commands.Bot would parse "@bot hi" as a
        prefix command and log CommandNotFound as an error; forum posts are read by the
        forum cog's own listener."""

    async def on_ready(self) -> None:
        # Catch up at once: a digest missed while the bot was down is owed and posted now.
        if self.notices is not None:
            await self.notices.check()

    def commands_fingerprint(self) -> str:
        """Changes when the commands or the servers they are synced to change."""
        payload: list[Any] = [c.to_dict(self.tree) for c in self.tree.get_commands()]
        payload.append({"guild_ids": sorted(self.settings.discord.guild_ids)})
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    async def sync_commands_if_changed(self) -> bool:
        """Sync slash commands only when their definitions changed (Discord limits creates)."""
        fingerprint = self.commands_fingerprint()
        known = await self.call(Exchange.front_end_fact, COMMANDS_HASH_KEY)
        if known == fingerprint and not self.force_sync:
            return False
        guilds = self.settings.discord.guild_ids
        synced: str | None = await self.call(Exchange.front_end_fact, SYNCED_GUILDS_KEY)
        before = json.loads(synced or "[]")
        for guild_id in sorted(set(before) - set(guilds)):
            await self._clear_guild_commands(guild_id)  # a server dropped from guild_ids
        failed: list[int] = []
        if guilds:
            for guild_id in guilds:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                try:
                    await self.tree.sync(guild=guild)
                except (discord.Forbidden, discord.NotFound) as error:
                    # A server the bot is not in, or one it was invited to without the
                    # applications.commands scope: the others still get their commands.
                    log.error(
                        "could not sync the slash commands to server %s (%s): invite the bot "
                        "there with the bot and applications.commands scopes",
                        guild_id,
                        error,
                    )
                    failed.append(guild_id)
            await self._clear_global_commands()
        else:
            await self.tree.sync()
        synced_now = sorted(set(guilds) - set(failed))
        await self.call(Exchange.remember_front_end_fact, SYNCED_GUILDS_KEY, json.dumps(synced_now))
        if not failed:  # otherwise the next start tries the failed servers again
            await self.call(Exchange.remember_front_end_fact, COMMANDS_HASH_KEY, fingerprint)
        self.force_sync = False
        log.info("slash commands synced (%s guilds)", len(synced_now) or "all")
        return True

    async def _clear_global_commands(self) -> None:
        """Remove commands an earlier run registered globally (before `guild_ids` was set):
        left there, every server would show each command twice. Discord's sync is a bulk
        overwrite, so syncing an empty global list clears them; the tree is then restored."""
        commands = self.tree.get_commands()
        self.tree.clear_commands(guild=None)
        try:
            await self.tree.sync()
        finally:
            for command in commands:
                self.tree.add_command(command)

    async def _clear_guild_commands(self, guild_id: int) -> None:
        """Remove the commands synced to a server no longer in `guild_ids` (with global
        commands as well, it would show each one twice). A server the bot has left cannot be
        cleared, and has nothing to show: that is logged and skipped."""
        guild = discord.Object(id=guild_id)
        self.tree.clear_commands(guild=guild)
        try:
            await self.tree.sync(guild=guild)
        except (discord.Forbidden, discord.NotFound) as error:
            log.warning("could not clear the commands of server %s: %s", guild_id, error)

    async def close(self) -> None:
        if self.notices is not None:
            self.notices.stop()
        if self.worker is not None:
            await self.worker.stop()
        await super().close()
