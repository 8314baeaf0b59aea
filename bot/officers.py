"""Officers' slash commands: /ask, /authority, /follow, /search, /mine, /withdraw.

Each callback parses, calls the exchange, renders. Rules live in knowledge/.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Awaitable
from typing import Any, Literal, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.budget import clip
from bot.client import ExchangeBot
from bot.interactions import ExchangeModal, guarded, open_form
from bot.render import (
    answer_embed,
    authorities_wait,
    mine_embed,
    notes_embed,
    outcome_embed,
    questions_embed,
    reply_embed,
    search_embed,
    shown,
)
from bot.suggestions import (
    HelpfulButton,
    NoteModal,
    ReplyModal,
    ShareButton,
    SuggestionButton,
    post_new_question,
    suggestion_view,
)
from knowledge.errors import InvalidInput, NotAllowed
from knowledge.exchange import Exchange
from knowledge.models import NewQuestion, SearchHit
from knowledge.text import plural, question_id, release_due, reworded_message

T = TypeVar("T")

# UI callbacks receive the base Interaction type; `interaction.client` is our ExchangeBot.
Interaction = discord.Interaction[Any]

# Discord drops an autocomplete not answered within 3 seconds; an empty list in time is better.
AUTOCOMPLETE_WAIT = 2.0


async def quickly(read: Awaitable[T]) -> T | None:
    """An autocomplete's read, or None if it waits too long (behind a slow write, say)."""
    try:
        return await asyncio.wait_for(read, timeout=AUTOCOMPLETE_WAIT)
    except TimeoutError:
        return None


