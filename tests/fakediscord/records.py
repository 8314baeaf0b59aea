"""What the fake records and answers with: calls, messages, replies, turns, users, injected
failures; and the guard that fails a test on an ERROR log."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord

from tests.fakediscord import clock

EPHEMERAL, LOADING = 64, 128
MANAGE_THREADS = discord.Permissions(manage_threads=True).value
READ_MESSAGE_HISTORY = discord.Permissions(read_message_history=True).value
REQUIRE_TAG = 1 << 4  # channel flag of a forum that refuses posts without a tag
MAX_APPLIED_TAGS = 5  # a thread's applied_tags: at most 5 (channel resource, thread fields)
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
    """Run an ``async def`` test on the fake's clock (``clock.IdleSkippingLoop``: idle waits
    take no real time), with no pytest-asyncio; fixtures still work."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return clock.run(fn(*args, **kwargs))

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
    at: float = 0.0  # when it reached the fake, on the fake's clock (the loop's time)


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
    """A refusal, as Discord words it: a status, a JSON error code and message."""

    def __init__(
        self,
        status: int,
        code: int = 0,
        message: str = "",
        retry_after: float = 0.0,
        errors: dict[str, Any] | None = None,
        *,
        is_global: bool = False,
        limit_headers: dict[str, str] | None = None,
    ):
        super().__init__(status, code, message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after
        self.errors = errors  # Discord's per-field "errors" body of a 400/50035
        self.is_global = is_global  # a 429 of the global rate limit
        self.limit_headers = limit_headers or {}  # the route's X-RateLimit-* on a 429

    def body(self) -> dict[str, Any]:
        if self.status == 429:
            # https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
            body: dict[str, Any] = {
                "message": self.message or "You are being rate limited.",
                "retry_after": self.retry_after,
                "global": self.is_global,
            }
            if self.code:
                body["code"] = self.code
            return body
        body = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body

    def headers(self) -> dict[str, str]:
        if self.status != 429:
            return {}
        headers = {
            **self.limit_headers,
            "Retry-After": str(math.ceil(self.retry_after)),
            "X-RateLimit-Scope": "global" if self.is_global else "user",
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        return headers


@dataclass
class _Failure:
    method: str
    pattern: str
    fail: _Fail
    times: int | None
