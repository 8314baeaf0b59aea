"""A fake Discord for driving a real ``commands.Bot`` in tests, with no network.

Why: dpytest cannot drive slash commands, interactions, buttons, modals, threads or forums
(DESIGN.md §7). Here everything is real discord.py: gateway events go in as raw payload dicts
through ``ConnectionState.parsers`` (as the websocket would feed them), and everything the bot
sends comes out through two seams we replace:

* ``bot.http.request`` — every REST call (send message, open DM, edit, create thread, sync);
* the interaction webhook adapter (``discord.webhook.async_.async_context``) — interaction
  callbacks (type 4 message, 5 defer, 6 deferred update, 7 update, 8 choices, 9 modal),
  followups and ``@original`` edits.

Each call is recorded (``fake.requests``) and answered with a plausible payload; messages get
increasing snowflake ids and are kept, so later edits, clicks and threads find them. A story::

    @async_test
    async def test_ask():
        async with FakeDiscord(make_bot()) as fake:
            alice = fake.member("Alice")
            turn = await fake.slash(alice, "ask", {"question": "VPN?"})
            assert turn.response.ephemeral and "VPN" in turn.response.text

Every dispatch helper waits (``settle``) until discord.py's dispatch tasks are done, then fails
the test if anything logged ERROR on a guarded logger (discord.py logs and swallows callback
exceptions).

Discord behaviour kept on purpose: the bot's own messages and threads come back to it as
MESSAGE_CREATE / THREAD_CREATE; without the Message Content intent a guild message arrives with
empty content; events an intent does not cover are not sent; the first interaction callback
must come within ``response_deadline`` (3 s) and only once (else 404/10062, 400/40060); the
first followup after a "thinking" defer replaces the loading message; modal submits mirror the
modal's layout (Label type 18 or action row type 1); required/length/choice rules the Discord
client enforces raise ``ValueError`` in the helper.

Not modelled: channel permission overwrites and command ``default_permissions`` (Discord
hides such commands; the bot must check anyway), attachments' content, reactions state,
message history/pins, member chunking, presences, voice. ``settle`` waits only for
discord.py's own task names (``settle_prefixes``): add a prefix for the bot's own named
background tasks, or call their functions directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import functools
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import discord
from discord import app_commands
from discord.errors import DiscordServerError, Forbidden, HTTPException, NotFound, RateLimited
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

EPHEMERAL, LOADING = 64, 128
SETTLE_PREFIXES = (  # names of the tasks discord.py creates per event / interaction
    "discord.py: ",
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-modal-dispatch",
    "discord-ui-dynamic-item",
    "discord-ui-view-timeout",
)
EVERYONE_PERMS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    embed_links=True,
    use_application_commands=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    add_reactions=True,
    attach_files=True,
)
_ids = itertools.count(discord.utils.time_snowflake(datetime(2024, 1, 1, tzinfo=UTC)), 1 << 22)


def async_test(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an ``async def`` test with ``asyncio.run`` (no pytest-asyncio); fixtures still work."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def _now() -> str:
    return datetime.now(UTC).isoformat()


# --------------------------------------------------------------------------- error guard
class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def check(self) -> None:
        """Raise AssertionError describing (and forgetting) every collected ERROR record."""
        records, self.records = self.records, []
        if records:
            fmt = logging.Formatter("%(name)s %(levelname)s: %(message)s")
            raise AssertionError(
                "ERROR logged during the test:\n" + "\n".join(map(fmt.format, records))
            )


@contextlib.contextmanager
def fail_on_error_logs(*loggers: str) -> Iterator[list[logging.LogRecord]]:
    """Fail (AssertionError on exit) if any ERROR+ record reaches the given loggers."""
    collector = _Collector()
    names = loggers or ("discord", "asyncio")
    for name in names:
        logging.getLogger(name).addHandler(collector)
    try:
        yield collector.records
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(collector)
    collector.check()


# --------------------------------------------------------------------------- records
class _Body:
    """What a user sees of a message body (payload or interaction-callback data)."""

    body: dict[str, Any]

    @property
    def content(self) -> str:
        return self.body.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.body.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.body.get("components") or []

    @property
    def flags(self) -> int:
        return int(self.body.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self.body.get("allowed_mentions")

    @property
    def text(self) -> str:
        """Content plus every embed's title/description/fields/footer, and component labels."""
        parts = [self.content]
        for e in self.embeds:
            parts += [e.get("title", ""), e.get("description", "")]
            parts += [f"{f['name']}\n{f['value']}" for f in e.get("fields", [])]
            parts.append((e.get("footer") or {}).get("text", ""))
        parts += [c.get("content", "") or c.get("label", "") for c in _walk(self.components)]
        return "\n".join(p for p in parts if p)

    @property
    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in _walk(self.components) if "custom_id" in c]

    def component(self, custom_id: str) -> dict[str, Any]:
        for c in _walk(self.components):
            if c.get("custom_id") == custom_id:
                return c
        raise LookupError(f"no component {custom_id!r}; have {self.custom_ids}")

    @property
    def pings(self) -> set[str]:
        """Who this body would notify: 'everyone', 'user:<id>', 'role:<id>' (allowed_mentions
        applied; when the bot sends none, Discord's default parses everything)."""
        am = self.allowed_mentions
        parse = set(am.get("parse", [])) if am is not None else {"everyone", "users", "roles"}
        users = {str(u) for u in (am or {}).get("users", [])}
        roles = {str(r) for r in (am or {}).get("roles", [])}
        out = set()
        if re.search(r"@(everyone|here)", self.content) and "everyone" in parse:
            out.add("everyone")
        for uid in re.findall(r"<@!?(\d+)>", self.content):
            if "users" in parse or uid in users:
                out.add(f"user:{uid}")
        for rid in re.findall(r"<@&(\d+)>", self.content):
            if "roles" in parse or rid in roles:
                out.add(f"role:{rid}")
        return out


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for c in components:
        yield c
        yield from _walk(c.get("components", []))
        yield from _walk([x for x in (c.get("component"), c.get("accessory")) if x])


