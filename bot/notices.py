"""Digests and reminders in Discord: the schedule (APScheduler) and /digest.

The database is the source of truth; the scheduler is only an alarm. Each tick asks the
exchange to owe whatever is due (idempotently), then wakes the one sender
(bot/delivery.py), which posts every owed message, notices included, and marks it sent.
So a restart never posts a digest twice, and one missed while the bot was down is posted
once at start-up, covering the whole gap.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from discord import app_commands
from discord.ext import commands

from bot.client import ExchangeBot
from bot.markdown import markdown_embeds
from knowledge.errors import StoreError
from knowledge.exchange import Exchange
from knowledge.schedule import cron

log = logging.getLogger(__name__)


class NoticeBoard:
    """Schedules the checks that owe digests, release reminders and overdue flags."""

    def __init__(self, bot: ExchangeBot, *, check_every_minutes: float = 10) -> None:
        self.bot = bot
        self.check_every_minutes = check_every_minutes
        self.scheduler = AsyncIOScheduler(timezone=bot.settings.schedule.zone)
        self.lock = asyncio.Lock()

    def start(self) -> None:
        """Add the jobs and start the scheduler (must run inside the bot's event loop)."""
        schedule = self.bot.settings.schedule
        zone = schedule.zone
        options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        self.scheduler.add_job(self.check, cron(schedule.digest_cron, zone), id="digest", **options)
        self.scheduler.add_job(
            self.check, cron(schedule.release_cron, zone), id="release", **options
        )
        # Reminders fall due at release time minus a lead, and overdue flags at any time.
        self.scheduler.add_job(
            self.check,
            IntervalTrigger(minutes=self.check_every_minutes, timezone=zone),
            id="sweep",
            **options,
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def check(self) -> int:
        """Owe what is due, then send everything owed; returns how many messages went out."""
        async with self.lock:
            try:
                added = await self.bot.call(Exchange.check_schedules)
            except StoreError as error:  # another process is writing: the next tick owes it
                log.warning("could not check what is due (%s); trying at the next check", error)
                added = []
            if added:
                log.info("notices due: %s", ", ".join(added))
        worker = self.bot.worker
        return await worker.deliver_due() if worker is not None else 0


class DigestCog(commands.Cog):
    """/digest: the steering group's digest now, since the last one (only the caller sees it)."""

    def __init__(self, bot: ExchangeBot) -> None:
        self.bot = bot

    @app_commands.command(name="digest", description="(Steering group) Where things stand now")
    @app_commands.guild_only()
    async def digest(self, interaction: discord.Interaction[ExchangeBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = self.bot.actor(interaction.user)
        digest = await self.bot.call(Exchange.digest, actor)
        markdown = await self.bot.call(Exchange.digest_markdown, digest)
        for embeds in markdown_embeds(markdown, discord.Colour.blue()):
            await interaction.followup.send(embeds=embeds, ephemeral=True)
