"""How every interaction meets an error: one reply path for commands, buttons and forms.

The cogs and the bot's command tree share these pieces; this module imports no cog.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Self, TypeVar

import discord
from discord import app_commands

from bot.render import shown
from knowledge.errors import ExchangeError

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")

# A message holds 2,000 characters; a refusal plus a form's text longer than that comes back
# with the text as a file.
MESSAGE_LIMIT = 2000

GENERIC_ERROR = (
    "Sorry — something went wrong on our side and nothing was changed. "
    "Please try again in a minute; if it keeps happening, tell an exchange admin (reference {ref})."
)


def giving_back(refusal: str, typed: str | None) -> tuple[str, list[discord.File]]:
    """A refusal with what the person typed: in the message if it fits, else as a file."""
    if not typed or not typed.strip():
        return refusal, []
    kept = typed.replace("`", "ˋ")
    inline = f"{refusal}\n\nWhat you typed:\n```\n{kept}\n```"
    if len(inline) <= MESSAGE_LIMIT:
        return inline, []
    text = io.BytesIO(typed.encode())
    return f"{refusal}\n\nWhat you typed is attached, in full.", [
        discord.File(text, filename="what-you-typed.txt")
    ]


async def reply_error(
    interaction: discord.Interaction[Any], error: BaseException, *, typed: str | None = None
) -> None:
    """The one place errors become messages: ExchangeError kindly, anything else generically.

    `typed` is what the person wrote in a form; a refusal gives it back, so nothing is lost.
    """
    original = getattr(error, "original", error)
    files: list[discord.File] = []
    if isinstance(original, ExchangeError):
        # A refusal may quote what was typed ("'[x](…)' is not a question id"): as text.
        message, files = giving_back(shown(str(original)), typed)
    elif isinstance(original, app_commands.CheckFailure | app_commands.NoPrivateMessage):
        message = "That command can only be used in the exchange's server, not in a direct message."
    else:
        log.error(
            "unexpected error in interaction %s (user %s)",
            interaction.id,
            interaction.user.id,
            exc_info=original,
        )
        message = GENERIC_ERROR.format(ref=interaction.id)
    if interaction.response.is_done():
        await interaction.followup.send(message, files=files, ephemeral=True)
    else:
        await interaction.response.send_message(message, files=files, ephemeral=True)


def guarded(
    callback: Callable[[ItemT, discord.Interaction[Any]], Coroutine[Any, Any, None]],
) -> Callable[[ItemT, discord.Interaction[Any]], Coroutine[Any, Any, None]]:
    """For button callbacks: errors go to reply_error, as for commands and forms."""

    @functools.wraps(callback)
    async def run(item: ItemT, interaction: discord.Interaction[Any]) -> None:
        try:
            await callback(item, interaction)
        except Exception as error:
            await reply_error(interaction, error)

    return run


class ExchangeModal(discord.ui.Modal):
    """A form whose errors go to reply_error, giving back what the person typed.

    A form with a `template` is opened with `open_form` and submitted through `FormStore`:
    its custom id says what it needs, so a submit after a restart or a long wait still counts.
    """

    template: ClassVar[re.Pattern[str] | None] = None

    @classmethod
    def from_custom_id(cls, interaction: discord.Interaction[Any], match: re.Match[str]) -> Self:
        """The form again, from its custom id (override with `template`)."""
        raise NotImplementedError(cls.__name__)

    def typed(self) -> str | None:
        """The text worth giving back if the form is refused (override)."""
        return None

    # Modal.on_error narrows BaseView.on_error in discord.py itself; we follow Modal.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await reply_error(interaction, error, typed=self.typed())


async def open_form(interaction: discord.Interaction[Any], form: ExchangeModal) -> None:
    """Show a form with a `template`; its submit comes back through `FormStore`."""
    assert form.template is not None, type(form).__name__
    assert form.template.fullmatch(form.custom_id), form.custom_id
    # Interaction.send_modal keeps only an unfinished modal in discord.py's store; stopped,
    # this one never is, so every submit (before or after a restart) takes the same path.
    form.stop()
    await interaction.response.send_modal(form)


class FormStore:
    """Forms that survive a restart, found by their custom ids as DynamicItem finds buttons.

    discord.py 2.7 has no persistence for modals: ConnectionState.parse_interaction_create
    hands a submit to ViewStore.dispatch_modal, which looks the custom id up in the modals
    this process opened (`_modals`) and drops an unknown one with a debug log only. It then
    dispatches `on_interaction` for every interaction; the bot sends modal submits here.
    """

    def __init__(self) -> None:
        self._forms: list[type[ExchangeModal]] = []

    def add(self, *forms: type[ExchangeModal]) -> None:
        for form in forms:
            assert form.template is not None, form.__name__
            self._forms.append(form)

    async def dispatch(self, interaction: discord.Interaction[Any]) -> bool:
        """Submit a form this store knows; False for any other interaction."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return False
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        for form in self._forms:
            assert form.template is not None
            match = form.template.fullmatch(custom_id)
            if match is None:
                continue
            modal = form.from_custom_id(interaction, match)
            # Modal._dispatch_submit fills the fields, runs on_submit and on_error, as for
            # a modal in discord.py's own store.
            await modal._dispatch_submit(interaction, data["components"], data.get("resolved", {}))
            return True
        return False


class ExchangeTree(app_commands.CommandTree[discord.Client]):
    """The bot's command tree: a slash command's errors go to reply_error."""

    async def on_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        await reply_error(interaction, error)
