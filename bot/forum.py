"""A Forum channel as a way to ask: each new post is an ask, answered in its thread.

Reading a post's body needs the privileged Message Content intent (see the README).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from typing import Any

import discord
from discord.ext import commands

from bot.client import ExchangeBot
from bot.interactions import ExchangeModal, guarded, open_form
from bot.render import outcome_embed, shown
from bot.suggestions import suggestion_view
from bot.threads import ThreadLocked, post_in
from knowledge.addresses import Address
from knowledge.errors import AuthorityNeeded, ExchangeError
from knowledge.exchange import Exchange

log = logging.getLogger(__name__)

# UI callbacks receive the base Interaction type; `interaction.client` is our ExchangeBot.
Interaction = discord.Interaction[Any]


def post_text(title: str, body: str) -> str:
    """The question asked by a forum post: its title, and its body when that adds something."""
    body = body.strip()
    if not body or body == title.strip():
        return title
    return f"{title.strip()}\n{body}"


# Discord may deliver a forum post's starter message after THREAD_CREATE
# (https://discord.com/developers/docs/topics/threads#forums): until it exists, fetching it
# gives 404 with code 10008 (Unknown Message) and posting in the thread 400 with code 40058
# (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json). Both are waited
# out with a short backoff (about 3 s in all), then given up as any other refusal.
UNKNOWN_MESSAGE, NO_FIRST_MESSAGE_YET = 10008, 40058
WAITS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)


# Set once a forum's first scan is done; before every server had its own forum, one key
# (this one, alone) said so for the one forum, `discord.forum_channel_id`.
SCANNED_KEY = "forum_posts_scanned"


def scanned_key(forum_id: int) -> str:
    """The front-end fact that the forum `forum_id` has had its first scan."""
    return f"{SCANNED_KEY}:{Address.discord_channel(forum_id)}"


def archive_floor_key(forum_id: int) -> str:
    """When the bot began reading the forum's archived posts: posts made before then are
    never taken from the archive (the first scan left the posts already there alone)."""
    return f"forum_archive_floor:{Address.discord_channel(forum_id)}"


def last_scan_key(forum_id: int) -> str:
    """When the forum's last full scan (active and archived posts) began."""
    return f"forum_last_scan:{Address.discord_channel(forum_id)}"


# Posts archived this long before the last scan began are read again: the bot's clock and
# Discord's may differ a little, and a post taken twice is not asked twice (taken_key).
SCAN_MARGIN = timedelta(hours=1)


def created_at(thread: discord.Thread) -> datetime:
    """When a thread was made: Discord gives it for threads since 2022-01-09; before that,
    the thread id's own timestamp."""
    return thread.created_at or discord.utils.snowflake_time(thread.id)


def taken_key(thread_id: int) -> str:
    """The front-end fact that the post in `thread_id` (its place) was taken as an ask."""
    return f"forum_post_taken:{Address.discord_channel(thread_id)}"


async def starter_of(thread: discord.Thread) -> discord.Message:
    """The post's starter message (same id as the thread), waiting for it if it is late."""
    for wait in (*WAITS, None):
        if thread.starter_message is not None:
            return thread.starter_message
        try:
            return await thread.fetch_message(thread.id)
        except discord.NotFound as error:
            if error.code != UNKNOWN_MESSAGE or wait is None:
                raise
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def send_in_post(thread: discord.Thread, *args: Any, **kwargs: Any) -> None:
    """`thread.send`, retried while the thread takes no message before its starter (40058);
    ThreadLocked if a moderator has locked the post."""
    for wait in (*WAITS, None):
        try:
            await post_in(thread, *args, **kwargs)
            return
        except discord.HTTPException as error:
            if error.code != NO_FIRST_MESSAGE_YET or wait is None:
                raise
        await asyncio.sleep(wait)


