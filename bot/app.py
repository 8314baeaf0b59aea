"""The launcher: which cogs and background workers the bot runs, and running it until stopped."""

from __future__ import annotations

import asyncio
import logging
import signal

import discord

from bot.client import ExchangeBot
from bot.delivery import DeliveryWorker
from bot.expert import ExpertCog
from bot.forum import ForumCog
from bot.notices import DigestCog, NoticeBoard
from bot.officers import OfficersCog
from knowledge.config import Settings
from knowledge.exchange import Exchange
from knowledge.runner import ExchangeThread

log = logging.getLogger(__name__)


async def add_cogs_and_workers(bot: ExchangeBot) -> None:
    """Add the cogs and start the background workers (the bot awaits this in setup_hook)."""
    await bot.add_cog(OfficersCog(bot))
    await bot.add_cog(ExpertCog(bot))
    await bot.add_cog(DigestCog(bot))
    if bot.settings.discord.channel_ids("forum"):
        await bot.add_cog(ForumCog(bot))
    worker = DeliveryWorker(bot)
    bot.worker = worker
    worker.start()
    notices = NoticeBoard(bot)
    bot.notices = notices
    notices.start()


def build_bot(settings: Settings, exchange: ExchangeThread, *, sync: bool = False) -> ExchangeBot:
    """The bot, wired as it runs: `serve` starts this one, and so do the tests."""
    return ExchangeBot(settings, exchange, setup=add_cogs_and_workers, sync=sync)


# Exit statuses a service manager should not answer by restarting (see the README's unit):
# starting again cannot help, and every start logs in again (Discord resets a token after
# 1,000 logins in a day).
EXIT_TOKEN_REFUSED = 3
EXIT_INTENT_NOT_ENABLED = 4


def run(settings: Settings, token: str, *, sync: bool = False) -> int:
    """Run the bot from the command line; returns the exit status (0 stopped, 1 an
    unexpected failure, EXIT_TOKEN_REFUSED, EXIT_INTENT_NOT_ENABLED)."""
    logging.getLogger().setLevel(logging.INFO)
    try:
        asyncio.run(serve(settings, token, sync=sync))
    except discord.LoginFailure:
        log.error(
            "Discord refused the token in DISCORD_TOKEN. Reset it on the application's "
            "Bot page and set it again."
        )
        return EXIT_TOKEN_REFUSED
    except discord.PrivilegedIntentsRequired:
        log.error(
            "Discord refused the Message Content intent, which reading forum posts needs: "
            "turn it on under Privileged Gateway Intents on the application's Bot page, or "
            "configure no forum channel (discord.forum_channel_id, and in discord.servers)."
        )
        return EXIT_INTENT_NOT_ENABLED
    return 0


async def serve(settings: Settings, token: str, *, sync: bool = False) -> None:
    """Run the bot until SIGINT/SIGTERM, then finish the current delivery and close."""
    if not settings.discord.guild_ids:
        log.warning(
            "discord.guild_ids is empty: nobody gets the expert, steering or admin role "
            "(roles only count in the servers named there)"
        )
    exchange = ExchangeThread(lambda: Exchange.open(settings))
    bot = build_bot(settings, exchange, sync=sync)
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
