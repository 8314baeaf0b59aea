"""How every interaction meets an error: one reply path for commands, buttons and forms.

The cogs and the bot's command tree share these pieces; this module imports no cog.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.budget import clip
from knowledge.errors import ExchangeError

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")

GENERIC_ERROR = (
    "Sorry — something went wrong on our side and nothing was changed. "
    "Please try again in a minute; if it keeps happening, tell an exchange admin (reference {ref})."
)


async def reply_error(
    interaction: discord.Interaction[Any], error: BaseException, *, typed: str | None = None
) -> None:
    """The one place errors become messages: ExchangeError kindly, anything else generically.

    `typed` is what the person wrote in a form; a refusal gives it back, so nothing is lost.
    """
    original = getattr(error, "original", error)
    if isinstance(original, ExchangeError):
        message = str(original)
        if typed and typed.strip():
            kept = clip(typed, 1500).replace("`", "ˋ")
            message = f"{message}\n\nWhat you typed:\n```\n{kept}\n```"
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
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)


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
    """A form whose errors go to reply_error, giving back what the person typed."""

    def typed(self) -> str | None:
        """The text worth giving back if the form is refused (override)."""
        return None

    # Modal.on_error narrows BaseView.on_error in discord.py itself; we follow Modal.
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await reply_error(interaction, error, typed=self.typed())


class ExchangeTree(app_commands.CommandTree[discord.Client]):
    """The bot's command tree: a slash command's errors go to reply_error."""

    async def on_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        await reply_error(interaction, error)