@dataclass
class Call:
    """One HTTP attempt the bot made (REST or interaction webhook), as on the wire."""

    method: str
    path: str
    json: Any
    params: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    status: int = 200


@dataclass
class Msg(_Body):
    """A message the bot created; edits update ``body`` in place (``edits`` counts them)."""

    id: int
    channel_id: int
    body: dict[str, Any]
    via: str  # "channel" | "dm" | "response" | "followup" | "user"
    user_id: int | None = None  # DM recipient, or the user whose interaction it answers
    edits: int = 0
    deleted: bool = False


@dataclass
class Reply(_Body):
    """One interaction callback (``type``: 4 message, 5 defer, 6 deferred update, 7 update,
    8 autocomplete choices, 9 modal); ``body`` is the callback's ``data``."""

    interaction_id: int
    user_id: int
    type: int
    body: dict[str, Any]
    message: Msg | None = None

    @property
    def choices(self) -> list[dict[str, Any]]:
        return self.body.get("choices", [])


@dataclass
class Turn:
    """Everything the bot did while handling one dispatched event."""

    interaction_id: int | None
    replies: list[Reply]
    followups: list[Msg]
    messages: list[Msg]
    requests: list[Call]

    @property
    def response(self) -> Reply | None:
        return self.replies[0] if self.replies else None

    @property
    def text(self) -> str:
        parts = [r.text for r in self.replies] + [m.text for m in self.messages]
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class FakeUser:
    id: int
    name: str

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


