"""The Discord bot: composition, identity, command sync, start and stop."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import discord
from discord.ext import commands

from bot.interactions import ExchangeTree
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


def intents_for(settings: Settings) -> discord.Intents:
    """Only what the bot needs: guilds (channels, roles, threads); forum posts need content."""
    intents = discord.Intents.none()
    intents.guilds = True
    if settings.discord.forum_channel_id:
        # Reading a forum post's body is the one use of the privileged Message Content intent.
        intents.guild_messages = True
        intents.message_content = True
    return intents


def actor_for(user: discord.User | discord.Member, settings: Settings) -> Actor:
    """The exchange's view of a Discord user: a stable key, a name, and roles by role name.

    Roles count only in the servers named in `discord.guild_ids`: anyone can create a role
    called "PSN Expert" in a server of their own, so with no servers named, everyone is an
    officer.
    """
    roles = {Role.OFFICER}
    trusted = isinstance(user, discord.Member) and user.guild.id in settings.discord.guild_ids
    if isinstance(user, discord.Member) and trusted:
        names = {role.name for role in user.roles}
        wanted = {
            settings.roles.expert: Role.EXPERT,
            settings.roles.steering: Role.STEERING,
            settings.roles.admin: Role.ADMIN,
        }
        roles |= {role for name, role in wanted.items() if name in names}
    return Actor(str(Address.discord_user(user.id)), user.display_name, frozenset(roles))


class ExchangeBot(commands.Bot):
    """A discord.py bot whose every action goes through the exchange service."""

    def __init__(self, settings: Settings, exchange: ExchangeThread, *, sync: bool = False) -> None:
        # The bot never joins voice, so the missing voice libraries are not worth a warning
        # at every start (it made operators think something was wrong).
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
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

    def actor(self, user: discord.User | discord.Member) -> Actor:
        return actor_for(user, self.settings)

    async def call(
        self, method: Callable[Concatenate[Exchange, P], T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run an Exchange method on the exchange's own thread."""
        return await self.exchange.run(method, *args, **kwargs)

    async def setup_hook(self) -> None:
        from bot.delivery import DeliveryWorker
        from bot.expert import ExpertCog
        from bot.forum import ForumCog
        from bot.notices import DigestCog, NoticeBoard
        from bot.officers import OfficersCog

        await self.add_cog(OfficersCog(self))
        await self.add_cog(ExpertCog(self))
        await self.add_cog(DigestCog(self))
        if self.settings.discord.forum_channel_id:
            await self.add_cog(ForumCog(self))
        self.worker = DeliveryWorker(self)
        self.worker.start()
        self.notices = NoticeBoard(self)
        self.notices.start()
        await self.sync_commands_if_changed()

    async def on_ready(self) -> None:
        # Catch up at once: a digest missed while the bot was down is owed and posted now.
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
        if guilds:
            for guild_id in guilds:
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            await self._clear_global_commands()
        else:
            await self.tree.sync()
        await self.call(
            Exchange.remember_front_end_fact, SYNCED_GUILDS_KEY, json.dumps(sorted(guilds))
        )
        await self.call(Exchange.remember_front_end_fact, COMMANDS_HASH_KEY, fingerprint)
        self.force_sync = False
        log.info("slash commands synced (%s guilds)", len(guilds) or "all")
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
        notices = getattr(self, "notices", None)
        if notices is not None:
            notices.stop()
        worker = getattr(self, "worker", None)
        if worker is not None:
            await worker.stop()
        await super().close()


def run(settings: Settings, token: str, *, sync: bool = False) -> int:
    """Run the bot from the command line; returns the exit status."""
    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(serve(settings, token, sync=sync))
    except discord.LoginFailure:
        log.error(
            "Discord refused the token in DISCORD_TOKEN. Reset it on the application's "
            "Bot page and set it again."
        )
        return 2
    return 0


async def serve(settings: Settings, token: str, *, sync: bool = False) -> None:
    """Run the bot until SIGINT/SIGTERM, then finish the current delivery and close."""
    if not settings.discord.guild_ids:
        log.warning(
            "discord.guild_ids is empty: nobody gets the expert, steering or admin role "
            "(roles only count in the servers named there)"
        )
    exchange = ExchangeThread(lambda: Exchange.open(settings))
    bot = ExchangeBot(settings, exchange, sync=sync)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stopping.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopper in done:
                log.info("shutting down")
                await bot.close()
            await runner
    finally:
        exchange.close()
