"""What an ask offers next: the suggestion buttons, and posting a new question publicly.

/ask (officers) and forum posts (forum) both offer them, so they live below the cogs and
import none.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import discord

from bot.budget import clip
from bot.client import ExchangeBot
from bot.interactions import ExchangeModal, guarded, open_form
from bot.render import authorities_wait, outcome_embed, posted_question
from bot.threads import ThreadLocked, post_in
from knowledge.addresses import Address
from knowledge.exchange import Exchange
from knowledge.models import AnsweredMatch, NewQuestion, OpenMatch, Question

log = logging.getLogger(__name__)

# UI callbacks receive the base Interaction type; `interaction.client` is our ExchangeBot.
Interaction = discord.Interaction[Any]


class SuggestionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=(
        r"psnx:sug:(?P<action>accept|follow|anyway):(?P<draft>[0-9]{1,12}):(?P<question>[0-9]{1,12})"
    ),
):
    """The buttons under a suggestion: accept the answer, follow, or ask anyway.

    Their custom ids carry the draft and question, so they work after a restart.
    """

    LABELS: ClassVar[dict[str, tuple[str, discord.ButtonStyle]]] = {
        "accept": ("That answers it", discord.ButtonStyle.success),
        "follow": ("Follow it", discord.ButtonStyle.primary),
        "anyway": ("Not the same — ask anyway", discord.ButtonStyle.secondary),
    }

    def __init__(
        self, action: str, draft_id: int, question_id: int, *, label: str | None = None
    ) -> None:
        default, style = self.LABELS[action]
        label = label or default
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                custom_id=f"psnx:sug:{action}:{draft_id}:{question_id}",
            )
        )
        self.action, self.draft_id, self.question_id = action, draft_id, question_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SuggestionButton:
        return cls(match["action"], int(match["draft"]), int(match["question"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        await self.act(interaction)

    async def act(self, interaction: Interaction) -> None:
        bot = interaction.client
        actor = bot.actor(interaction.user)
        await interaction.response.defer(ephemeral=True, thinking=True)
        if self.action == "accept":
            question = await bot.call(Exchange.accept_answer, actor, self.draft_id)
            await interaction.followup.send(
                f"Glad {question.ref} answered it. Nothing was added to the queue.", ephemeral=True
            )
        elif self.action == "follow":
            followed = await bot.call(Exchange.follow, actor, self.question_id, self.draft_id)
            if followed.answer is not None:
                text = f"You now follow {followed.question.ref}; its answer is above."
            else:
                waiting = authorities_wait(followed.question.authorities)
                text = (
                    f"You now follow {followed.question.ref}: {waiting} on it. "
                    "You will receive its answer by direct message."
                )
            await interaction.followup.send(text, ephemeral=True)
        else:
            outcome = await bot.call(Exchange.ask_anyway, actor, self.draft_id)
            channel = interaction.channel
            forums = bot.settings.discord.channel_ids("forum")
            note = discord.utils.MISSING  # no text beside the outcome, unless the post is locked
            if isinstance(channel, discord.Thread) and channel.parent_id in forums:
                # Asked in a forum post: that post is the question's place; say so there.
                try:
                    await post_in(
                        channel,
                        f"Asked as a new question: **{outcome.question.ref}**. "
                        "The answer will be posted here.",
                    )
                except ThreadLocked:
                    log.warning(
                        "forum post %s is locked, so the bot cannot reply in it", channel.id
                    )
                    note = (
                        "This post has been locked by a moderator, so the answer cannot be "
                        "posted in it; it will reach you by direct message."
                    )
            else:
                await post_new_question(
                    bot, outcome.question, actor=actor, guild_id=interaction.guild_id
                )
            await interaction.followup.send(note, embed=outcome_embed(outcome), ephemeral=True)


def suggestion_view(outcome: AnsweredMatch | OpenMatch | NewQuestion) -> discord.ui.View:
    """The buttons under an ask's outcome: none for a new question."""
    view = discord.ui.View(timeout=None)
    if isinstance(outcome, AnsweredMatch):
        actions = ["accept", "anyway"]
    elif isinstance(outcome, OpenMatch):
        actions = ["follow", "anyway"]
    else:
        return view
    for action in actions:
        view.add_item(SuggestionButton(action, outcome.draft_id, outcome.question.id))
    for other in outcome.others:  # "or is it one of these?"
        view.add_item(
            SuggestionButton(
                "follow", outcome.draft_id, other.question.id, label=f"Follow {other.question.ref}"
            )
        )
    return view


async def post_new_question(
    bot: ExchangeBot, question: Question, *, actor: Any, guild_id: int | None
) -> None:
    """Post a new question publicly (forum post or questions-channel thread) in the server
    it was asked in (`guild_id`; None for a DM), and record where.

    The question is already saved; if Discord refuses the post, the officer still gets the
    answer by direct message, so this only logs.
    """
    channels = bot.settings.discord.channels(guild_id)
    authority = await bot.call(Exchange.authority_of, actor)
    content = posted_question(
        question, authority if bot.settings.exchange.name_authorities_in_answers else None
    )
    name = clip(f"{question.ref} {question.text}", 100)
    try:
        forum = bot.get_channel(channels.forum) if channels.forum else None
        channel = bot.get_channel(channels.questions) if channels.questions else None
        if isinstance(forum, discord.ForumChannel):
            tags = [t for t in forum.available_tags if t.name.lower() == question.topic.lower()]
            if not tags and forum.flags.require_tag:
                # Such a forum refuses a post without a tag (40067): take the first one the
                # bot may set (a moderated tag needs Manage Threads).
                tags = [t for t in forum.available_tags if not t.moderated]
            created = await forum.create_thread(
                name=name, content=content, applied_tags=tags[:1], view=share_view(question.id)
            )
            place = created.thread.id
        elif isinstance(channel, discord.TextChannel):
            message = await channel.send(content, view=share_view(question.id))
            thread = await message.create_thread(name=name)
            place = thread.id
        else:
            return
    except discord.HTTPException as error:
        log.warning("could not post question %s publicly: %s", question.id, error.status)
        return
    await bot.call(Exchange.set_place, question.id, str(Address.discord_channel(place)))


