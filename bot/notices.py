"""Digests and reminders in Discord: the schedule (APScheduler) and /digest.

The database is the source of truth; the scheduler is only an alarm. Each tick asks the
exchange to owe whatever is due (idempotently), then wakes the one sender
(bot/delivery.py), which posts every owed message, notices included, and marks it sent.
So a restart never posts a digest twice, and one missed while the bot was down is posted
once at start-up, covering the whole gap.
"""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import timedelta

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from discord import app_commands
from discord.ext import commands

from bot.client import ExchangeBot
from bot.markdown import markdown_embeds
from knowledge.errors import StoreError
from knowledge.exchange import Exchange
from knowledge.export import audit_csv
from knowledge.schedule import cron
from knowledge.text import plural, question_id, question_ref

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

    @app_commands.command(
        name="audit", description="(Steering group, admins) Who did what, when: as a CSV file"
    )
    @app_commands.describe(
        question="Only this question, e.g. Q-12", days="The last this many days (default 30)"
    )
    @app_commands.guild_only()
    async def audit(
        self,
        interaction: discord.Interaction[ExchangeBot],
        question: str | None = None,
        days: app_commands.Range[int, 1, 3660] = 30,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = self.bot.actor(interaction.user)
        since = discord.utils.utcnow() - timedelta(days=days)
        entries = await self.bot.call(Exchange.audit, actor, since=since, question=question)
        zone = self.bot.settings.schedule.zone
        data = audit_csv(entries, zone).encode()
        scope = f" for {question_ref(question_id(question))}" if question else ""
        await interaction.followup.send(
            f"The audit trail{scope} over the last {plural(days, 'day')}: "
            f"{plural(len(entries), 'entry')}.",
            file=discord.File(io.BytesIO(data), filename="psn-exchange-audit.csv"),
            ephemeral=True,
        )
