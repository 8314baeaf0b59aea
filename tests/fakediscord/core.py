"""FakeDiscord: the bot's lifecycle, building its world, failures, and what was sent."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from typing import Any

import discord
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from tests.fakediscord.ratelimits import RateLimits
from tests.fakediscord.records import (
    EVERYONE_PERMS,
    REQUIRE_TAG,
    SETTLE_PREFIXES,
    Call,
    FakeUser,
    Msg,
    Reply,
    _Collector,
    _Fail,
    _Failure,
    _now,
)
from tests.fakediscord.users import _UserActions
from tests.fakediscord.wire import _Wire, install
from tests.fakediscord.world import World


class FakeDiscord(_UserActions, _Wire):
    """Wraps a real ``commands.Bot``; see the module docstring. Use ``async with``."""

    def __init__(
        self,
        bot: discord.Client,
        world: World | None = None,
        guard: tuple[str, ...] = ("discord", "asyncio"),
    ) -> None:
        self.bot, self.world, self.guard = bot, world or World(), guard
        self.requests: list[Call] = []
        self.replies: list[Reply] = []
        self.messages: list[Msg] = []
        self.response_deadline = 3.0  # Discord's 3-second rule for the first callback
        self.token_lifetime = 15 * 60.0  # then followups and @original edits answer 401/50027
        self.nonce_window = 2 * 60.0  # enforce_nonce: "the past few minutes", taken short
        self.app_permissions = (EVERYONE_PERMS | discord.Permissions.text()).value
        self.settle_prefixes: tuple[str, ...] = SETTLE_PREFIXES
        self._failures: list[_Failure] = []
        self._interactions: dict[str, dict[str, Any]] = {}  # token -> bookkeeping
        self._collector = _Collector()
        self._ctx: Any = None
        self.started = False

    # ---- lifecycle
    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(check=exc[0] is None)

    async def start(self) -> None:
        """Log in (real ``bot.login``: setup_hook runs, cogs load), then READY + GUILD_CREATE."""
        # A webhook adapter of this test's own (its per-webhook locks belong to this loop).
        self._ctx = async_context.set(AsyncWebhookAdapter())
        for name in self.guard:
            logging.getLogger(name).addHandler(self._collector)
        install(self, self.bot.http)
        await self.bot.login("fake-token")
        state = self.bot._connection
        state.guild_ready_timeout = 0.01
        self._dispatch(
            "READY",
            {
                "v": 10,
                "user": self.world.bot_user,
                "session_id": "fake",
                "resume_gateway_url": "",
                "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds],
                "application": {"id": str(self.world.app_id), "flags": 0},
            },
        )
        for guild_id in self.world.guilds:
            members = self.bot.intents.members
            self._dispatch("GUILD_CREATE", self.world.guild_payload(members, guild_id))
        await asyncio.wait_for(self.bot.wait_until_ready(), 5)
        self.started = True
        await self.settle()

    async def close(self, check: bool = True) -> None:
        try:
            if check:
                await self.settle()
        finally:
            self.started = False  # the bot is down: what people do now, it learns at start
            await self.bot.close()
            for name in self.guard:
                logging.getLogger(name).removeHandler(self._collector)
            with contextlib.suppress(ValueError):  # reset from another context
                async_context.reset(self._ctx)
        if check:
            self._collector.check()

    async def restart(self, new_bot: discord.Client) -> FakeDiscord:
        """Simulate a process restart: close this bot, start ``new_bot`` on the same world."""
        await self.close()
        fake = FakeDiscord(new_bot, self.world, self.guard)
        await fake.start()
        return fake

    async def settle(self, within: float = 5.0) -> None:
        """Wait for discord.py's event/command/view/modal tasks, then fail on ERROR logs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        me = asyncio.current_task()
        while True:
            for _ in range(5):
                await asyncio.sleep(0)
            pending = [
                t
                for t in asyncio.all_tasks()
                if t is not me and not t.done() and t.get_name().startswith(self.settle_prefixes)
            ]
            if not pending:
                break
            if loop.time() >= deadline:
                raise AssertionError(f"bot did not settle: {[t.get_name() for t in pending]}")
            await asyncio.wait(pending, timeout=deadline - loop.time())
        self._collector.check()

    @property
    def rate_limits(self) -> RateLimits:
        """Discord's rate limits in force (``ratelimits.py``); set them per test."""
        return self.world.rate_limits

    @property
    def dropped_duplicates(self) -> list[Call]:
        """Message POSTs Discord answered with an earlier message of the same nonce
        (``enforce_nonce``) instead of creating a new one; kept across restarts."""
        return self.world.dropped_duplicates

    def clock(self) -> float:
        """Now, on the fake's clock: the running loop's time. Under ``async_test`` that loop
        skips idle waits (``clock.IdleSkippingLoop``), so ``await asyncio.sleep(900)`` in a
        test is 15 minutes for the fake, for discord.py and for the bot, in no real time."""
        return asyncio.get_running_loop().time()

    # ---- building the world (before or after start)
    def role(self, name: str, permissions: int = 0, guild: int | None = None) -> int:
        rid = self.world.snowflake()
        self.world.roles[rid] = self.world._role_payload(rid, name, permissions)
        guild = guild or self.world.guild_id
        self.world.role_guilds[rid] = guild
        if self.started:
            self._dispatch(
                "GUILD_ROLE_CREATE",
                {"guild_id": str(guild), "role": self.world.roles[rid]},
            )
        return rid

    def role_id(self, name: str, guild: int | None = None) -> int:
        guild = guild or self.world.guild_id
        return next(
            int(r["id"])
            for rid, r in self.world.roles.items()
            if r["name"] == name and self.world.guild_of_role(rid) == guild
        )

    def member(
        self, name: str, roles: tuple[str, ...] | list[str] = (), guild: int | None = None
    ) -> FakeUser:
        """A member (of every guild); role names are created on first use, in ``guild``."""
        uid = self.world.snowflake()
        role_ids = [self._role_named(r, guild) for r in roles]
        user = self.world._user_payload(uid, name)
        self.world.users[uid] = user
        self.world.members[uid] = self.world._member_payload(user, role_ids)
        if self.started and self.bot.intents.members:
            self._dispatch(
                "GUILD_MEMBER_ADD",
                {**self.world.members[uid], "guild_id": str(self.world.guild_id)},
            )
        return FakeUser(uid, name)

    def _role_named(self, name: str, guild: int | None = None) -> int:
        try:
            return self.role_id(name, guild)
        except StopIteration:
            return self.role(name, guild=guild)

    def text_channel(self, name: str, guild: int | None = None) -> int:
        return self._channel({"type": 0, "name": name, "topic": None}, guild)

    def forum_channel(
        self,
        name: str,
        tags: tuple[str, ...] | list[str] = (),
        require_tag: bool = False,
        guild: int | None = None,
    ) -> int:
        """A forum (type 15); ``require_tag`` sets the REQUIRE_TAG channel flag (1 << 4): a post
        without a tag is then refused (https://discord.com/developers/docs/resources/channel)."""
        available = [
            {
                "id": str(self.world.snowflake()),
                "name": t,
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
            }
            for t in tags
        ]
        return self._channel(
            {
                "type": 15,
                "name": name,
                "topic": None,
                "available_tags": available,
                "default_reaction_emoji": None,
                "default_sort_order": None,
                "default_forum_layout": 0,
                "flags": REQUIRE_TAG if require_tag else 0,
            },
            guild,
        )

    def tag_id(self, forum_id: int, name: str) -> int:
        tags = self.world.channels[forum_id]["available_tags"]
        return next(int(t["id"]) for t in tags if t["name"] == name)

    def _channel(self, extra: dict[str, Any], guild: int | None = None) -> int:
        cid = self.world.snowflake()
        self.world.channels[cid] = {
            "id": str(cid),
            "guild_id": str(guild or self.world.guild_id),
            "position": len(self.world.channels),
            "parent_id": None,
            "permission_overwrites": [],
            "nsfw": False,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            **extra,
        }
        if self.started:
            self._dispatch("CHANNEL_CREATE", self.world.channels[cid])
        return cid

    def _thread(
        self, parent: int, owner: int, name: str, tags: list[Any], tid: int
    ) -> dict[str, Any]:
        thread = {
            "id": str(tid),
            "type": 11,
            "guild_id": str(self.world.guild_of(parent)),
            "parent_id": str(parent),
            "owner_id": str(owner),
            "name": name,
            "flags": 0,
            "message_count": 0,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "applied_tags": [str(t) for t in tags],
            "last_message_id": str(tid),
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _now(),
                "locked": False,
                # Given for threads made since 2022-01-09 (#thread-metadata-object).
                "create_timestamp": _now(),
            },
        }
        self.world.channels[tid] = thread
        return thread

    def archive_thread(self, thread_id: int, *, locked: bool = False) -> None:
        """The thread is archived (a moderator closed it, or it went quiet); ``locked``: a
        moderator locked it too. A message from the bot unarchives an archived thread, unless
        it is locked and the bot lacks MANAGE_THREADS: then it is refused 403/50083
        (https://discord.com/developers/docs/topics/threads#active-archived-threads)."""
        self._thread_state(thread_id, archived=True, locked=locked)

    def lock_thread(self, thread_id: int) -> None:
        """A moderator locks the thread and leaves it active: only members with MANAGE_THREADS
        may post or edit in it (https://discord.com/developers/docs/topics/threads#locked-
        threads)."""
        self._thread_state(thread_id, locked=True)

    def _thread_state(self, thread_id: int, **changes: bool) -> None:
        thread = self.world.channels[thread_id]
        thread["thread_metadata"].update(changes)
        if "archived" in changes:
            thread["thread_metadata"]["archive_timestamp"] = _now()
        if self.started and self.bot.intents.guilds:
            self._dispatch("THREAD_UPDATE", dict(thread))

    # ---- failures
    def fail(
        self,
        method: str,
        path: str,
        status: int = 403,
        *,
        code: int = 0,
        message: str = "",
        times: int | None = 1,
        retry_after: float = 0.01,
    ) -> None:
        """Make the next ``times`` (None: all) calls matching ``method`` and the glob ``path``
        (e.g. ``"/channels/*/messages"``) fail. discord.py itself handles the answer, as it
        would Discord's: a 429 is waited out (``retry_after``) and retried; 500, 502, 504 are
        retried after 1, 3, 5, 7 s (5 attempts in all; on the fake's clock, in no real time);
        403 → Forbidden, 404 → NotFound, other 4xx → HTTPException, retries exhausted →
        DiscordServerError."""
        self._failures.append(
            _Failure(method, path, _Fail(status, code, message, retry_after), times)
        )

    def close_dms(self, user: FakeUser) -> None:
        """The user does not accept DMs: opening the DM works, sending fails 403/50007."""
        cid = self._dm_channel(user.id)
        self.fail(
            "POST",
            f"/channels/{cid}/messages",
            403,
            code=50007,
            message="Cannot send messages to this user",
            times=None,
        )

    # ---- record filters
    def sent_messages(self, channel_id: int | None = None) -> list[Msg]:
        """Messages the bot posted in channels/threads (not DMs, not interaction replies)."""
        return [
            m for m in self.messages if m.via == "channel" and channel_id in (None, m.channel_id)
        ]

    def dms(self, user: FakeUser | int) -> list[Msg]:
        uid = getattr(user, "id", user)
        return [m for m in self.messages if m.via == "dm" and m.user_id == uid]

    @property
    def followups(self) -> list[Msg]:
        return [m for m in self.messages if m.via == "followup"]

    def last_response(self, user: FakeUser | None = None) -> Reply:
        found = [r for r in self.replies if user is None or r.user_id == user.id]
        if not found:
            raise LookupError("no interaction response recorded")
        return found[-1]

    def requests_to(self, method: str, path_glob: str) -> list[Call]:
        return [
            c
            for c in self.requests
            if c.method == method and fnmatch.fnmatchcase(c.path, path_glob)
        ]
