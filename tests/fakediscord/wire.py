"""The wire: every REST call and interaction webhook call the bot makes, routed to a
handler that records it and answers as Discord would."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import aiohttp
from discord.http import HTTPClient, Route
from multidict import CIMultiDict

from tests.fakediscord import limits
from tests.fakediscord.records import (
    EPHEMERAL,
    LOADING,
    MANAGE_THREADS,
    MAX_APPLIED_TAGS,
    READ_MESSAGE_HISTORY,
    REQUIRE_TAG,
    Call,
    Msg,
    Reply,
    _Fail,
    _now,
)

if TYPE_CHECKING:
    from tests.fakediscord.core import FakeDiscord


class _Response:
    """What discord.py reads of an aiohttp response: status, reason, headers, text."""

    def __init__(self, status: int, data: Any, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = HTTPStatus(status).phrase
        self.headers: CIMultiDict[str] = CIMultiDict(headers)
        self.headers["Via"] = "1.1 google"  # Discord answers through Google's load balancer
        self._text = ""
        if isinstance(data, str):  # Cloudflare's own answer, before Discord
            self._text = data
            self.headers["Content-Type"] = "text/plain"
            del self.headers["Via"]
        elif data is not None:
            self._text = json.dumps(data)
            self.headers["Content-Type"] = "application/json"

    async def text(self, encoding: str | None = None) -> str:
        return self._text

    async def json(self, **_: Any) -> Any:
        return json.loads(self._text) if self._text else None


class _Request:
    """One ``async with session.request(...) as response`` of discord.py."""

    def __init__(self, fake: FakeDiscord, method: str, url: str, kwargs: dict[str, Any]) -> None:
        self.fake, self.method, self.url, self.kwargs = fake, method, url, kwargs

    async def __aenter__(self) -> _Response:
        return self.fake._exchange(
            self.method, self.url, self.kwargs.get("data"), self.kwargs.get("params")
        )

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Session:
    """Stands in for discord.py's aiohttp session, so everything above it is discord.py's
    own: ``HTTPClient.request`` with its rate-limit buckets, global lock, 429 and 5xx
    retries, and the interaction webhook adapter (which uses the same session)."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.closed = False

    def request(self, method: str, url: str, **kwargs: Any) -> _Request:
        return _Request(self.fake, method, url, kwargs)

    async def close(self) -> None:
        self.closed = True


def install(fake: FakeDiscord, http: HTTPClient) -> None:
    """Make ``http`` log in with the fake session (its ``static_login``, minus aiohttp)."""
    session = _Session(fake)

    async def static_login(token: str) -> Any:
        http._HTTPClient__session = session  # type: ignore[attr-defined]
        http._global_over = asyncio.Event()
        http._global_over.set()
        http.token = token
        return await http.request(Route("GET", "/users/@me"))

    http.static_login = static_login  # type: ignore[method-assign]


def _decoded(data: Any) -> tuple[Any, list[str]]:
    """The JSON body of a request (plain, or a multipart form's payload_json), and the
    names of the files it carries."""
    if isinstance(data, aiohttp.FormData):
        body, names = None, []
        for options, _headers, value in data._fields:
            if options.get("name") == "payload_json":
                body = json.loads(value)
            elif options.get("filename"):
                names.append(options["filename"])
        return body, names
    if isinstance(data, str | bytes) and data:
        return json.loads(data), []
    return None, []


