"""Digests and reminders in Discord: the schedule (APScheduler) and the posting.

The database is the source of truth. The scheduler only wakes `check()`, which asks the
exchange to owe whatever is due (idempotently), then posts every owed notice to its
channel and marks it sent. So a restart never posts a digest twice, and one missed while
the bot was down is posted once at start-up, covering the whole gap.
"""

from __future__ import annotations

import asyncio
import logging
import re

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from discord import app_commands
from discord.ext import commands

from bot.client import ExchangeBot
from bot.render import DESCRIPTION_MAX, EMBED_TOTAL_MAX, TITLE_MAX, clip
from knowledge.exchange import Exchange
from knowledge.models import SEND_ATTEMPTS, Notice
from knowledge.schedule import cron

log = logging.getLogger(__name__)

EMBEDS_PER_MESSAGE = 10
_TABLE_RULE = re.compile(r"^\|[\s:|-]+\|$")


def _table_lines(lines: list[str]) -> list[str]:
    """Markdown tables (which Discord does not draw) as one readable line per row."""
    out: list[str] = []
    header: list[str] | None = None
    for line in lines:
        if not line.startswith("|"):
            header = None
            out.append(line)
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif not _TABLE_RULE.match(line):
            pairs = " · ".join(f"{h} {v}" for h, v in zip(header[1:], cells[1:], strict=False))
            out.append(f"**{cells[0]}**: {pairs}")
    return out


def _chunks(text: str, limit: int) -> list[str]:
    """Split at line ends into pieces of at most `limit` characters (never dropping any)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single over-long line: split it hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return pieces


def markdown_embeds(markdown: str, colour: discord.Colour) -> list[list[discord.Embed]]:
    """A Markdown notice as messages of embeds, within Discord's limits, nothing truncated.

    `#` gives the first embed's title, each `##` section becomes an embed; long sections
    continue in further embeds, and embeds are grouped into messages of at most ten
    embeds and 6,000 characters.
    """
    lines = _table_lines(markdown.rstrip().split("\n"))
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in lines:
        if line.startswith("## ") or (line.startswith("# ") and not sections[0][1]):
            sections.append((line.lstrip("#").strip(), []))
        else:
            sections[-1][1].append(line)
    embeds: list[discord.Embed] = []
    for title, body in sections:
        text = "\n".join(body).strip()
        if not title and not text:
            continue
        for n, piece in enumerate(_chunks(text, DESCRIPTION_MAX) or [""]):
            heading = title if n == 0 else f"{title} (continued)"
            embeds.append(
                discord.Embed(
                    title=clip(heading, TITLE_MAX) or None, description=piece or None, colour=colour
                )
            )
    messages: list[list[discord.Embed]] = [[]]
    size = 0
    for embed in embeds:
        length = len(embed)
        if messages[-1] and (
            len(messages[-1]) >= EMBEDS_PER_MESSAGE or size + length > EMBED_TOTAL_MAX
        ):
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += length
    return [m for m in messages if m]


class NoticeBoard:
    """Schedules checks and posts digests and reminders to their channels."""

    def __init__(self, bot: ExchangeBot, *, check_every_minutes: float = 10) -> None:
        self.bot = bot
        self.check_every_minutes = check_every_minutes
        self.scheduler = AsyncIOScheduler(timezone=bot.settings.schedule.zone)
        self.lock = asyncio.Lock()
        self.warned: set[str] = set()

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
        """Owe what is due, then post everything owed; returns how many notices were posted."""
        async with self.lock:
            added = await self.bot.call(Exchange.check_schedules)
            if added:
                log.info("notices due: %s", ", ".join(added))
            return await self.post_owed()

    def channel_id(self, audience: str) -> int:
        settings = self.bot.settings.discord
        return (
            settings.steering_channel_id if audience == "steering" else settings.expert_channel_id
        )

    async def post_owed(self) -> int:
        """Post every owed notice whose audience has a channel; returns how many went out."""
        audiences = [a for a in ("steering", "expert") if self.channel_id(a)]
        for missing in {"steering", "expert"} - set(audiences) - self.warned:
            log.warning("no channel configured for %s notices; they stay owed", missing)
            self.warned.add(missing)
        notices: list[Notice] = await self.bot.call(
            Exchange.owed_notices, audiences, 50, max_attempts=SEND_ATTEMPTS
        )
        posted = 0
        for group in _grouped(notices):
            try:
                await self.post(group)
            except Exception as error:  # one notice must not hold up the others
                for notice in group:
                    await self.bot.call(Exchange.mark_notice_failed, notice.id, str(error)[:200])
                log.warning("notices %s could not be posted: %s", [n.id for n in group], error)
                continue
            for notice in group:
                await self.bot.call(Exchange.mark_notice_sent, notice.id)
            posted += len(group)
        return posted

    async def post(self, group: list[Notice]) -> None:
        """One message (or a few, if long) for a notice or a group of overdue flags.

        A single notice resumes after the parts already posted, so a retry never repeats
        them; a group is only ever made of notices not yet tried.
        """
        first = group[0]
        channel_id = self.channel_id(first.audience)
        channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise TypeError(f"channel {channel_id} cannot receive messages")
        if len(group) == 1:
            body, tag = first.body, f"n{first.id}"
        else:
            heading = f"# {len(group)} questions have waited past the limit"
            body = "\n\n".join([heading, *("#" + n.body for n in group)])
            tag = f"g{first.id}-{len(group)}"
        colour = discord.Colour.blue() if first.kind == "digest" else discord.Colour.orange()
        for part, embeds in enumerate(markdown_embeds(body, colour)):
            if part < first.parts_sent:
                continue
            await channel.send(embeds=embeds, nonce=f"psnx-{tag}-{part}")
            if len(group) == 1:
                await self.bot.call(Exchange.mark_notice_part_sent, first.id, part + 1)


def _grouped(notices: list[Notice]) -> list[list[Notice]]:
    """Each notice alone, except overdue flags for one audience, which go out together."""
    groups: list[list[Notice]] = []
    flags: dict[str, list[Notice]] = {}
    for notice in notices:
        # Only flags never tried go together: one Discord refuses must not sink the rest.
        if notice.kind == "overdue" and notice.attempts == 0 and not notice.failed_before:
            flags.setdefault(notice.audience, []).append(notice)
        else:
            groups.append([notice])
    return groups + list(flags.values())


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
