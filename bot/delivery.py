"""The one sender: everything the exchange owes on Discord, from one outbox.

Answers and merge notices go to threads and DMs; digests, release reminders and overdue
flags to every server's steering and expert channels. The database is the source of truth. Each
message is sent with a nonce derived from its id (discord.py sets `enforce_nonce`), then
marked sent; if the bot dies between the two, the resend after restart carries the same
nonce, and Discord drops it as a duplicate within its nonce window (a few minutes). A
failure is recorded with the exchange, which keeps the backoff in the database (one policy
for every kind of message, kept across restarts); discord.py itself waits out rate limits
(429). A refusal is classified by Discord's error code (`refusal`): closed DMs fall back to
the question's thread, DMs opened too fast pause opening DMs, and a recipient or channel
that cannot be reached is given up on at once instead of being retried; so is a thread a
moderator has locked, named in a warning (bot/threads.py).

A busy database (another process writing) is a retry, never a resend: what happened to a
message that could not be recorded is kept here and recorded first in the next round, and
until it is, that message is not sent again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

import discord

from bot.client import ExchangeBot
from bot.markdown import markdown_embeds
from bot.render import delivery_embed
from bot.suggestions import helpful_view
from bot.threads import ThreadLocked, post_in
from knowledge.addresses import Address, Channel
from knowledge.errors import NotFound, StoreError
from knowledge.exchange import Exchange
from knowledge.models import SEND_ATTEMPTS, Delivery, Notice, retry_delay_seconds
from knowledge.usecases.outbox import notice_places

log = logging.getLogger(__name__)


class Undeliverable(Exception):
    """No way to reach the recipient right now (e.g. DMs closed and no thread)."""


class Unrecorded(Exception):
    """A part of a notice went out but the database was too busy to record it: stop here,
    record it first next round, then carry on from the next part."""


# An outcome the exchange has yet to record: (Exchange method, its arguments after the id).
Outcome = tuple[Callable[..., Any], tuple[Any, ...]]


def _discord_id(text: str | None, *, place: bool) -> int | None:
    """The Discord channel id (`place`) or user id in a stored address; None if it is none."""
    try:
        address = Address.parse(text or "")
    except ValueError:
        return None
    return address.discord_id if address.place == place else None


class Refusal(Enum):
    """What Discord refusing a message means for it."""

    RETRY = "retry"  # anything not known to be lasting: back off and try again
    DMS_CLOSED = "dms closed"  # the documented fallback: a mention in the question's thread
    DMS_TOO_FAST = "dms too fast"  # pause opening DMs; the message waits, not counted
    UNREACHABLE = "unreachable"  # no retry can mend it: give up at once, for an admin


# Discord's JSON error codes, by what they mean here:
# https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes
# Retrying an unreachable one only adds to the 10,000 invalid requests per 10 minutes that
# get the host's IP banned.
REFUSALS: dict[int, Refusal] = {
    50007: Refusal.DMS_CLOSED,  # Cannot send messages to this user
    40003: Refusal.DMS_TOO_FAST,  # You are opening direct messages too fast
    50278: Refusal.UNREACHABLE,  # Cannot send messages to this user: no mutual guild
    10013: Refusal.UNREACHABLE,  # Unknown user
    10003: Refusal.UNREACHABLE,  # Unknown channel
    50001: Refusal.UNREACHABLE,  # Missing access
    50083: Refusal.UNREACHABLE,  # Thread is archived: locked (bot/threads.py)
}

# The refusals Discord gives as 400 (the ones above come as 403 or 404).
BAD_REQUEST_REFUSALS: dict[int, Refusal] = {
    50033: Refusal.UNREACHABLE,  # Invalid Recipient(s): opening a DM with no such user
}

# How long to open no DMs after Discord says they are opened too fast (it gives no time).
DM_PAUSE_SECONDS = 300.0


def refusal(error: BaseException) -> Refusal:
    """What a failed send means, from Discord's error code on a 403, 404 or 400; the bot's
    own Undeliverable (DMs closed and no thread, say) is as lasting as Discord's."""
    if isinstance(error, Undeliverable):
        return Refusal.UNREACHABLE
    if isinstance(error, discord.Forbidden | discord.NotFound):
        return REFUSALS.get(error.code, Refusal.RETRY)
    if isinstance(error, discord.HTTPException) and error.status == 400:
        return BAD_REQUEST_REFUSALS.get(error.code, Refusal.RETRY)
    return Refusal.RETRY


