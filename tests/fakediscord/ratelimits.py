"""Discord's rate limits, kept by the fake: the global limit and per-route buckets.

https://discord.com/developers/docs/topics/rate-limits: a bot makes at most 50 requests per
second in all (interaction endpoints are not bound by it); routes have their own limits,
announced in ``X-RateLimit-*`` headers and kept per top-level resource (a channel, a guild, a
webhook); a request over a limit is answered 429 with ``retry_after`` and ``global``, and
counts as an invalid request. discord.py handles all of it (its buckets read the headers and
wait before a bucket is empty; a 429 is waited out and retried, a global one holding every
request), so the fake only has to answer as Discord does.

Discord does not publish per-route figures ("should not be hard coded"); the defaults are
what bots observe, or stricter:

* ``POST /channels/{channel_id}/messages``: 5 per 5 s per channel (observed: 5 per 4-5 s).
* ``POST /users/@me/channels`` (open a DM): 5 per second. Discord announces no bucket here,
  but refuses a bot that opens many DMs quickly (403/40003, threshold unpublished; see the
  warning at https://discord.com/developers/docs/resources/user#create-dm), so the fake keeps
  a bucket, to make a burst of DM opens meet a limit.

A test sets its own: ``fake.rate_limits.routes[MESSAGES] = Bucket(2, 1.0)``, or
``fake.rate_limits.global_per_second = None`` to lift the global limit.

Invalid requests (401, 403, and 429 other than ``X-RateLimit-Scope: shared``): 10,000 in 10
minutes and the host's IP is banned for a while (#invalid-request-limit-aka-cloudflare-bans).
The fake then answers every request as Cloudflare does, 429 with a plain-text body and no
``Via`` header (which discord.py raises as an HTTPException, "banned by Cloudflare"), until
the last 10 minutes hold fewer than ``invalid_limit`` again.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import deque
from dataclasses import dataclass, field

from tests.fakediscord.records import _Fail

MESSAGES = ("POST", "/channels/{channel_id}/messages")
OPEN_DM = ("POST", "/users/@me/channels")
GLOBAL_PER_SECOND = 50
INVALID_PER_10_MINUTES = 10_000
# Interaction callbacks, followups and @original edits are not bound by the global limit.
NOT_GLOBAL = ("/interactions/", "/webhooks/")


@dataclass(frozen=True)
class Bucket:
    """``limit`` requests per ``per`` seconds, from the first request of a window."""

    limit: int
    per: float


@dataclass
class _Window:
    start: float
    used: int = 0


def _default_routes() -> dict[tuple[str, str], Bucket]:
    return {MESSAGES: Bucket(5, 5.0), OPEN_DM: Bucket(5, 1.0)}


@dataclass
class RateLimits:
    """The limits in force (change them per test) and what has been used of them."""

    global_per_second: int | None = GLOBAL_PER_SECOND
    routes: dict[tuple[str, str], Bucket] = field(default_factory=_default_routes)
    invalid_limit: int = INVALID_PER_10_MINUTES
    rejected: int = 0  # 429s answered (each one an invalid request for Discord)
    _invalid: deque[float] = field(default_factory=deque)  # invalid requests, last 10 minutes
    _recent: deque[float] = field(default_factory=deque)  # global: requests in the last 1 s
    _windows: dict[tuple[str, str, str], _Window] = field(default_factory=dict)

    def admit(self, method: str, path: str, now: float) -> dict[str, str]:
        """Let one request through, returning the route's ``X-RateLimit-*`` headers (none
        for a route without a bucket); or refuse it with a 429."""
        found = self._route(method, path)
        headers: dict[str, str] = {}
        window: _Window | None = None
        if found is not None:
            (template, bucket), resource = found
            key = (method, template, resource)
            window = self._windows.get(key)
            if window is None or now >= window.start + bucket.per:
                window = self._windows[key] = _Window(now)
            reset_after = window.start + bucket.per - now
            if window.used >= bucket.limit:
                self.rejected += 1
                raise _Fail(
                    429,
                    retry_after=_up(reset_after),
                    limit_headers=_headers(template, bucket, 0, reset_after),
                )
            headers = _headers(template, bucket, bucket.limit - window.used - 1, reset_after)
        if self.global_per_second and not path.startswith(NOT_GLOBAL):
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.global_per_second:
                self.rejected += 1
                raise _Fail(429, retry_after=_up(self._recent[0] + 1.0 - now), is_global=True)
            self._recent.append(now)
        if window is not None:
            window.used += 1
        return headers

    def banned(self, now: float) -> bool:
        """Whether the host is banned: ``invalid_limit`` invalid requests in 10 minutes."""
        while self._invalid and self._invalid[0] <= now - 600.0:
            self._invalid.popleft()
        return len(self._invalid) >= self.invalid_limit

    def answered(self, status: int, now: float) -> None:
        """Count an answer towards the invalid-request limit (every 429 the fake gives is of
        the bot's own making, none ``shared``)."""
        if status in (401, 403, 429):
            self._invalid.append(now)

    def _route(self, method: str, path: str) -> tuple[tuple[str, Bucket], str] | None:
        for (wanted, template), bucket in self.routes.items():
            if wanted != method:
                continue
            m = re.fullmatch(re.sub(r"\{(\w+)\}", r"(?P<\1>\\d+)", template), path)
            if m:
                return (template, bucket), "+".join(m.groups())
        return None


def _up(seconds: float) -> float:
    """Seconds rounded up to the millisecond (Discord's precision): waiting that long is
    always enough."""
    return math.ceil(seconds * 1000) / 1000


def _headers(template: str, bucket: Bucket, remaining: int, reset_after: float) -> dict[str, str]:
    """https://discord.com/developers/docs/topics/rate-limits#header-format"""
    return {
        "X-RateLimit-Limit": str(bucket.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{_up(reset_after):.3f}",
        "X-RateLimit-Bucket": hashlib.sha1(template.encode()).hexdigest()[:16],
    }