class _Fail(Exception):
    def __init__(self, status: int, code: int = 0, message: str = "", retry_after: float = 0.0):
        super().__init__(status, code, message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


@dataclass
class _Failure:
    method: str
    pattern: str
    fail: _Fail
    times: int | None


# --------------------------------------------------------------------------- world
class World:
    """The guild, users and messages; shared across a simulated restart."""

    def __init__(self, guild_name: str = "PSN Test") -> None:
        self.app_id = self.snowflake()
        self.guild_id = self.snowflake()
        self.bot_user = self._user_payload(self.app_id, "PSN Exchange", bot=True)
        self.users: dict[int, dict[str, Any]] = {self.app_id: self.bot_user}
        self.members: dict[int, dict[str, Any]] = {}
        self.roles: dict[int, dict[str, Any]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.messages: dict[int, Msg] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        # Synced commands by scope (None: global, else a guild id), then by name.
        self.commands: dict[int | None, dict[str, dict[str, Any]]] = {}
        self.guild = {
            "id": str(self.guild_id),
            "name": guild_name,
            "owner_id": str(self.app_id),
            "features": [],
            "preferred_locale": "en-GB",
        }
        self.roles[self.guild_id] = self._role_payload(
            self.guild_id, "@everyone", EVERYONE_PERMS.value
        )
        self.members[self.app_id] = self._member_payload(self.bot_user, [])

    @staticmethod
    def snowflake() -> int:
        return next(_ids)

    @staticmethod
    def _user_payload(uid: int, name: str, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(uid),
            "username": name.lower(),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    @staticmethod
    def _role_payload(rid: int, name: str, permissions: int) -> dict[str, Any]:
        return {
            "id": str(rid),
            "name": name,
            "permissions": str(permissions),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    @staticmethod
    def _member_payload(user: dict[str, Any], roles: list[int]) -> dict[str, Any]:
        return {
            "user": user,
            "roles": [str(r) for r in roles],
            "joined_at": _now(),
            "nick": None,
            "flags": 0,
            "deaf": False,
            "mute": False,
            "pending": False,
        }

    def permissions(self, user_id: int) -> int:
        role_ids = [self.guild_id] + [int(r) for r in self.members[user_id]["roles"]]
        value = 0
        for rid in role_ids:
            value |= int(self.roles[rid]["permissions"])
        return discord.Permissions.all().value if value & 8 else value  # 8 = administrator

    def guild_payload(self, with_members: bool) -> dict[str, Any]:
        members = list(self.members.values()) if with_members else [self.members[self.app_id]]
        channels = [c for c in self.channels.values() if c["type"] not in (1, 11, 12)]
        threads = [c for c in self.channels.values() if c["type"] in (11, 12)]
        return {
            **self.guild,
            "roles": list(self.roles.values()),
            "channels": channels,
            "threads": threads,
            "members": members,
            "member_count": len(members),
            "emojis": [],
            "stickers": [],
            "large": False,
            "unavailable": False,
            "joined_at": _now(),
            "voice_states": [],
            "presences": [],
        }


# --------------------------------------------------------------------------- the fake
class _Adapter(AsyncWebhookAdapter):
    """Interaction webhook adapter: every callback/followup/@original call goes to the fake."""

    def __init__(self, fake: FakeDiscord) -> None:
        super().__init__()
        self.fake = fake

    async def request(
        self,
        route: Any,
        session: Any = None,
        *,
        payload: Any = None,
        multipart: Any = None,
        files: Any = None,
        params: Any = None,
        **_: Any,
    ) -> Any:
        body = payload if payload is not None else _from_multipart(multipart)
        return await self.fake._transport(route, body, params, files, webhook=True)


def _from_multipart(form: Any) -> Any:
    for part in form or []:
        if part.get("name") == "payload_json":
            return json.loads(part["value"])
    return None


class FakeDiscord:
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
        self._ctx = async_context.set(_Adapter(self))
        for name in self.guard:
            logging.getLogger(name).addHandler(self._collector)
        self.bot.http.request = self._http_request  # type: ignore[method-assign]
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
                "guilds": [{"id": str(self.world.guild_id), "unavailable": True}],
                "application": {"id": str(self.world.app_id), "flags": 0},
            },
        )
        self._dispatch("GUILD_CREATE", self.world.guild_payload(self.bot.intents.members))
        await asyncio.wait_for(self.bot.wait_until_ready(), 5)
        self.started = True
        await self.settle()

    async def close(self, check: bool = True) -> None:
        try:
            if check:
                await self.settle()
        finally:
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

    # ---- building the world (before or after start)
    def role(self, name: str, permissions: int = 0) -> int:
        rid = self.world.snowflake()
        self.world.roles[rid] = self.world._role_payload(rid, name, permissions)
        if self.started:
            self._dispatch(
                "GUILD_ROLE_CREATE",
                {"guild_id": str(self.world.guild_id), "role": self.world.roles[rid]},
            )
        return rid

    def role_id(self, name: str) -> int:
        return next(int(r["id"]) for r in self.world.roles.values() if r["name"] == name)

    def member(self, name: str, roles: tuple[str, ...] | list[str] = ()) -> FakeUser:
        """A guild member; role names are created on first use."""
        uid = self.world.snowflake()
        role_ids = [self._role_named(r) for r in roles]
        user = self.world._user_payload(uid, name)
        self.world.users[uid] = user
        self.world.members[uid] = self.world._member_payload(user, role_ids)
        if self.started and self.bot.intents.members:
            self._dispatch(
                "GUILD_MEMBER_ADD",
                {**self.world.members[uid], "guild_id": str(self.world.guild_id)},
            )
        return FakeUser(uid, name)

    def _role_named(self, name: str) -> int:
        try:
            return self.role_id(name)
        except StopIteration:
            return self.role(name)

    def text_channel(self, name: str) -> int:
        return self._channel({"type": 0, "name": name, "topic": None})

    def forum_channel(self, name: str, tags: tuple[str, ...] | list[str] = ()) -> int:
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
                "flags": 0,
            }
        )

    def tag_id(self, forum_id: int, name: str) -> int:
        tags = self.world.channels[forum_id]["available_tags"]
        return next(int(t["id"]) for t in tags if t["name"] == name)

    def _channel(self, extra: dict[str, Any]) -> int:
        cid = self.world.snowflake()
        self.world.channels[cid] = {
            "id": str(cid),
            "guild_id": str(self.world.guild_id),
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
            "guild_id": str(self.world.guild_id),
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
            },
        }
        self.world.channels[tid] = thread
        return thread

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
        (e.g. ``"/channels/*/messages"``) fail. discord.py semantics are kept: 429 and 5xx are
        retried inside discord.py (5 attempts, no real sleeping for 5xx); 403 → Forbidden,
        404 → NotFound, other 4xx → HTTPException, retries exhausted → DiscordServerError."""
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

    # ---- dispatching events
    def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.bot._connection.parsers[event](data)

    async def _turn(self, event: str, data: dict[str, Any], settle: bool) -> Turn:
        marks = len(self.replies), len(self.messages), len(self.requests)
        self._dispatch(event, data)
        if settle:
            await self.settle()
        iid = int(data["id"]) if event == "INTERACTION_CREATE" else None
        replies = [r for r in self.replies[marks[0] :] if r.interaction_id == iid]
        messages = self.messages[marks[1] :]
        followups = [m for m in messages if m.via == "followup"]
        return Turn(iid, replies, followups, messages, self.requests[marks[2] :])

    def _interaction(
        self,
        user: FakeUser,
        itype: int,
        data: dict[str, Any],
        channel: int | None,
        message: Msg | None = None,
    ) -> dict[str, Any]:
        iid, token = self.world.snowflake(), f"itoken-{self.world.snowflake()}"
        user_payload = self.world.users[user.id]
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.world.app_id),
            "type": itype,
            "token": token,
            "version": 1,
            "data": data,
            "locale": "en-GB",
            "app_permissions": str(self.app_permissions),
            "entitlements": [],
            "attachment_size_limit": 8 << 20,
        }
        if channel is None or channel in self.world.dm_channels.values():
            cid = channel or self._dm_channel(user.id)
            payload |= {
                "user": user_payload,
                "context": 1,
                "channel_id": str(cid),
                "channel": {"id": str(cid), "type": 1, "recipients": [user_payload]},
                "authorizing_integration_owners": {"1": str(user.id)},
            }
        else:
            member = self.world.members[user.id]
            payload |= {
                "guild_id": str(self.world.guild_id),
                "channel_id": str(channel),
                "channel": self.world.channels[channel],
                "context": 0,
                "member": {**member, "permissions": str(self.world.permissions(user.id))},
                "guild": {"id": str(self.world.guild_id), "locale": "en-GB", "features": []},
                "guild_locale": "en-GB",
                "authorizing_integration_owners": {"0": str(self.world.guild_id)},
            }
        if message is not None:
            payload["message"] = self._message_payload(message)
        self._interactions[token] = {
            "payload": payload,
            "user_id": user.id,
            "channel_id": int(payload["channel_id"]),
            "responded": None,
            "at": asyncio.get_running_loop().time(),
            "original": None,
            "message": message,
        }
        return payload

    async def slash(
        self,
        user: FakeUser,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        channel: int | None = None,
        settle: bool = True,
    ) -> Turn:
        """``/command`` (``"group sub"`` for subcommands); ``channel=None`` means in a DM."""
        data = self._command_data(command, options or {}, channel, focused=None)
        return await self._turn(
            "INTERACTION_CREATE", self._interaction(user, 2, data, channel), settle
        )

    async def autocomplete(
        self,
        user: FakeUser,
        command: str,
        option: str,
        typed: str,
        options: dict[str, Any] | None = None,
        *,
        channel: int | None = None,
    ) -> list[dict[str, Any]]:
        """The user types ``typed`` into ``option``; returns the choices the bot offered."""
        data = self._command_data(command, options or {}, channel, focused=(option, typed))
        turn = await self._turn(
            "INTERACTION_CREATE", self._interaction(user, 4, data, channel), True
        )
        if turn.response is None or turn.response.type != 8:
            raise AssertionError(f"no autocomplete response: {turn.response}")
        return turn.response.choices

    def _command_data(
        self,
        command: str,
        options: dict[str, Any],
        channel: int | None,
        focused: tuple[str, str] | None,
    ) -> dict[str, Any]:
        tree: app_commands.CommandTree[Any] = self.bot.tree  # type: ignore[attr-defined]
        root, *subs = command.split()
        guild = discord.Object(self.world.guild_id)
        cmd: Any = tree.get_command(root, guild=guild) if channel else None
        guild_scoped = cmd is not None
        cmd = cmd or tree.get_command(root)
        if cmd is None:
            raise LookupError(f"/{root} is not registered on the bot's command tree")
        chain = []
        for sub in subs:
            cmd = cmd.get_command(sub)
            if cmd is None:
                raise LookupError(f"/{command}: no subcommand {sub!r}")
            chain.append((2 if isinstance(cmd, app_commands.Group) else 1, sub))
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._options(cmd, options, resolved, focused)
        for kind, name in reversed(chain):
            opts = [{"type": kind, "name": name, "options": opts}]
        scope = self.world.guild_id if guild_scoped else None
        synced = self.world.commands.get(scope, {}).get(root)
        data = {
            "id": synced["id"] if synced else str(self.world.snowflake()),
            "name": root,
            "type": 1,
            "options": opts,
            "resolved": resolved,
        }
        if guild_scoped:
            data["guild_id"] = str(self.world.guild_id)
        return data

    def _options(
        self,
        cmd: Any,
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: tuple[str, str] | None,
    ) -> list[dict[str, Any]]:
        params = {p.display_name: p for p in cmd.parameters}
        unknown = set(given) - set(params) - ({focused[0]} if focused else set())
        if unknown:
            raise ValueError(f"/{cmd.qualified_name} has no option(s) {sorted(unknown)}")
        out = []
        for name, p in params.items():
            t = p.type.value
            if focused and name == focused[0]:
                out.append({"name": name, "type": t, "value": focused[1], "focused": True})
                continue
            if name not in given:
                if p.required and not focused:
                    raise ValueError(f"/{cmd.qualified_name}: Discord requires option {name!r}")
                continue
            value = given[name]
            if t in (6, 7, 8, 9):  # user, channel, role, mentionable: snowflake + resolved
                sid = int(getattr(value, "id", value))
                if sid in self.world.users:
                    resolved.setdefault("users", {})[str(sid)] = self.world.users[sid]
                    if sid in self.world.members:
                        m = {k: v for k, v in self.world.members[sid].items() if k != "user"}
                        resolved.setdefault("members", {})[str(sid)] = m
                elif sid in self.world.channels:
                    ch = self.world.channels[sid]
                    resolved.setdefault("channels", {})[str(sid)] = {**ch, "permissions": "0"}
                elif sid in self.world.roles:
                    resolved.setdefault("roles", {})[str(sid)] = self.world.roles[sid]
                value = str(sid)
            elif p.choices and value not in [c.value for c in p.choices]:
                raise ValueError(f"{value!r} is not a choice of {name!r}")
            out.append({"name": name, "type": t, "value": value})
        return out

    async def submit_modal(
        self,
        user: FakeUser,
        values: dict[str, Any],
        *,
        custom_id: str | None = None,
        settle: bool = True,
    ) -> Turn:
        """Fill in and submit the last modal the bot showed ``user`` (or the one with
        ``custom_id``). Values are keyed by field custom_id: str for text inputs, list for
        selects. The submit payload mirrors the modal's layout (action rows or Labels)."""
        shown = [
            r
            for r in self.replies
            if r.type == 9 and r.user_id == user.id and custom_id in (None, r.body["custom_id"])
        ]
        if not shown:
            raise LookupError(f"no modal was shown to {user.name}")
        modal = shown[-1]
        origin = next(
            i
            for i in self._interactions.values()
            if int(i["payload"]["id"]) == modal.interaction_id
        )
        unknown = set(values) - set(modal.custom_ids)
        if unknown:
            raise ValueError(f"modal has no field(s) {sorted(unknown)}; has {modal.custom_ids}")
        data = {
            "custom_id": modal.body["custom_id"],
            "components": [self._submitted(c, values) for c in modal.components],
        }
        channel = origin["channel_id"] if "guild_id" in origin["payload"] else None
        payload = self._interaction(user, 5, data, channel, origin["message"])
        return await self._turn("INTERACTION_CREATE", payload, settle)

    def _submitted(self, c: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        if c["type"] == 1:
            return {"type": 1, "components": [self._submitted(x, values) for x in c["components"]]}
        if c["type"] == 18:
            return {
                "type": 18,
                "id": c.get("id", 0),
                "component": self._submitted(c["component"], values),
            }
        out = {"type": c["type"], "id": c.get("id", 0)}
        if c["type"] == 4:  # text input: enforce what Discord's client enforces
            value = str(values.get(c["custom_id"], c.get("value") or ""))
            if c.get("required", True) and not value:
                raise ValueError(f"field {c['custom_id']!r} is required")
            if not c.get("min_length", 0) <= len(value) <= c.get("max_length", 4000) and value:
                raise ValueError(f"field {c['custom_id']!r}: length {len(value)} out of range")
            out |= {"custom_id": c["custom_id"], "value": value}
        elif "custom_id" in c:  # selects inside a Label
            out |= {"custom_id": c["custom_id"], "values": list(values.get(c["custom_id"], []))}
        return out

    async def click(
        self,
        user: FakeUser,
        custom_id: str,
        *,
        message: Msg | int | None = None,
        values: list[str] | None = None,
        settle: bool = True,
    ) -> Turn:
        """Click a button (or pick ``values`` in a select) on ``message``; default: the newest
        non-deleted message carrying that custom_id."""
        msg = self._find_message(custom_id, message)
        comp = msg.component(custom_id)
        if comp.get("disabled"):
            raise ValueError(f"{custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
            offered = [o["value"] for o in comp.get("options", [])]
            if offered and not set(data["values"]) <= set(offered):
                raise ValueError(f"{custom_id!r} offers only {offered}")
        channel = None if msg.channel_id in self.world.dm_channels.values() else msg.channel_id
        payload = self._interaction(user, 3, data, channel, msg)
        return await self._turn("INTERACTION_CREATE", payload, settle)

    def _find_message(self, custom_id: str, message: Msg | int | None) -> Msg:
        if isinstance(message, Msg):
            return message
        if message is not None:
            return self.world.messages[message]
        for msg in reversed(self.world.messages.values()):
            if not msg.deleted and custom_id in msg.custom_ids:
                return msg
        raise LookupError(f"no message has a component {custom_id!r}")

    async def message(
        self, user: FakeUser, channel: int | None, content: str, settle: bool = True
    ) -> Turn:
        """The user posts ``content`` in ``channel`` (None: DM to the bot)."""
        cid = channel or self._dm_channel(user.id)
        return await self._user_message(user, cid, content, self.world.snowflake(), settle)

    async def forum_post(
        self,
        user: FakeUser,
        forum: int,
        title: str,
        content: str,
        tags: tuple[str, ...] | list[str] = (),
        settle: bool = True,
    ) -> Turn:
        """A new forum post: THREAD_CREATE, then MESSAGE_CREATE of the starter message
        (same id as the thread), as the gateway sends them."""
        tid = self.world.snowflake()
        thread = self._thread(forum, user.id, title, [self.tag_id(forum, t) for t in tags], tid)
        if self.bot.intents.guilds:
            self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return await self._user_message(user, tid, content, tid, settle)

    async def _user_message(
        self, user: FakeUser, cid: int, content: str, mid: int, settle: bool
    ) -> Turn:
        in_dm = cid in self.world.dm_channels.values()
        intents = self.bot.intents
        mentioned = f"<@{self.world.app_id}>" in content or f"<@!{self.world.app_id}>" in content
        if not (intents.message_content or in_dm or mentioned):
            content = ""  # no privileged Message Content intent: Discord sends it empty
        body = {"content": content}
        msg = Msg(mid, cid, body, "user", user.id)
        self.world.messages[mid] = msg
        payload = self._message_payload(msg, author=self.world.users[user.id])
        if not in_dm:
            member = {k: v for k, v in self.world.members[user.id].items() if k != "user"}
            payload |= {"guild_id": str(self.world.guild_id), "member": member}
        if not (intents.dm_messages if in_dm else intents.guild_messages):
            return Turn(None, [], [], [], [])
        return await self._turn("MESSAGE_CREATE", payload, settle)

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

    # ---- the wire
    async def _http_request(
        self, route: Any, *, files: Any = None, form: Any = None, **kwargs: Any
    ) -> Any:
        body = kwargs.get("json", _from_multipart(form))
        return await self._transport(route, body, kwargs.get("params"), files, webhook=False)

    async def _transport(
        self, route: Any, body: Any, params: Any, files: Any, webhook: bool
    ) -> Any:
        path = route.url[len(route.BASE) :]
        names = [getattr(f, "filename", "") for f in files or []]
        fail: _Fail | None = None
        for _attempt in range(5):
            call = Call(route.method, path, body, params, names)
            self.requests.append(call)
            try:
                self._injected_failure(call)
                return self._answer(call)
            except _Fail as exc:
                fail = exc
                call.status = exc.status
            resp = SimpleNamespace(status=fail.status, reason=f"HTTP {fail.status}", headers={})
            data = {"message": fail.message, "code": fail.code}
            if fail.status == 429:
                limit = self.bot.http.max_ratelimit_timeout
                if not webhook and limit and fail.retry_after > limit:
                    raise RateLimited(fail.retry_after)
                logging.getLogger("discord.http").warning("429 on %s %s", call.method, path)
                await asyncio.sleep(fail.retry_after)
            elif fail.status < 500:
                raise {403: Forbidden, 404: NotFound}.get(fail.status, HTTPException)(resp, data)
        assert fail is not None
        raise (DiscordServerError if fail.status >= 500 else HTTPException)(resp, data)

    def _injected_failure(self, call: Call) -> None:
        for f in self._failures:
            if (
                f.method == call.method
                and fnmatch.fnmatchcase(call.path, f.pattern)
                and f.times != 0
            ):
                if f.times is not None:
                    f.times -= 1
                raise f.fail

    def _answer(self, call: Call) -> Any:
        for method, pattern, handler in self._routes():
            m = re.fullmatch(pattern, call.path)
            if m and method == call.method:
                return handler(call, *m.groups())
        raise NotImplementedError(f"fakediscord has no answer for {call.method} {call.path}")

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        w, n = self.world, r"(\d+)"
        return [
            ("GET", r"/users/@me", lambda c: w.bot_user),
            (
                "GET",
                r"/oauth2/applications/@me",
                lambda c: {
                    "id": str(w.app_id),
                    "name": "PSN Exchange",
                    "description": "",
                    "icon": None,
                    "bot_public": False,
                    "bot_require_code_grant": False,
                    "owner": w.bot_user,
                    "verify_key": "",
                    "flags": 0,
                },
            ),
            ("GET", rf"/users/{n}", lambda c, u: self._known(w.users, u)),
            ("GET", rf"/guilds/\d+/members/{n}", lambda c, u: self._known(w.members, u)),
            ("GET", rf"/channels/{n}", lambda c, ch: self._known(w.channels, ch)),
            (
                "POST",
                r"/users/@me/channels",
                lambda c: w.channels[self._dm_channel(int(c.json["recipient_id"]))],
            ),
            ("POST", rf"/channels/{n}/messages", self._post_message),
            (
                "GET",
                rf"/channels/\d+/messages/{n}",
                lambda c, m: self._message_payload(self._msg(m)),
            ),
            (
                "PATCH",
                rf"/channels/\d+/messages/{n}",
                lambda c, m: self._edit(self._msg(m), c.json),
            ),
            ("DELETE", rf"/channels/\d+/messages/{n}", lambda c, m: self._delete(self._msg(m))),
            ("POST", r"/channels/\d+/typing", lambda c: None),
            ("PUT", r"/channels/\d+/messages/\d+/reactions/.+", lambda c: None),
            ("POST", rf"/channels/{n}/messages/{n}/threads", self._thread_from_message),
            ("POST", rf"/channels/{n}/threads", self._new_thread),
            ("PUT", r"/applications/\d+(?:/guilds/(\d+))?/commands", self._sync),
            (
                "GET",
                r"/applications/\d+(?:/guilds/(\d+))?/commands",
                lambda c, g: list(w.commands.get(int(g) if g else None, {}).values()),
            ),
            ("POST", r"/interactions/\d+/([^/]+)/callback", self._callback),
            ("POST", r"/webhooks/\d+/([^/]+)", self._followup),
            (
                "PATCH",
                r"/webhooks/\d+/([^/]+)/messages/(@original|\d+)",
                lambda c, t, m: self._edit(self._webhook_msg(t, m), c.json),
            ),
            (
                "GET",
                r"/webhooks/\d+/([^/]+)/messages/(@original|\d+)",
                lambda c, t, m: self._message_payload(self._webhook_msg(t, m)),
            ),
            (
                "DELETE",
                r"/webhooks/\d+/([^/]+)/messages/(@original|\d+)",
                lambda c, t, m: self._delete(self._webhook_msg(t, m)),
            ),
        ]

    @staticmethod
    def _known(table: dict[int, Any], key: str) -> Any:
        if int(key) not in table:
            raise _Fail(404, 10013, "Unknown")
        return table[int(key)]

    def _msg(self, mid: str | int) -> Msg:
        msg = self.world.messages.get(int(mid))
        if msg is None or msg.deleted:
            raise _Fail(404, 10008, "Unknown Message")
        return msg

    def _dm_channel(self, user_id: int) -> int:
        if user_id not in self.world.dm_channels:
            cid = self.world.snowflake()
            self.world.dm_channels[user_id] = cid
            self.world.channels[cid] = {
                "id": str(cid),
                "type": 1,
                "last_message_id": None,
                "recipients": [self.world.users[user_id]],
            }
        return self.world.dm_channels[user_id]

    def _message_payload(self, msg: Msg, author: dict[str, Any] | None = None) -> dict[str, Any]:
        b = msg.body
        return {
            "id": str(msg.id),
            "channel_id": str(msg.channel_id),
            "type": 0,
            "author": author
            or (self.world.users[msg.user_id or 0] if msg.via == "user" else self.world.bot_user),
            "content": b.get("content") or "",
            "embeds": b.get("embeds") or [],
            "components": b.get("components") or [],
            "flags": int(b.get("flags") or 0),
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": _now(),
            "edited_timestamp": _now() if msg.edits else None,
        }

    def _store(
        self, channel_id: int, body: Any, via: str, user_id: int | None, mid: int | None = None
    ) -> Msg:
        msg = Msg(mid or self.world.snowflake(), channel_id, dict(body or {}), via, user_id)
        self.world.messages[msg.id] = msg
        self.messages.append(msg)
        if msg.ephemeral or (via == "response" and msg.flags & LOADING):
            return msg
        payload = self._message_payload(msg)
        in_guild = channel_id not in self.world.dm_channels.values()
        if in_guild:
            payload["guild_id"] = str(self.world.guild_id)
        if self.bot.intents.guild_messages if in_guild else self.bot.intents.dm_messages:
            # the gateway echoes the bot's own messages back to it
            asyncio.get_running_loop().call_soon(self._dispatch, "MESSAGE_CREATE", payload)
        return msg

    def _post_message(self, call: Call, cid: str) -> dict[str, Any]:
        channel = self._known(self.world.channels, cid)
        dm_user = next((u for u, c in self.world.dm_channels.items() if c == int(cid)), None)
        via, user = ("dm", dm_user) if channel["type"] == 1 else ("channel", None)
        return self._message_payload(self._store(int(cid), call.json, via, user))

    def _edit(self, msg: Msg, body: Any) -> dict[str, Any]:
        msg.body.update({k: v for k, v in (body or {}).items() if k != "attachments"})
        msg.body["flags"] = msg.flags & ~LOADING
        msg.edits += 1
        return self._message_payload(msg)

    def _delete(self, msg: Msg) -> None:
        msg.deleted = True

    def _thread_from_message(self, call: Call, cid: str, mid: str) -> dict[str, Any]:
        self._msg(mid)
        thread = self._thread(int(cid), self.world.app_id, call.json["name"], [], int(mid))
        self._echo_thread(thread)
        return thread

    def _new_thread(self, call: Call, cid: str) -> dict[str, Any]:
        body = call.json or {}
        tid = self.world.snowflake()
        thread = self._thread(
            int(cid), self.world.app_id, body["name"], body.get("applied_tags", []), tid
        )
        self._echo_thread(thread)
        if "message" not in body:  # thread in a text channel
            return thread
        starter = self._store(tid, body["message"], "channel", None, mid=tid)
        return {**thread, "message": self._message_payload(starter)}

    def _echo_thread(self, thread: dict[str, Any]) -> None:
        if self.bot.intents.guilds:
            data = {**thread, "newly_created": True}
            asyncio.get_running_loop().call_soon(self._dispatch, "THREAD_CREATE", data)

    def _sync(self, call: Call, guild: str | None) -> list[dict[str, Any]]:
        """Bulk overwrite, as Discord does: the scope's commands become exactly these."""
        scope = int(guild) if guild else None
        before = self.world.commands.get(scope, {})
        after = {}
        for cmd in call.json:
            old = before.get(cmd["name"])
            after[cmd["name"]] = {
                **cmd,
                "id": old["id"] if old else str(self.world.snowflake()),
                "application_id": str(self.world.app_id),
                "version": str(self.world.snowflake()),
                **({"guild_id": guild} if guild else {}),
            }
        self.world.commands[scope] = after
        return list(after.values())

    def _ix(self, token: str) -> dict[str, Any]:
        if token not in self._interactions:
            raise _Fail(404, 10015, "Unknown Webhook")
        return self._interactions[token]

    def _callback(self, call: Call, token: str) -> dict[str, Any]:
        ix = self._ix(token)
        late = asyncio.get_running_loop().time() - ix["at"] > self.response_deadline
        if ix["responded"] is not None:
            raise _Fail(400, 40060, "Interaction has already been acknowledged.")
        if late:
            raise _Fail(404, 10062, "Unknown interaction")
        rtype, data = call.json["type"], call.json.get("data") or {}
        ix["responded"] = rtype
        iid = int(ix["payload"]["id"])
        reply = Reply(iid, ix["user_id"], rtype, data)
        self.replies.append(reply)
        out: dict[str, Any] = {
            "interaction": {
                "id": str(iid),
                "type": ix["payload"]["type"],
                "response_message_loading": rtype == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
            }
        }
        if rtype in (4, 5):
            if rtype == 5:
                data = {"flags": int(data.get("flags") or 0) | LOADING}
            reply.message = self._store(ix["channel_id"], data, "response", ix["user_id"])
            ix["original"] = reply.message
        elif rtype == 7 and ix["message"] is not None:
            reply.message = ix["message"]
            self._edit(reply.message, data)
        if reply.message is not None:
            out["interaction"]["response_message_id"] = str(reply.message.id)
            out["resource"] = {"type": rtype, "message": self._message_payload(reply.message)}
        return out

    def _followup(self, call: Call, token: str) -> dict[str, Any]:
        ix = self._ix(token)
        original: Msg | None = ix["original"]
        if original is not None and original.flags & LOADING:
            # the first followup after a "thinking" defer replaces the loading message and
            # keeps the defer's ephemerality
            body = {**(call.json or {}), "flags": original.flags & EPHEMERAL}
            self._edit(original, body)
            original.via = "followup"
            return self._message_payload(original)
        return self._message_payload(
            self._store(ix["channel_id"], call.json, "followup", ix["user_id"])
        )

    def _webhook_msg(self, token: str, mid: str) -> Msg:
        ix = self._ix(token)
        if mid == "@original":
            if ix["original"] is None:
                raise _Fail(404, 10008, "Unknown Message")
            return ix["original"]
        return self._msg(mid)