# Owed messages read per round (a round runs again at once while there are more).
DELIVERIES_PER_ROUND = 100
NOTICES_PER_ROUND = 50

# Discord allows a bot 50 requests a second in all
# (https://discord.com/developers/docs/topics/rate-limits#global-rate-limit). discord.py keeps
# each route's bucket from its headers, but learns of the global limit only from a 429, and
# every 429 counts toward the 10,000 invalid requests in 10 minutes that get the host's IP
# banned: sent flat out, a release to 2,000 officers met 1,590 of them in 80 s
# (benchmarks/delivery.py). So the worker keeps its own requests under this, in any second,
# and leaves the rest for the bot's commands.
REQUESTS_PER_SECOND = 40


def nonce_for(delivery: Delivery) -> str:
    """A per-delivery nonce (Discord allows 25 characters)."""
    return f"psnx-{delivery.id}"


class DeliveryWorker:
    """Background task: send everything owed, then wait to be poked or for the next poll."""

    def __init__(
        self,
        bot: ExchangeBot,
        *,
        poll_seconds: float = 30.0,
        max_attempts: int = SEND_ATTEMPTS,
        clock: Callable[[], float] = time.monotonic,
        requests_per_second: int = REQUESTS_PER_SECOND,
    ) -> None:
        self.bot = bot
        self.clock = clock
        # Until when no DM is opened (Discord said they were opened too fast); in memory only.
        self.dms_paused_until = 0.0
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.stopping = False
        self.requests_per_second = requests_per_second
        self.recent: collections.deque[float] = collections.deque()  # when requests were made
        self.warned: set[str] = set()  # audiences without a channel, said once
        # Outcomes the database was too busy to record, by message id, oldest first.
        self.unrecorded: dict[int, list[Outcome]] = {}
        self.busy = False  # the database was too busy to record something this round
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
                # What other processes wrote (a large import) is indexed here, between
                # rounds, rather than at the start of an officer's next ask.
                await self.bot.call(Exchange.catch_up)
                await self.deliver_due()
            except Exception:
                log.exception("delivery round failed; retrying at the next poll")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.bot.deliveries_due.wait(), timeout=self.poll_seconds)
            self.bot.deliveries_due.clear()

    async def deliver_due(self) -> int:
        """Send every owed message that is not backing off; returns how many went out."""
        async with self.round:
            return await self._deliver_due()

    async def _deliver_due(self) -> int:
        self.busy = False
        for message_id in list(self.unrecorded):
            await self._flush(message_id)
            if self.busy:
                break  # still busy: the rest wait too
        try:
            # Messages that failed max_attempts times are left out, so they never hold up
            # newer ones (they stay owed in the database, with their last error, for an admin).
            # Deliveries and notices are fetched apart, so a large release never crowds out
            # a digest, and the overdue flags owed together go out together.
            # While DMs are paused, officers' deliveries wait and do not crowd out the places.
            owed = await self.bot.call(
                Exchange.owed_messages,
                Channel.DISCORD.places_prefix if self.dms_paused() else Channel.DISCORD.prefix,
                (),
                DELIVERIES_PER_ROUND,
                max_attempts=self.max_attempts,
            )
            notices = await self.bot.call(
                Exchange.owed_messages,
                None,
                self.audiences(),
                NOTICES_PER_ROUND,
                max_attempts=self.max_attempts,
            )
            owed += await self.placed([n for n in notices if isinstance(n, Notice)])
        except StoreError as error:
            log.warning("could not read what is owed (%s); trying again at the next poll", error)
            return 0
        if len(owed) == DELIVERIES_PER_ROUND or len(notices) == NOTICES_PER_ROUND:
            self.bot.deliveries_due.set()  # more to send: the next round starts at once
        # Never send again what was sent (or tried) but is not yet recorded as such.
        owed = [m for m in owed if m.id not in self.unrecorded]
        sent = 0
        for delivery in (m for m in owed if isinstance(m, Delivery)):
            if self.stopping:
                return sent
            if not delivery.recipient_is_place and self.dms_paused():
                continue  # left owed, untouched: tried when the pause is over
            await self.pace(1 if delivery.recipient_is_place else 2)  # a DM is opened first
            try:
                await self.send(delivery)
            except Exception as error:  # one bad delivery must not stop the others
                await self.failed(delivery, error)
                continue
            await self._record(delivery.id, Exchange.mark_sent)
            sent += 1
        for group in grouped([m for m in owed if isinstance(m, Notice)]):
            if self.stopping:
                return sent
            try:
                await self.post(group)
            except Unrecorded:
                continue
            except Exception as error:  # one notice must not hold up the others
                for notice in group:
                    await self.failed(notice, error)
                continue
            for notice in group:
                await self._record(notice.id, Exchange.mark_sent)
            sent += len(group)
        return sent

    async def _record(self, message_id: int, method: Callable[..., Any], *args: Any) -> bool:
        """Record what happened to a message; False if the database is busy (then it is kept,
        recorded first next round, and the message is not sent again until it is)."""
        self.unrecorded.setdefault(message_id, []).append((method, args))
        return await self._flush(message_id)

    async def _flush(self, message_id: int) -> bool:
        """Record a message's pending outcomes in order; False if one could not be (it stays
        pending: tried again first next round, and the message is not sent meanwhile)."""
        pending = self.unrecorded[message_id]
        while pending:
            method, args = pending[0]
            try:
                await self.bot.call(method, message_id, *args)
            except StoreError as error:
                log.warning(
                    "could not record what happened to delivery %s (%s); recording it first "
                    "next round, and sending nothing more of it until then",
                    message_id,
                    error,
                )
                self.busy = True
                return False
            except NotFound:
                # Gone meanwhile (its recipient erased their data): nothing left to record.
                log.info("delivery %s no longer exists; nothing to record", message_id)
            except Exception:
                # A bug: keep it (a resend could repeat the message) but hold up nothing else.
                log.exception("could not record what happened to delivery %s", message_id)
                return False
            pending.pop(0)
        del self.unrecorded[message_id]
        return True

    async def pace(self, requests: int) -> None:
        """Wait, if need be, until `requests` more keep this second's under the limit."""
        loop = asyncio.get_running_loop()  # the clock asyncio.sleep keeps
        while True:
            now = loop.time()
            while self.recent and self.recent[0] <= now - 1.0:
                self.recent.popleft()
            if len(self.recent) + requests <= self.requests_per_second:
                break
            await asyncio.sleep(self.recent[0] + 1.0 - now)
        self.recent.extend([now] * requests)

    def dms_paused(self) -> bool:
        return self.clock() < self.dms_paused_until

    async def failed(self, message: Delivery | Notice, error: Exception) -> None:
        """Record a failed attempt (the exchange sets the backoff); say so loudly when giving up."""
        if not isinstance(error, discord.HTTPException | Undeliverable | ThreadLocked):
            log.exception("delivery %s failed unexpectedly", message.id, exc_info=error)
        reason = f"{getattr(error, 'status', '')} {error}".strip()[:200]
        if isinstance(error, ThreadLocked):
            # A moderator locked the thread: no retry gets through until one reopens it.
            if await self._record(message.id, Exchange.mark_undeliverable, reason):
                log.warning(
                    "thread %s is locked, so delivery %s cannot be posted there and is not "
                    "retried (once a moderator reopens the thread, "
                    "`psn-exchange deliveries --retry` sends it)",
                    error.thread_id,
                    message.id,
                )
            return
        refused = refusal(error)
        if refused is Refusal.DMS_TOO_FAST and isinstance(message, Delivery):
            # Discord's throttle, not this message's fault: not counted as a failed attempt.
            self.dms_paused_until = self.clock() + DM_PAUSE_SECONDS
            log.warning(
                "Discord says DMs are opened too fast (delivery %s); opening none for %ss",
                message.id,
                int(DM_PAUSE_SECONDS),
            )
            return
        if refused is Refusal.UNREACHABLE:
            if await self._record(message.id, Exchange.mark_undeliverable, reason):
                log.error(
                    "delivery %s cannot be delivered, so it is not retried: %s "
                    "(`psn-exchange deliveries` lists it; --retry tries again once fixed)",
                    message.id,
                    reason,
                )
            return
        if not await self._record(message.id, Exchange.mark_failed, reason):
            return  # recorded first next round; it is not tried again before that
        attempts = message.attempts + 1
        if attempts >= self.max_attempts:
            log.error(
                "delivery %s gave up after %s attempts: %s "
                "(`psn-exchange deliveries` lists it; --retry tries again)",
                message.id,
                attempts,
                reason,
            )
            return
        log.warning(
            "delivery %s failed (attempt %s), retry in %ss",
            message.id,
            attempts,
            int(retry_delay_seconds(attempts - 1)),
        )

    def channel_ids(self, audience: str) -> tuple[int, ...]:
        """Every server's channel for an audience's notices (none configured: empty)."""
        return self.bot.settings.discord.channel_ids(
            "steering" if audience == "steering" else "expert"
        )

    async def placed(self, notices: list[Notice]) -> list[Notice]:
        """Each notice at its channels: one not yet placed is owed at every channel of its
        audience (each server's), each to be posted and retried on its own."""
        out: list[Notice] = []
        for notice in notices:
            if notice.place is not None:
                out.append(notice)
                continue
            places = notice_places(self.bot.settings, notice.audience)
            out += await self.bot.call(Exchange.place_notice, notice.id, places)
        # Copies placed at another channel's places (e-mail) are that channel's to send.
        return [n for n in out if n.place is None or n.place.startswith(Channel.DISCORD.prefix)]

    def audiences(self) -> list[str]:
        """The audiences whose notices can be posted; the others stay owed (said once)."""
        audiences = [a for a in ("steering", "expert") if self.channel_ids(a)]
        for missing in {"steering", "expert"} - set(audiences) - self.warned:
            log.warning("no channel configured for %s notices; they stay owed", missing)
            self.warned.add(missing)
        return audiences

    async def channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            raise Undeliverable(f"channel {channel_id} cannot receive messages")
        return channel

    async def send(self, delivery: Delivery) -> None:
        web = self.bot.settings.web
        embed = delivery_embed(
            delivery, web.url(f"/q/{delivery.question.ref}") if delivery.question else None
        )
        nonce = nonce_for(delivery)
        if delivery.recipient_is_place:
            channel_id = _discord_id(delivery.recipient, place=True)
            if channel_id is None:
                raise Undeliverable(f"unknown place {delivery.recipient}")
            await post_in(await self.channel(channel_id), embed=embed, nonce=nonce)
            return
        user_id = _discord_id(delivery.recipient, place=False)
        if user_id is None:
            raise Undeliverable(f"unknown recipient {delivery.recipient}")
        try:
            # Opened on the id: fetching the user first would be one more request per officer.
            dm = await self.bot.create_dm(discord.Object(id=user_id))
            if delivery.kind == "reply" and delivery.reply is not None:
                # A peer reply can be marked helpful from where it arrives.
                view = helpful_view(delivery.reply.id)
                await dm.send(embed=embed, nonce=nonce, view=view)
            else:
                await dm.send(embed=embed, nonce=nonce)
        except discord.Forbidden as error:
            if refusal(error) is not Refusal.DMS_CLOSED:
                raise
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
                await post_in(
                    thread,
                    f"<@{user_id}> your direct messages are closed: the answer to "
                    f"{delivery.question.ref if delivery.question else 'it'} is posted in "
                    "this thread.",
                    nonce=nonce,
                    allowed_mentions=only_them,
                )
                return
            await post_in(
                thread,
                f"<@{user_id}> your direct messages are closed, so this is for you:",
                embed=embed,
                nonce=nonce,
                allowed_mentions=only_them,
            )

    async def post(self, group: list[Notice]) -> None:
        """One message (or a few, if long) for a notice or a group of overdue flags.

        A single notice resumes after the parts already posted, so a retry never repeats
        them; a group is only ever made of notices not yet tried.
        """
        first = group[0]
        channel_id = _discord_id(first.place, place=True)
        if channel_id is None:
            raise Undeliverable(f"notice {first.id} has no channel")
        channel = await self.channel(channel_id)
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
            await self.pace(1)
            await post_in(channel, embeds=embeds, nonce=f"psnx-{tag}-{part}")
            if len(group) == 1 and not await self._record(
                first.id, Exchange.mark_part_sent, part + 1
            ):
                raise Unrecorded(first.id)


def grouped(notices: list[Notice]) -> list[list[Notice]]:
    """Each notice alone, except overdue flags for one channel, which go out together."""
    groups: list[list[Notice]] = []
    flags: dict[tuple[str, str | None], list[Notice]] = {}
    for notice in notices:
        # Only flags never tried go together: one Discord refuses must not sink the rest.
        if notice.kind == "overdue" and notice.attempts == 0 and not notice.failed_before:
            flags.setdefault((notice.audience, notice.place), []).append(notice)
        else:
            groups.append([notice])
    return groups + list(flags.values())