class _Wire:
    """FakeDiscord's HTTP side (a mixin: the state lives on FakeDiscord)."""

    # ---- the wire
    def _exchange(self, method: str, url: str, data: Any, params: Any) -> _Response:
        """Answer one HTTP request as Discord would: a status, a JSON body, headers."""
        body, names = _decoded(data)
        call = Call(method, url[len(Route.BASE) :], body, params, names, at=self.clock())
        self.requests.append(call)
        limits = self.world.rate_limits
        if limits.banned(call.at):  # too many invalid requests: Cloudflare answers
            call.status = 429
            return _Response(429, "error code: 1015", {"Retry-After": "600"})
        limit_headers: dict[str, str] = {}
        try:
            limit_headers = limits.admit(method, call.path, call.at)
            self._injected_failure(call)
            answer = self._answer(call)
        except _Fail as fail:
            call.status = fail.status
            limits.answered(fail.status, call.at)
            return _Response(fail.status, fail.body(), {**limit_headers, **fail.headers()})
        return _Response(200 if answer is not None else 204, answer, limit_headers)

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
            ("POST", r"/users/@me/channels", self._open_dm),
            ("POST", rf"/channels/{n}/messages", self._post_message),
            (
                "GET",
                rf"/channels/\d+/messages/{n}",
                lambda c, m: self._message_payload(self._msg(m)),
            ),
            (
                "PATCH",
                rf"/channels/\d+/messages/{n}",
                lambda c, m: self._edit(self._editable(self._msg(m)), limits.checked(c.json)),
            ),
            ("DELETE", rf"/channels/\d+/messages/{n}", lambda c, m: self._delete(self._msg(m))),
            ("POST", r"/channels/\d+/typing", lambda c: None),
            ("PUT", r"/channels/\d+/messages/\d+/reactions/.+", lambda c: None),
            ("POST", rf"/channels/{n}/messages/{n}/threads", self._thread_from_message),
            ("POST", rf"/channels/{n}/threads", self._new_thread),
            ("GET", rf"/channels/{n}/threads/archived/public", self._archived_threads),
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
                lambda c, t, m: self._edit(self._webhook_msg(t, m), limits.checked(c.json)),
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

    def _archived_threads(self, call: Call, channel_id: str) -> dict[str, Any]:
        """List Public Archived Threads (https://discord.com/developers/docs/resources/channel
        #list-public-archived-threads): a channel's archived public threads, newest archived
        first, those archived before ``before`` (an ISO8601 timestamp) when it is given, at
        most ``limit`` (discord.py never asks for fewer than 2, nor more than 100). Needs
        READ_MESSAGE_HISTORY: without it 403/50013 Missing Permissions."""
        channel = self._known(self.world.channels, channel_id)
        if channel["type"] not in (0, 5, 15, 16):
            raise _Fail(400, 50024, "Cannot execute action on this channel type")
        if not self.world.permissions(self.world.app_id) & READ_MESSAGE_HISTORY:
            raise _Fail(403, 50013, "Missing Permissions")
        params = call.params or {}
        try:
            limit = int(params.get("limit", 50))
            before = datetime.fromisoformat(str(params["before"])) if "before" in params else None
        except ValueError:
            raise _Fail(400, 50035, "Invalid Form Body") from None
        if not 2 <= limit <= 100:
            raise _Fail(400, 50035, "Invalid Form Body")

        def archived_at(thread: dict[str, Any]) -> datetime:
            return datetime.fromisoformat(thread["thread_metadata"]["archive_timestamp"])

        threads = sorted(
            (
                t
                for t in self.world.channels.values()
                if t["type"] == 11
                and t.get("parent_id") == channel_id
                and t["thread_metadata"]["archived"]
                and (before is None or archived_at(t) < before)
            ),
            key=archived_at,
            reverse=True,
        )
        return {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit}

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

    def _open_dm(self, call: Call) -> dict[str, Any]:
        """Create DM (https://discord.com/developers/docs/resources/user#create-dm): the DM
        channel with the user, the existing one if there is one. A ``recipient_id`` that is
        not a snowflake is refused 400/50035 with the field named; one that names no user
        Discord knows (a made-up or deleted account, or the bot itself) 400/50033 "Invalid
        Recipient(s)" (the code on the JSON error codes page; the status as bots meet it,
        e.g. bwmarrin/discordgo#953)."""
        raw = (call.json or {}).get("recipient_id")
        try:
            user_id = int(raw)
        except (TypeError, ValueError):
            error = {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{raw}" is not snowflake.'}
            raise _Fail(
                400, 50035, "Invalid Form Body", errors={"recipient_id": {"_errors": [error]}}
            ) from None
        if user_id not in self.world.users or user_id == self.world.app_id:
            raise _Fail(400, 50033, "Invalid Recipient(s)")
        return self.world.channels[self._dm_channel(user_id)]

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
            payload["guild_id"] = str(self.world.guild_of(channel_id))
        if self.bot.intents.guild_messages if in_guild else self.bot.intents.dm_messages:
            # the gateway echoes the bot's own messages back to it
            asyncio.get_running_loop().call_soon(self._dispatch, "MESSAGE_CREATE", payload)
        return msg

    def _post_message(self, call: Call, cid: str) -> dict[str, Any]:
        limits.check_message(call.json)
        channel = self._known(self.world.channels, cid)
        if channel["type"] in (10, 11, 12):
            self._thread_takes_messages(channel)
        if self._starter_missing(channel):
            # A forum post's starter message can arrive after THREAD_CREATE
            # (https://discord.com/developers/docs/topics/threads#forums); until it exists the
            # thread takes no message: 40058 on
            # https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
            raise _Fail(
                400,
                40058,
                "Cannot send messages in this thread until the first message is sent",
            )
        earlier = self._same_nonce(call)
        if earlier is not None:
            self.world.dropped_duplicates.append(call)
            return self._message_payload(earlier)
        dm_user = next((u for u, c in self.world.dm_channels.items() if c == int(cid)), None)
        via, user = ("dm", dm_user) if channel["type"] == 1 else ("channel", None)
        msg = self._store(int(cid), call.json, via, user)
        if call.json.get("nonce") is not None:
            self.world.nonces[str(call.json["nonce"])] = (msg.id, self.clock())
        return self._message_payload(msg)

    def _same_nonce(self, call: Call) -> Msg | None:
        """The bot's earlier message with this one's nonce, if Discord would return it instead
        of creating this one: "If true and nonce is present, it will be checked for uniqueness
        in the past few minutes. If another message was created by the same author with the
        same nonce, that message will be returned and no new message will be created"
        (``enforce_nonce``, https://discord.com/developers/docs/resources/message#create-
        message-jsonform-params). "A few minutes" is taken as ``nonce_window`` (2): a resend
        later than that makes a second message."""
        body = call.json or {}
        if not body.get("enforce_nonce") or body.get("nonce") is None:
            return None
        seen = self.world.nonces.get(str(body["nonce"]))
        if seen is None or self.clock() - seen[1] > self.nonce_window:
            return None
        earlier = self.world.messages.get(seen[0])
        return earlier if earlier is not None and not earlier.deleted else None

    def _thread_takes_messages(self, thread: dict[str, Any]) -> None:
        """A locked thread takes no message from a member without MANAGE_THREADS ("Users
        won't be able to create or update messages in locked threads",
        https://discord.com/developers/docs/topics/threads#locked-threads): 403 with 50083,
        "Tried to perform an operation on an archived thread" on the JSON error codes page,
        worded "Thread is archived" (as reported in discord/discord-api-docs#7707). An archived
        thread that is not locked is unarchived by the message ("Sending a message will
        automatically unarchive the thread", #active-archived-threads), and the gateway sends
        THREAD_UPDATE (#unarchiving-a-thread)."""
        meta = thread["thread_metadata"]
        if meta["locked"] and not self.world.permissions(self.world.app_id) & MANAGE_THREADS:
            raise _Fail(403, 50083, "Thread is archived")
        if meta["archived"]:
            meta.update(archived=False, archive_timestamp=_now())
            if self.bot.intents.guilds:
                asyncio.get_running_loop().call_soon(self._dispatch, "THREAD_UPDATE", dict(thread))

    def _editable(self, msg: Msg) -> Msg:
        """A message in an archived or locked thread cannot be edited ("Users cannot edit
        messages ... in archived threads"; see _thread_takes_messages for locked ones)."""
        thread = self.world.channels.get(msg.channel_id, {})
        meta = thread.get("thread_metadata")
        if (
            meta
            and meta["locked"]
            and not self.world.permissions(self.world.app_id) & MANAGE_THREADS
        ):
            raise _Fail(403, 50083, "Thread is archived")
        if meta and meta["archived"]:
            raise _Fail(400, 50083, "Thread is archived")
        return msg

    def _starter_missing(self, channel: dict[str, Any]) -> bool:
        if channel["type"] not in (11, 12) or not channel.get("parent_id"):
            return False
        parent = self.world.channels.get(int(channel["parent_id"]), {})
        return parent.get("type") in (15, 16) and int(channel["id"]) not in self.world.messages

    def _check_forum_tags(self, forum: dict[str, Any], applied: list[Any]) -> None:
        """A forum post's ``applied_tags`` name the forum's own tags, at most 5, and a forum
        with REQUIRE_TAG refuses a post with none: 40067 "A tag is required to create a forum
        post in this channel" (https://discord.com/developers/docs/resources/channel#start-
        thread-in-forum-or-media-channel and the JSON error codes page)."""
        if forum.get("type") not in (15, 16):
            return
        known = {t["id"] for t in forum.get("available_tags", [])}
        errors: list[dict[str, str]] = []
        if len(applied) > MAX_APPLIED_TAGS:
            errors.append(
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 5 or fewer in length."}
            )
        if any(str(t) not in known for t in applied):
            errors.append({"code": "INVALID_TAG", "message": "Unknown tag."})  # no doc wording
        if errors:
            raise _Fail(
                400, 50035, "Invalid Form Body", errors={"applied_tags": {"_errors": errors}}
            )
        if not applied and int(forum.get("flags") or 0) & REQUIRE_TAG:
            raise _Fail(400, 40067, "A tag is required to create a forum post in this channel")

    def _edit(self, msg: Msg, body: Any) -> dict[str, Any]:
        msg.body.update({k: v for k, v in (body or {}).items() if k != "attachments"})
        msg.body["flags"] = msg.flags & ~LOADING
        msg.edits += 1
        return self._message_payload(msg)

    def _delete(self, msg: Msg) -> None:
        msg.deleted = True

    def _thread_from_message(self, call: Call, cid: str, mid: str) -> dict[str, Any]:
        limits.check_thread(call.json)
        self._msg(mid)
        thread = self._thread(int(cid), self.world.app_id, call.json["name"], [], int(mid))
        self._echo_thread(thread)
        return thread

    def _new_thread(self, call: Call, cid: str) -> dict[str, Any]:
        limits.check_thread(call.json)
        body = call.json or {}
        self._check_forum_tags(self._known(self.world.channels, cid), body.get("applied_tags", []))
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

    def _live(self, token: str) -> dict[str, Any]:
        """The interaction of a followup or @original call, while its token is valid:
        "Interaction tokens are valid for 15 minutes" (https://discord.com/developers/docs/
        interactions/receiving-and-responding#followup-messages); after that Discord answers
        401 with 50027, "Invalid webhook token provided" on the JSON error codes page."""
        ix = self._ix(token)
        if self.clock() - ix["at"] > self.token_lifetime:
            raise _Fail(401, 50027, "Invalid Webhook Token")
        return ix

    def _callback(self, call: Call, token: str) -> dict[str, Any]:
        ix = self._ix(token)
        late = self.clock() - ix["at"] > self.response_deadline
        if ix["responded"] is not None:
            raise _Fail(400, 40060, "Interaction has already been acknowledged.")
        if late:
            raise _Fail(404, 10062, "Unknown interaction")
        rtype, data = call.json["type"], call.json.get("data") or {}
        limits.check_callback(rtype, data)
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
        if rtype in (6, 7) and ix["message"] is not None:
            # After an update (6 or 7), @original is the message the component is on:
            # https://discord.com/developers/docs/interactions/receiving-and-responding#edit-original-interaction-response
            ix["original"] = ix["message"]
        if reply.message is not None:
            out["interaction"]["response_message_id"] = str(reply.message.id)
            out["resource"] = {"type": rtype, "message": self._message_payload(reply.message)}
        return out

    def _followup(self, call: Call, token: str) -> dict[str, Any]:
        ix = self._live(token)
        limits.check_message(call.json)
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
        ix = self._live(token)
        if mid == "@original":
            if ix["original"] is None:
                raise _Fail(404, 10008, "Unknown Message")
            return ix["original"]
        return self._msg(mid)