async def take_post(bot: ExchangeBot, thread: discord.Thread) -> None:
    """Ask the exchange the question in `thread` and reply there with the outcome."""
    starter = await starter_of(thread)
    owner = thread.owner or await thread.guild.fetch_member(thread.owner_id)
    parent = thread.parent
    topics = {t.lower(): t for t in bot.settings.exchange.topics}
    tags = [tag.name.lower() for tag in thread.applied_tags] if parent else []
    topic = next((topics[t] for t in tags if t in topics), None)
    actor = bot.actor(owner)
    try:
        outcome = await bot.call(
            Exchange.ask,
            actor,
            post_text(thread.name, starter.content),
            topic=topic,
            place=str(Address.discord_channel(thread.id)),
        )
    except AuthorityNeeded as needed:
        await bot.call(Exchange.remember_front_end_fact, taken_key(thread.id), "authority")
        view = discord.ui.View(timeout=None)
        view.add_item(AuthorityButton(thread.id))
        await send_in_post(
            thread,
            f"<@{owner.id}> {shown(str(needed))}",
            view=view,
            allowed_mentions=discord.AllowedMentions(users=[owner]),
        )
        return
    except ExchangeError as refused:
        await bot.call(Exchange.remember_front_end_fact, taken_key(thread.id), "refused")
        await send_in_post(
            thread,
            f"<@{owner.id}> {shown(str(refused))}",
            allowed_mentions=discord.AllowedMentions(users=[owner]),
        )
        return
    await bot.call(Exchange.remember_front_end_fact, taken_key(thread.id), "asked")
    await send_in_post(thread, embed=outcome_embed(outcome), view=suggestion_view(outcome))


class AuthorityButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"psnx:forum:authority:(?P<thread>[0-9]{1,20})",
):
    def __init__(self, thread_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Tell us your authority",
                style=discord.ButtonStyle.primary,
                custom_id=f"psnx:forum:authority:{thread_id}",
            )
        )
        self.thread_id = thread_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> AuthorityButton:
        return cls(int(match["thread"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        await open_form(interaction, AuthorityModal(self.thread_id))


class AuthorityModal(ExchangeModal):
    """The officer's authority, for their forum post: its custom id names the post, so a
    submit after a restart or a long wait still takes it."""

    template = re.compile(r"psnx:forum:authority-form:(?P<thread>[0-9]{1,20})")

    def __init__(self, thread_id: int) -> None:
        super().__init__(title="Your authority", custom_id=f"psnx:forum:authority-form:{thread_id}")
        self.thread_id = thread_id
        self.name: discord.ui.TextInput[AuthorityModal] = discord.ui.TextInput(
            max_length=120, placeholder="e.g. Derbyshire County Council", custom_id="authority"
        )
        self.add_item(discord.ui.Label(text="The authority you work for", component=self.name))

    @classmethod
    def from_custom_id(cls, interaction: Interaction, match: re.Match[str]) -> AuthorityModal:
        return cls(int(match["thread"]))

    def typed(self) -> str | None:
        return self.name.value

    async def on_submit(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = bot.get_channel(self.thread_id) or await bot.fetch_channel(self.thread_id)
        assert isinstance(thread, discord.Thread)
        if thread.owner_id != interaction.user.id:
            await interaction.followup.send(
                "Only the officer who wrote this post can answer that.", ephemeral=True
            )
            return
        stored = await bot.call(
            Exchange.set_authority, bot.actor(interaction.user), self.name.value
        )
        await interaction.followup.send(f"Thank you — recorded as {shown(stored)}.", ephemeral=True)
        try:
            await take_post(bot, thread)
        except ThreadLocked:
            log.warning("forum post %s is locked, so the bot cannot reply in it", thread.id)
            await interaction.followup.send(
                "Your post has been locked by a moderator, so I cannot reply in it. "
                "Ask a moderator to reopen it, or ask again with /ask.",
                ephemeral=True,
            )


class ForumCog(commands.Cog):
    def __init__(self, bot: ExchangeBot) -> None:
        self.bot = bot
        self.taking: set[int] = set()  # thread ids taken (or being taken) in this run
        bot.add_dynamic_items(AuthorityButton)
        bot.forms.add(AuthorityModal)

    @commands.Cog.listener()
    async def on_thread_create(self, thread: discord.Thread) -> None:
        await self.take_new(thread)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A message another officer types in a question's thread or forum post is a peer
        reply (read only with the Message Content intent, which a forum turns on)."""
        channel = message.channel
        if message.author.bot or not isinstance(channel, discord.Thread):
            return
        if not message.content.strip() or message.id == channel.id:  # a post's starter
            return
        bot, author = self.bot, message.author
        place = str(Address.discord_channel(channel.id))
        try:
            shared = await bot.call(
                Exchange.reply_in_place, bot.actor(author), place, message.content
            )
        except ExchangeError as refused:
            said = f"<@{author.id}> {shown(str(refused))}"
        else:
            if shared is None:
                return  # not a question's thread, or the writer's own question
            bot.deliveries_due.set()
            said = (
                f"<@{author.id}> thank you — kept as {shared.ref}, a peer's experience, and "
                "sent to the officers waiting on this question."
            )
        try:
            await post_in(channel, said, allowed_mentions=discord.AllowedMentions(users=[author]))
        except (ThreadLocked, discord.HTTPException) as error:
            log.warning("could not answer a message in thread %s: %s", channel.id, error)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Posts made while the bot was down: each forum's active threads (GUILD_CREATE
        brings them) not yet taken are taken now, once each."""
        for forum_id in self.bot.settings.discord.channel_ids("forum"):
            forum = self.bot.get_channel(forum_id)
            if isinstance(forum, discord.ForumChannel):
                await self.scan(forum)

    async def scan(self, forum: discord.ForumChannel) -> None:
        started = discord.utils.utcnow()
        active = [t for t in forum.threads if not (t.archived or t.locked)]
        if not await self.scanned_before(forum.id):
            # The first scan (a new install, a new server's forum, or an upgrade from a bot
            # that did not record what it took): the posts already there are not this bot's
            # to take (again).
            for thread in active:
                await self.bot.call(
                    Exchange.remember_front_end_fact, taken_key(thread.id), "before"
                )
            await self.bot.call(Exchange.remember_front_end_fact, scanned_key(forum.id), "yes")
            await self.scan_archived(forum, started)
            return
        for thread in sorted(active, key=lambda t: t.id):
            await self.take_new(thread)
        await self.scan_archived(forum, started)

    async def scan_archived(self, forum: discord.ForumChannel, started: datetime) -> None:
        """Posts made while the bot was down that went quiet and were archived before it
        came back (GUILD_CREATE brings active threads only): those archived since the last
        scan began, made since the bot first read the archive, not taken yet.

        Each scan reads back to the one before it, so every post made while the bot was down
        is either active at the next start or archived after the last scan began."""
        floor = await self.bot.call(Exchange.front_end_fact, archive_floor_key(forum.id))
        last = await self.bot.call(Exchange.front_end_fact, last_scan_key(forum.id))
        if floor is None or last is None:
            # A new forum, or a bot from before archived posts were read: from now on.
            now = started.isoformat()
            await self.bot.call(Exchange.remember_front_end_fact, archive_floor_key(forum.id), now)
            await self.bot.call(Exchange.remember_front_end_fact, last_scan_key(forum.id), now)
            return
        made_since, archived_since = datetime.fromisoformat(floor), datetime.fromisoformat(last)
        try:
            # Newest archived first (one request per 100 posts).
            async for thread in forum.archived_threads(limit=None):
                archived = thread.archive_timestamp
                if archived < archived_since - SCAN_MARGIN:
                    break
                # (Posts made after the floor while the bot ran came as THREAD_CREATE.)
                if created_at(thread) >= made_since:
                    await self.take_new(thread)
        except discord.HTTPException as error:
            # Read Message History missing (403/50013), say: the README's invite grants it.
            log.warning(
                "could not read forum %s's archived posts (%s %s); posts made while the bot "
                "was down and archived since are taken at a later start",
                forum.id,
                error.status,
                error.code,
            )
            return  # the last scan stays where it was, so the next start reads them again
        await self.bot.call(
            Exchange.remember_front_end_fact, last_scan_key(forum.id), started.isoformat()
        )

    async def scanned_before(self, forum_id: int) -> bool:
        if await self.bot.call(Exchange.front_end_fact, scanned_key(forum_id)) is not None:
            return True
        # Recorded by a bot from before servers had forums of their own: for the one forum.
        legacy = forum_id == self.bot.settings.discord.forum_channel_id
        return legacy and await self.bot.call(Exchange.front_end_fact, SCANNED_KEY) is not None

    async def take_new(self, thread: discord.Thread) -> None:
        """Take a post not taken before (by its place), in this run or an earlier one."""
        if thread.parent_id not in self.bot.settings.discord.channel_ids("forum"):
            return
        if self.bot.user is not None and thread.owner_id == self.bot.user.id:
            return  # our own posts of questions asked with /ask
        if thread.id in self.taking:
            return
        self.taking.add(thread.id)
        if await self.bot.call(Exchange.front_end_fact, taken_key(thread.id)) is not None:
            return
        try:
            await take_post(self.bot, thread)
        except ThreadLocked:
            log.warning("forum post %s is locked, so the bot cannot reply in it", thread.id)
        except discord.HTTPException as error:
            log.warning("could not take forum post %s: %s", thread.id, error.status)