class ReplyModal(ExchangeModal):
    """A peer reply's form: the officer's authority's experience, and any links. Its custom
    id names the question, so a submit after a restart or a long wait still counts."""

    template = re.compile(r"psnx:reply:(?P<question>[0-9]{1,12})")

    def __init__(self, question_id: int) -> None:
        super().__init__(
            title=f"Your experience on Q-{question_id}", custom_id=f"psnx:reply:{question_id}"
        )
        self.question_id = question_id
        self.text: discord.ui.TextInput[ReplyModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=4000,
            custom_id="text",
            placeholder="What your authority did or learned (not the Cabinet Office answer)",
        )
        self.add_item(discord.ui.Label(text="Your authority's experience", component=self.text))
        self.links: discord.ui.TextInput[ReplyModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=2000,
            placeholder="https://… (one per line)",
            custom_id="links",
        )
        self.add_item(discord.ui.Label(text="Links (optional)", component=self.links))

    @classmethod
    def from_custom_id(cls, interaction: Any, match: re.Match[str]) -> ReplyModal:
        return cls(int(match["question"]))

    def typed(self) -> str | None:
        links = self.links.value.strip()
        return f"{self.text.value}\n\n{links}" if links else self.text.value

    async def on_submit(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        shared = await bot.call(
            Exchange.reply,
            bot.actor(interaction.user),
            self.question_id,
            self.text.value,
            self.links.value.split(),
        )
        bot.deliveries_due.set()
        await interaction.followup.send(
            f"Thank you — your reply is {shared.ref} on Q-{shared.question_id}; the officers "
            "waiting on it are sent it, as a peer's experience.",
            ephemeral=True,
        )


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"psnx:share:(?P<question>[0-9]{1,12})",
):
    """'Share your experience' under a question's public post: opens the reply form."""

    def __init__(self, question_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Share your experience",
                style=discord.ButtonStyle.secondary,
                custom_id=f"psnx:share:{question_id}",
            )
        )
        self.question_id = question_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ShareButton:
        return cls(int(match["question"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        await open_form(interaction, ReplyModal(self.question_id))


def share_view(question_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ShareButton(question_id))
    return view


class HelpfulButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"psnx:helpful:(?P<reply>[0-9]{1,12})",
):
    """'This helped' under a peer reply sent to an officer: marks it helpful, once."""

    def __init__(self, reply_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="This helped",
                style=discord.ButtonStyle.success,
                custom_id=f"psnx:helpful:{reply_id}",
            )
        )
        self.reply_id = reply_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> HelpfulButton:
        return cls(int(match["reply"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        marked = await bot.call(Exchange.mark_reply, bot.actor(interaction.user), self.reply_id)
        await interaction.followup.send(
            f"Noted: {marked.ref} helped you. /solved {marked.ref} if it answered your question.",
            ephemeral=True,
        )


def helpful_view(reply_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(HelpfulButton(reply_id))
    return view


class NoteModal(ExchangeModal):
    """A shared note's form: title, text, links and (optionally) a topic. A submit after a
    restart still counts (the custom id says all it needs); a refusal gives back the text."""

    template = re.compile(r"psnx:note")

    def __init__(self) -> None:
        super().__init__(title="Share your authority's learning", custom_id="psnx:note")
        self.heading: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
            max_length=200, min_length=3, custom_id="title"
        )
        self.add_item(discord.ui.Label(text="Title", component=self.heading))
        self.text: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=4000,
            custom_id="text",
            placeholder="A case study, a lesson, a contract clause that worked",
        )
        self.add_item(discord.ui.Label(text="What your authority learned", component=self.text))
        self.links: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=2000,
            placeholder="https://… (one per line)",
            custom_id="links",
        )
        self.add_item(discord.ui.Label(text="Links (optional)", component=self.links))
        self.topic: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(
            required=False, max_length=40, custom_id="topic", placeholder="e.g. procurement"
        )
        self.add_item(discord.ui.Label(text="Topic (optional)", component=self.topic))

    @classmethod
    def from_custom_id(cls, interaction: Any, match: re.Match[str]) -> NoteModal:
        return cls()

    def typed(self) -> str | None:
        return f"{self.heading.value}\n\n{self.text.value}\n\n{self.links.value}".strip()

    async def on_submit(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        note = await bot.call(
            Exchange.share_note,
            bot.actor(interaction.user),
            self.heading.value,
            self.text.value,
            self.links.value.split(),
            self.topic.value.strip() or None,
        )
        await interaction.followup.send(
            f"Thank you — shared as {note.ref} under {note.topic}; /notes lists it.",
            ephemeral=True,
        )