class AskModal(ExchangeModal, title="Ask the PSN expert"):
    """The question, its topic and — the first time only — the officer's authority."""

    template = re.compile(r"psnx:ask(?P<authority>:authority)?")

    def __init__(self, bot: ExchangeBot, *, needs_authority: bool) -> None:
        super().__init__(custom_id="psnx:ask:authority" if needs_authority else "psnx:ask")
        limits = bot.settings.exchange
        self.question: discord.ui.TextInput[AskModal] = discord.ui.TextInput(
            custom_id="question",
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=min(limits.max_question_chars, 4000),
            placeholder="e.g. Will our GCSx Code of Connection compliance carry over to PSN?",
        )
        self.add_item(discord.ui.Label(text="Your question", component=self.question))
        self.topic: discord.ui.Select[AskModal] = discord.ui.Select(
            options=[
                discord.SelectOption(
                    label=t.capitalize(), value=t, default=t == limits.default_topic
                )
                for t in limits.topics[:25]
            ],
            required=False,
            custom_id="topic",
        )
        self.add_item(discord.ui.Label(text="Topic", component=self.topic))
        self.authority: discord.ui.TextInput[AskModal] | None = None
        if needs_authority:
            self.authority = discord.ui.TextInput(
                max_length=120, placeholder="e.g. Derbyshire County Council", custom_id="authority"
            )
            self.add_item(
                discord.ui.Label(
                    text="Your authority",
                    description="Asked once: the expert sees how many authorities need an answer.",
                    component=self.authority,
                )
            )

    @classmethod
    def from_custom_id(cls, interaction: Interaction, match: re.Match[str]) -> AskModal:
        return cls(interaction.client, needs_authority=match["authority"] is not None)

    async def on_submit(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = bot.actor(interaction.user)
        authority = self.authority.value if self.authority is not None else None
        topic = self.topic.values[0] if self.topic.values else None
        outcome = await bot.call(
            Exchange.ask, actor, self.question.value, topic=topic, authority=authority
        )
        if isinstance(outcome, NewQuestion):
            await post_new_question(
                bot, outcome.question, actor=actor, guild_id=interaction.guild_id
            )
        await interaction.followup.send(
            embed=outcome_embed(outcome), view=suggestion_view(outcome), ephemeral=True
        )

    def typed(self) -> str | None:
        return self.question.value


class ForgetButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"psnx:forget:(?P<user>[0-9]{1,20})"
):
    """The confirmation under /forget-me; only the person who asked can press it."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Erase my data",
                style=discord.ButtonStyle.danger,
                custom_id=f"psnx:forget:{user_id}",
            )
        )
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ForgetButton:
        return cls(int(match["user"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        if interaction.user.id != self.user_id:
            raise NotAllowed("Only the person who asked can erase their own data.")
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        kept = await bot.call(Exchange.forget_me, bot.actor(interaction.user))
        await interaction.followup.send(
            "Done: your name and Discord identity are erased from the exchange. "
            f"{plural(kept, 'question')} you asked stay without your name, so their "
            "answers still help others.",
            ephemeral=True,
        )


class OfficersCog(commands.Cog):
    def __init__(self, bot: ExchangeBot) -> None:
        self.bot = bot
        bot.add_dynamic_items(SuggestionButton, ForgetButton, ShareButton, HelpfulButton)
        bot.forms.add(AskModal, ReplyModal, NoteModal)

    @app_commands.command(name="mydata", description="Everything the exchange keeps about you")
    async def mydata(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.bot.call(Exchange.my_data, self.bot.actor(interaction.user))
        payload = json.dumps(data, indent=2, ensure_ascii=False).encode()
        await interaction.followup.send(
            "Everything the exchange keeps about you is in the attached file.",
            file=discord.File(io.BytesIO(payload), filename="psn-exchange-my-data.json"),
            ephemeral=True,
        )

    @app_commands.command(
        name="forget-me", description="Erase your name; your questions stay, anonymised"
    )
    async def forget_me(self, interaction: Interaction) -> None:
        view = discord.ui.View(timeout=None)
        view.add_item(ForgetButton(interaction.user.id))
        await interaction.response.send_message(
            "This erases your name and Discord identity from the exchange, your pending "
            "suggestions and any messages not yet delivered to you. Your questions stay, "
            "without your name, so their answers keep helping others. It cannot be undone.",
            view=view,
            ephemeral=True,
        )

    @app_commands.command(name="ask", description="Ask the PSN expert a question")
    async def ask(self, interaction: Interaction) -> None:
        actor = self.bot.actor(interaction.user)
        try:
            # A modal must be the first response, within Discord's 3 seconds: don't wait long.
            authority = await asyncio.wait_for(
                self.bot.call(Exchange.authority_of, actor), timeout=1.5
            )
        except TimeoutError:
            authority = "unknown"  # if it is missing after all, the form's refusal says so
        await open_form(interaction, AskModal(self.bot, needs_authority=authority is None))

    @app_commands.command(name="authority", description="Set or change the authority you work for")
    @app_commands.describe(name="Your council, trust, force or consortium")
    async def authority(self, interaction: Interaction, name: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        stored = await self.bot.call(Exchange.set_authority, self.bot.actor(interaction.user), name)
        await interaction.followup.send(
            f"Thank you — you are recorded as working for {shown(stored)}.", ephemeral=True
        )

    @authority.autocomplete("name")
    async def authority_names(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        wanted = current.lower()
        known = await quickly(self.bot.call(Exchange.authority_names)) or []
        names = [a for a in known if wanted in a.lower()]
        return [app_commands.Choice(name=n[:100], value=n[:100]) for n in names[:25]]

    @app_commands.command(
        name="follow", description="Wait on an existing question instead of asking it again"
    )
    @app_commands.describe(question="The question's id, e.g. Q-12 (type words to find it)")
    async def follow(self, interaction: Interaction, question: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        followed = await self.bot.call(Exchange.follow, self.bot.actor(interaction.user), question)
        if followed.answer is not None:
            await interaction.followup.send(
                f"You now follow {followed.question.ref}. It is already answered:",
                embed=answer_embed(followed.question, followed.answer),
                ephemeral=True,
            )
            return
        waiting = authorities_wait(followed.question.authorities)
        await interaction.followup.send(
            f"You now follow {followed.question.ref}: {waiting} on it. "
            "You will receive its answer by direct message.",
            ephemeral=True,
        )

    @follow.autocomplete("question")
    async def open_questions(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.question_choices(current)

    async def question_choices(self, current: str) -> list[app_commands.Choice[str]]:
        if len(current.strip()) < 2:
            return []
        try:
            hits = await quickly(self.bot.call(Exchange.search, current, 25)) or []
        except InvalidInput:
            return []
        return [
            app_commands.Choice(
                name=clip(f"{h.question.ref} {h.question.text}", 100), value=h.question.ref
            )
            for h in hits
        ]

    @app_commands.command(
        name="search", description="Search the published answers and waiting questions"
    )
    @app_commands.describe(text="Words to look for, or a question id")
    async def search(self, interaction: Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        if re.fullmatch(r"\s*[Qq]-?\d{1,9}\s*", text):
            question, answer = await self.bot.call(Exchange.question, text)
            hits = [SearchHit(question, answer)]
        else:
            hits = await self.bot.call(Exchange.search, text)
        await interaction.followup.send(embed=search_embed(text, hits), ephemeral=True)

    @search.autocomplete("text")
    async def search_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.question_choices(current)

    @app_commands.command(
        name="mine", description="Your questions, their status and queue position"
    )
    async def mine(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        items = await self.bot.call(Exchange.mine, self.bot.actor(interaction.user))
        due = release_due(await self.bot.call(Exchange.next_release))
        await interaction.followup.send(embed=mine_embed(items, due), ephemeral=True)

    @app_commands.command(
        name="reply", description="Share your authority's experience on a question"
    )
    @app_commands.describe(question="The question's id, e.g. Q-12 (type words to find it)")
    async def reply(self, interaction: Interaction, question: str) -> None:
        """Opens the reply form for the question (found first, quickly: a form must open
        within Discord's 3 seconds, and nobody should type for a question that is not there)."""
        try:
            found, _ = await asyncio.wait_for(
                self.bot.call(Exchange.question, question_id(question)), timeout=1.5
            )
            target = found.id
        except TimeoutError:
            target = question_id(question)
        await open_form(interaction, ReplyModal(target))

    @reply.autocomplete("question")
    async def questions_to_reply_to(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.question_choices(current)

    @app_commands.command(
        name="share", description="Share your authority's learning (a case study, a lesson)"
    )
    async def share(self, interaction: Interaction) -> None:
        """Opens the note form (title, text, links, topic)."""
        await open_form(interaction, NoteModal())

    @app_commands.command(name="notes", description="The notes authorities have shared")
    @app_commands.describe(topic="Only this topic (optional)")
    async def notes(self, interaction: Interaction, topic: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.call(Exchange.notes, topic)
        await interaction.followup.send(embed=notes_embed(found), ephemeral=True)

    @app_commands.command(name="questions", description="Browse the exchange's questions")
    @app_commands.describe(
        topic="Only this topic", which="open (the default), answered or all", page="From 1"
    )
    async def questions(
        self,
        interaction: Interaction,
        topic: str | None = None,
        which: Literal["open", "answered", "all"] = "open",
        page: app_commands.Range[int, 1, 10_000] = 1,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        size = 10
        listed, total = await self.bot.call(
            Exchange.questions, topic, which, limit=size, offset=(page - 1) * size
        )
        await interaction.followup.send(
            embed=questions_embed(listed, total, which, page, -(-total // size)), ephemeral=True
        )

    @app_commands.command(name="replies", description="The peer replies to a question")
    @app_commands.describe(question="The question's id, e.g. Q-12")
    async def replies(self, interaction: Interaction, question: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found, shared = await self.bot.call(Exchange.replies, question)
        if not shared:
            await interaction.followup.send(
                f"No peer replies to {found.ref} yet. /reply shares yours.", ephemeral=True
            )
            return
        # The newest ten, one a message: each may need most of the 6,000 an embed may hold.
        for shown_reply in shared[-10:]:
            await interaction.followup.send(embed=reply_embed(found, shown_reply), ephemeral=True)

    @app_commands.command(name="helpful", description="A peer reply helped you")
    @app_commands.describe(reply="The reply's id, e.g. R-12 (/replies lists them)")
    async def helpful(self, interaction: Interaction, reply: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        marked = await self.bot.call(Exchange.mark_reply, self.bot.actor(interaction.user), reply)
        await interaction.followup.send(f"Noted: {marked.ref} helped you.", ephemeral=True)

    @app_commands.command(name="solved", description="A peer reply answered your question")
    @app_commands.describe(reply="The reply's id, e.g. R-12 (/replies lists them)")
    async def solved(self, interaction: Interaction, reply: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        marked = await self.bot.call(
            Exchange.mark_reply, self.bot.actor(interaction.user), reply, solved=True
        )
        await interaction.followup.send(
            f"Noted: {marked.ref} answered your question, so your ask no longer waits in the "
            f"expert's queue. You still follow Q-{marked.question_id} and will get its answer.",
            ephemeral=True,
        )

    @app_commands.command(
        name="notify", description="Whether you are sent peer replies to questions you wait on"
    )
    @app_commands.describe(replies="on or off")
    async def notify(self, interaction: Interaction, replies: Literal["on", "off"]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        on = replies == "on"
        await self.bot.call(Exchange.set_reply_notices, self.bot.actor(interaction.user), on)
        await interaction.followup.send(
            "You will be sent peer replies to the questions you wait on."
            if on
            else "You will no longer be sent peer replies (/replies still shows them).",
            ephemeral=True,
        )

    @app_commands.command(
        name="reword",
        description="Reword a question: your own while nobody else waits on it (the expert: any)",
    )
    @app_commands.describe(question="The question's id, e.g. Q-12", text="The new wording")
    async def reword(
        self,
        interaction: Interaction,
        question: str,
        text: app_commands.Range[str, 1, 4000],
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reworded = await self.bot.call(
            Exchange.reword, self.bot.actor(interaction.user), question, text
        )
        await interaction.followup.send(
            shown(reworded_message(reworded.ref, reworded.text)), ephemeral=True
        )

    @reword.autocomplete("question")
    async def questions_to_reword(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.question_choices(current)

    @app_commands.command(name="withdraw", description="Withdraw one of your own questions")
    @app_commands.describe(question="Your question's id, e.g. Q-12")
    async def withdraw(self, interaction: Interaction, question: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.bot.call(Exchange.withdraw, self.bot.actor(interaction.user), question)
        await interaction.followup.send(
            f"You withdrew from {result.ref} ({result.status.value.replace('_', ' ')}).",
            ephemeral=True,
        )

    @withdraw.autocomplete("question")
    async def my_questions(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        items = await quickly(self.bot.call(Exchange.mine, self.bot.actor(interaction.user))) or []
        wanted = current.lower()
        return [
            app_commands.Choice(
                name=clip(f"{i.question.ref} {i.question.text}", 100), value=i.question.ref
            )
            for i in items
            if wanted in f"{i.question.ref} {i.question.text}".lower()
        ][:25]
