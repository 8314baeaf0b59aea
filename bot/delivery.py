"""Sending what the exchange says is owed: answers and merge notices, to threads and DMs.

The database is the source of truth. Each owed delivery is sent with a nonce derived
from its id (discord.py sets `enforce_nonce`), then marked sent; if the bot dies between
the two, the resend after restart carries the same nonce, and Discord drops it as a
duplicate within its nonce window (a few minutes). Failures are recorded and retried
with exponential backoff; discord.py itself waits out rate limits (429).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from bot.client import ExchangeBot
from bot.render import delivery_embed
from knowledge.addresses import Address, Channel
from knowledge.exchange import Exchange
from knowledge.models import SEND_ATTEMPTS, Delivery

log = logging.getLogger(__name__)


class Undeliverable(Exception):
    """No way to reach the recipient right now (e.g. DMs closed and no thread)."""


def _discord_id(text: str | None, *, place: bool) -> int | None:
    """The Discord channel id (`place`) or user id in a stored address; None if it is none."""
    try:
        address = Address.parse(text or "")
    except ValueError:
        return None
    return address.discord_id if address.place == place else None


def nonce_for(delivery: Delivery) -> str:
    """A per-delivery nonce (Discord allows 25 characters)."""
    return f"psnx-{delivery.id}"


class DeliveryWorker:
    """Background task: deliver everything owed, then wait to be poked or for the next poll."""

    def __init__(
        self, bot: ExchangeBot, *, poll_seconds: float = 30.0, max_attempts: int = SEND_ATTEMPTS
    ) -> None:
        self.bot = bot
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.not_before: dict[int, float] = {}
        self.stopping = False
        self.task: asyncio.Task[None] | None = None
        # One round at a time: two overlapping rounds could both send the same delivery.
        self.round = asyncio.Lock()

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="psnx-deliveries")

    async def stop(self) -> None:
        self.stopping = True
        self.bot.deliveries_due.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self.task, timeout=10)

    async def run(self) -> None:
        await self.bot.wait_until_ready()
        while not self.stopping:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("delivery round failed; retrying at the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.bot.deliveries_due.wait(), timeout=self.poll_seconds)
            self.bot.deliveries_due.clear()

    async def deliver_due(self) -> int:
        """Send every owed delivery that is not backing off; returns how many went out."""
        async with self.round:
            return await self._deliver_due()

    async def _deliver_due(self) -> int:
        # Deliveries that failed max_attempts times are left out, so they never hold up
        # newer ones (they stay owed in the database, with their last error, for an admin).
        owed = await self.bot.call(
            Exchange.owed_deliveries, Channel.DISCORD.prefix, 100, max_attempts=self.max_attempts
        )
        loop = asyncio.get_running_loop()
        sent = 0
        for delivery in owed:
            if self.stopping:
                break
            if self.not_before.get(delivery.id, 0.0) > loop.time():
                continue
            try:
                await self.send(delivery)
            except Exception as error:  # one bad delivery must not stop the others
                await self.failed(delivery, error)
                continue
            await self.bot.call(Exchange.mark_sent, delivery.id)
            self.not_before.pop(delivery.id, None)
            sent += 1
        return sent

    async def failed(self, delivery: Delivery, error: Exception) -> None:
        """Record a failed attempt and back off; say so loudly when giving up."""
        if not isinstance(error, discord.HTTPException | Undeliverable):
            log.exception("delivery %s failed unexpectedly", delivery.id, exc_info=error)
        reason = f"{getattr(error, 'status', '')} {error}".strip()[:200]
        await self.bot.call(Exchange.mark_failed, delivery.id, reason)
        attempts = delivery.attempts + 1
        if attempts >= self.max_attempts:
            log.error(
                "delivery %s gave up after %s attempts: %s "
                "(`psn-exchange deliveries` lists it; --retry tries again)",
                delivery.id,
                attempts,
                reason,
            )
            return
        delay = min(3600.0, 5.0 * 2**delivery.attempts)
        self.not_before[delivery.id] = asyncio.get_running_loop().time() + delay
        log.warning(
            "delivery %s failed (attempt %s), retry in %ss", delivery.id, attempts, int(delay)
        )

    async def channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise Undeliverable(f"channel {channel_id} cannot receive messages")
        return channel

    async def send(self, delivery: Delivery) -> None:
        embed = delivery_embed(delivery)
        nonce = nonce_for(delivery)
        if delivery.recipient_is_place:
            channel_id = _discord_id(delivery.recipient, place=True)
            if channel_id is None:
                raise Undeliverable(f"unknown place {delivery.recipient}")
            await (await self.channel(channel_id)).send(embed=embed, nonce=nonce)
            return
        user_id = _discord_id(delivery.recipient, place=False)
        if user_id is None:
            raise Undeliverable(f"unknown recipient {delivery.recipient}")
        user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
        try:
            await user.send(embed=embed, nonce=nonce)
        except discord.Forbidden:
            # DMs closed: mention them (only them) in the question's thread instead.
            thread_id = _discord_id(delivery.place, place=True)
            if thread_id is None:
                raise Undeliverable(
                    "direct messages are closed and the question has no thread"
                ) from None
            only_them = discord.AllowedMentions(users=[discord.Object(id=user_id)])
            thread = await self.channel(thread_id)
            if await self.bot.call(Exchange.place_has_answer, delivery):
                # The same answer is already posted in this thread: point to it, don't repeat it.
                await thread.send(
                    f"<@{user_id}> your direct messages are closed: the answer to "
                    f"{delivery.question.ref} is posted in this thread.",
                    nonce=nonce,
                    allowed_mentions=only_them,
                )
                return
            await thread.send(
                f"<@{user_id}> your direct messages are closed, so this is for you:",
                embed=embed,
                nonce=nonce,
                allowed_mentions=only_them,
            )
