"""The expert's commands: /queue (a page at a time, with answer and merge buttons),
/answer, /drafts, /discard, /merge, /unmerge, /distinct, /publish (shown, then confirmed
with a button); and the admin's /exchange-sync."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import ExchangeBot
from bot.interactions import ExchangeModal, guarded, open_form
from bot.render import authorities_wait, drafts_embed, queue_embed
from knowledge.exchange import Exchange
from knowledge.models import Answer, QueueEntry, Role, drafts_digest
from knowledge.text import (
    discarded_message,
    marked_message,
    plural,
    question_id,
    question_ref,
    unmerged_message,
)

# UI callbacks receive the base Interaction type; `interaction.client` is our ExchangeBot.
Interaction = discord.Interaction[Any]
PAGE_SIZE = 5


async def queue_message(
    bot: ExchangeBot, interaction: Interaction, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    actor = bot.actor(interaction.user)
    total: int = await bot.call(Exchange.queue_size, actor)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    shown: list[QueueEntry] = await bot.call(
        Exchange.queue, actor, limit=PAGE_SIZE, offset=page * PAGE_SIZE
    )
    view = discord.ui.View(timeout=None)
    for row, entry in enumerate(shown):
        view.add_item(QuestionButton("answer", entry.question.id, row=row))
        view.add_item(QuestionButton("merge", entry.question.id, row=row))
    if pages > 1:
        view.add_item(PageButton(page - 1, "◀ Previous", disabled=page == 0))
        view.add_item(PageButton(page + 1, "Next ▶", disabled=page >= pages - 1))
    return queue_embed(shown, page, pages, total), view


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"psnx:queue:page:(?P<page>[0-9]{1,6})"
):
    def __init__(self, page: int, label: str = "Page", *, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"psnx:queue:page:{max(page, 0)}",
                disabled=disabled,
                row=4,
            )
        )
        self.page = max(page, 0)

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PageButton:
        return cls(int(match["page"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        await interaction.response.defer()  # Discord's 3 seconds: acknowledge, then read the queue
        embed, view = await queue_message(interaction.client, interaction, self.page)
        await interaction.edit_original_response(embed=embed, view=view)


class QuestionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=(r"psnx:queue:(?P<action>answer|merge):(?P<question>[0-9]{1,12})"),
):
    """Answer or merge one queued question; opens a modal. Works after a restart."""

    def __init__(self, action: str, question_id: int, *, row: int | None = None) -> None:
        label = f"Answer Q-{question_id}" if action == "answer" else f"Merge Q-{question_id}…"
        style = discord.ButtonStyle.primary if action == "answer" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=f"psnx:queue:{action}:{question_id}", row=row
            )
        )
        self.action, self.question_id = action, question_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> QuestionButton:
        return cls(match["action"], int(match["question"]))

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        # Refuse before the expert-only modal opens, so nobody types an answer for nothing.
        Exchange.require(
            interaction.client.actor(interaction.user), Role.EXPERT, f"{self.action} questions"
        )
        modal = (
            AnswerModal(self.question_id)
            if self.action == "answer"
            else MergeModal(self.question_id)
        )
        await open_form(interaction, modal)


class AnswerModal(ExchangeModal):
    """The answer form; opened on a question with a draft, it holds that draft (its text
    and links), so answering again shows what it replaces and keeps what is not changed."""

    template = re.compile(r"psnx:answer:(?P<question>[0-9]{1,12})")

    def __init__(self, question_id: int, draft: Answer | None = None) -> None:
        super().__init__(title=f"Answer Q-{question_id}", custom_id=f"psnx:answer:{question_id}")
        self.question_id = question_id
        links = "\n".join(draft.links) if draft is not None else ""
        fits = draft is not None and len(draft.body) <= 4000 and len(links) <= 2000
        self.body: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=4000,
            custom_id="body",
            default=draft.body if fits and draft is not None else None,
        )
        self.add_item(discord.ui.Label(text="Answer", component=self.body))
        self.links: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=2000,
            placeholder="https://… (one per line)",
            custom_id="links",
            default=links if fits else None,
        )
        self.add_item(discord.ui.Label(text="Resource links", component=self.links))

    @classmethod
    def from_custom_id(cls, interaction: Interaction, match: re.Match[str]) -> AnswerModal:
        return cls(int(match["question"]))

    def typed(self) -> str | None:
        links = self.links.value.strip()
        return f"{self.body.value}\n\n{links}" if links else self.body.value

    async def on_submit(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        answer = await bot.call(
            Exchange.answer,
            bot.actor(interaction.user),
            self.question_id,
            self.body.value,
            self.links.value.split(),
        )
        await interaction.followup.send(
            f"Answer saved for Q-{answer.question_id} (version {answer.version}). "
            "It goes out with the next /publish.",
            ephemeral=True,
        )


class MergeModal(ExchangeModal):
    template = re.compile(r"psnx:merge:(?P<question>[0-9]{1,12})")

    def __init__(self, question_id: int) -> None:
        super().__init__(
            title=f"Merge Q-{question_id} into another question",
            custom_id=f"psnx:merge:{question_id}",
        )
        self.question_id = question_id
        self.target: discord.ui.TextInput[MergeModal] = discord.ui.TextInput(
            max_length=20, placeholder="e.g. Q-3", custom_id="target"
        )
        self.add_item(
            discord.ui.Label(
                text="Merge into question",
                description=f"Q-{question_id}'s askers will wait on that question instead.",
                component=self.target,
            )
        )

    @classmethod
    def from_custom_id(cls, interaction: Interaction, match: re.Match[str]) -> MergeModal:
        return cls(int(match["question"]))

    async def on_submit(self, interaction: Interaction) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = await bot.call(
            Exchange.merge, bot.actor(interaction.user), self.question_id, self.target.value
        )
        bot.deliveries_due.set()
        await interaction.followup.send(
            f"Merged Q-{self.question_id} into {target.ref}; "
            f"{authorities_wait(target.authorities)} on it now and the askers are told.",
            ephemeral=True,
        )


class PublishButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"psnx:publish:(?P<digest>[0-9a-f]{16})",
):
    """Confirms /publish for the drafts it was shown: their fingerprint is in the custom id,
    so the release is exactly what the expert saw (or nothing, if the drafts changed)."""

    def __init__(self, digest: str, label: str = "Publish") -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.success, custom_id=f"psnx:publish:{digest}"
            )
        )
        self.digest = digest

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PublishButton:
        return cls(match["digest"])

    @guarded
    async def callback(self, interaction: Interaction) -> None:
        bot = interaction.client
        actor = bot.actor(interaction.user)
        Exchange.require(actor, Role.EXPERT, "publish a release")
        await interaction.response.defer()  # Discord's 3 seconds: acknowledge, then publish
        release = await bot.call(Exchange.publish, actor, expected=self.digest)
        bot.deliveries_due.set()
        await interaction.edit_original_response(
            content=(
                f"Release {release.number} published: "
                f"{plural(len(release.question_ids), 'answer')}; "
                f"{plural(release.deliveries_owed, 'message')} on their way to the askers."
            ),
            view=None,
        )


class ExpertCog(commands.Cog):
    def __init__(self, bot: ExchangeBot) -> None:
        self.bot = bot
        bot.add_dynamic_items(PageButton, QuestionButton, PublishButton)
        bot.forms.add(AnswerModal, MergeModal)

    @app_commands.command(name="queue", description="(Expert) The ranked queue of unique questions")
    @app_commands.guild_only()
    async def queue(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        embed, view = await queue_message(self.bot, interaction, 0)
        await interaction.followup.send(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="answer", description="(Expert) Answer a question")
    @app_commands.describe(question="The question's id, e.g. Q-12")
    @app_commands.guild_only()
    async def answer(self, interaction: Interaction, question: str) -> None:
        Exchange.require(self.bot.actor(interaction.user), Role.EXPERT, "answer questions")
        # Look the question up first (quickly: the form must open within 3 seconds), so
        # the expert never writes an answer to a question that is not there.
        actor = self.bot.actor(interaction.user)
        draft: Answer | None = None
        try:
            found, _ = await asyncio.wait_for(
                self.bot.call(Exchange.question, question_id(question)), timeout=1.0
            )
            target = found.id  # a merged question's answer goes to the one it joined
            # Its draft, if any, fills the form: answering again shows what it replaces.
            draft = await asyncio.wait_for(self.bot.call(Exchange.draft, actor, target), 0.8)
        except TimeoutError:
            target = question_id(question)
        await open_form(interaction, AnswerModal(target, draft))

    @app_commands.command(
        name="merge", description="(Expert) Merge a duplicate question into another"
    )
    @app_commands.describe(
        question="The duplicate, e.g. Q-14", into="The question to keep, e.g. Q-3"
    )
    @app_commands.guild_only()
    async def merge(self, interaction: Interaction, question: str, into: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        target = await self.bot.call(
            Exchange.merge, self.bot.actor(interaction.user), question, into
        )
        self.bot.deliveries_due.set()
        await interaction.followup.send(
            f"Merged {question_ref(question_id(question))} into {target.ref}; the askers are told.",
            ephemeral=True,
        )

    @app_commands.command(
        name="unmerge", description="(Expert) Undo a merge: the question waits again on its own"
    )
    @app_commands.describe(question="The merged question, e.g. Q-14")
    @app_commands.guild_only()
    async def unmerge(self, interaction: Interaction, question: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reopened = await self.bot.call(Exchange.unmerge, self.bot.actor(interaction.user), question)
        self.bot.deliveries_due.set()
        await interaction.followup.send(
            unmerged_message(reopened.ref, reopened.authorities), ephemeral=True
        )

    @app_commands.command(
        name="distinct", description="(Expert) Two questions proposed for merging are different"
    )
    @app_commands.describe(question="e.g. Q-14", other="e.g. Q-3")
    @app_commands.guild_only()
    async def distinct(self, interaction: Interaction, question: str, other: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.call(Exchange.distinct, self.bot.actor(interaction.user), question, other)
        await interaction.followup.send(
            f"Noted: {question_ref(question_id(question))} and {question_ref(question_id(other))} "
            "are different questions; the proposed merge is dropped.",
            ephemeral=True,
        )

    @app_commands.command(
        name="publish", description="(Expert) Publish every new answer as the next release"
    )
    @app_commands.guild_only()
    async def publish(self, interaction: Interaction) -> None:
        """Shows what the release would publish; the button under it publishes exactly that."""
        actor = self.bot.actor(interaction.user)
        Exchange.require(actor, Role.EXPERT, "publish a release")
        await interaction.response.defer(ephemeral=True, thinking=True)
        drafts = await self.bot.call(Exchange.drafts, actor)
        if not drafts:
            await interaction.followup.send(
                "There is nothing to publish: no answers have been written since the last release.",
                ephemeral=True,
            )
            return
        view = discord.ui.View(timeout=None)
        label = f"Publish {plural(len(drafts), 'answer')}"
        view.add_item(PublishButton(drafts_digest(d.answer for d in drafts), label))
        await interaction.followup.send(
            "Check the answers below; the button publishes exactly these as the next release.",
            embed=drafts_embed(drafts),
            view=view,
            ephemeral=True,
        )

    @app_commands.command(
        name="sensitive",
        description="(Expert) Mark a question's latest answer OFFICIAL-SENSITIVE (or lift it)",
    )
    @app_commands.describe(question="e.g. Q-12", off="Lift the marking instead")
    @app_commands.guild_only()
    async def sensitive(self, interaction: Interaction, question: str, off: bool = False) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        answer = await self.bot.call(
            Exchange.mark_sensitive, self.bot.actor(interaction.user), question, sensitive=not off
        )
        await interaction.followup.send(
            marked_message(f"Q-{answer.question_id}", answer.version, not off), ephemeral=True
        )

    @app_commands.command(
        name="hide",
        description="(Expert, admin) Withdraw a peer reply from view; its author is told",
    )
    @app_commands.describe(reply="e.g. R-12", reason="Why: its author is told")
    @app_commands.guild_only()
    async def hide(
        self, interaction: Interaction, reply: str, reason: app_commands.Range[str, 3, 500]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        hidden = await self.bot.call(
            Exchange.hide_reply, self.bot.actor(interaction.user), reply, reason
        )
        self.bot.deliveries_due.set()
        await interaction.followup.send(
            f"{hidden.ref} is hidden; its author is told why.", ephemeral=True
        )

    @app_commands.command(name="endorse-note", description="(Expert) Vouch for a shared note")
    @app_commands.describe(note="e.g. N-4")
    @app_commands.guild_only()
    async def endorse_note(self, interaction: Interaction, note: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        done = await self.bot.call(Exchange.endorse_note, self.bot.actor(interaction.user), note)
        await interaction.followup.send(
            f"{done.ref} is endorsed: it is listed first, marked as vouched for.", ephemeral=True
        )

    @app_commands.command(
        name="hide-note", description="(Expert, admin) Withdraw a shared note from view"
    )
    @app_commands.describe(note="e.g. N-4", reason="Why: the audit trail keeps it")
    @app_commands.guild_only()
    async def hide_note(
        self, interaction: Interaction, note: str, reason: app_commands.Range[str, 3, 500]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        done = await self.bot.call(
            Exchange.hide_note, self.bot.actor(interaction.user), note, reason
        )
        await interaction.followup.send(
            f"{done.ref} is hidden; the audit trail keeps why.", ephemeral=True
        )

    @app_commands.command(
        name="endorse", description="(Expert) Make a peer reply the answer's draft, credited"
    )
    @app_commands.describe(reply="e.g. R-12", text="Your edit of it (optional)")
    @app_commands.guild_only()
    async def endorse(
        self, interaction: Interaction, reply: str, text: app_commands.Range[str, 1, 3800] = ""
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        answer = await self.bot.call(
            Exchange.endorse, self.bot.actor(interaction.user), reply, text or None
        )
        await interaction.followup.send(
            f"Endorsed: the answer to Q-{answer.question_id} (version {answer.version}) is now "
            "that reply, credited to its authority; it goes out with the next /publish.",
            ephemeral=True,
        )

    @app_commands.command(
        name="drafts", description="(Expert) The answers the next release will publish"
    )
    @app_commands.guild_only()
    async def drafts(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        drafts = await self.bot.call(Exchange.drafts, self.bot.actor(interaction.user))
        await interaction.followup.send(embed=drafts_embed(drafts), ephemeral=True)

    @app_commands.command(name="discard", description="(Expert) Drop a draft answer")
    @app_commands.describe(question="The question whose draft to drop, e.g. Q-12")
    @app_commands.guild_only()
    async def discard(self, interaction: Interaction, question: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        kept = await self.bot.call(Exchange.discard, self.bot.actor(interaction.user), question)
        await interaction.followup.send(
            discarded_message(kept.ref, kept.status.value), ephemeral=True
        )

    @app_commands.command(
        name="exchange-sync", description="(Admin) Re-sync the slash commands with Discord"
    )
    @app_commands.guild_only()
    async def sync(self, interaction: Interaction) -> None:
        Exchange.require(self.bot.actor(interaction.user), Role.ADMIN, "re-sync the commands")
        await interaction.response.defer(ephemeral=True, thinking=True)
        self.bot.force_sync = True
        await self.bot.sync_commands_if_changed()
        await interaction.followup.send("Slash commands re-synced with Discord.", ephemeral=True)
