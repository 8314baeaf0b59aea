"""A fake Discord for driving a real ``commands.Bot`` in tests, with no network.

Why: dpytest cannot drive slash commands, interactions, buttons, modals, threads or forums
(DESIGN.md §7). Here everything is real discord.py: gateway events go in as raw payload dicts
through ``ConnectionState.parsers`` (as the websocket would feed them), and everything the bot
sends goes out through discord.py's own HTTP client and interaction webhook adapter, with
their rate-limit buckets, global lock and retries, to one seam we replace underneath them:
the aiohttp session (``wire._Session``). REST calls (send message, open DM, edit, create
thread, sync) and interaction calls (callbacks type 4 message, 5 defer, 6 deferred update,
7 update, 8 choices, 9 modal; followups; ``@original`` edits) all arrive there as HTTP
requests and get HTTP answers: a status, Discord's JSON body, and headers.

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

Time: ``async_test`` runs the test on ``clock.IdleSkippingLoop``, whose clock jumps over waits
in which nothing could happen (no ready task, no pending I/O, no job on an executor thread)
and otherwise runs at real time. So Discord's timed rules keep their real lengths and cost no
real time: ``await asyncio.sleep(900)`` in a test is 15 minutes for the fake (``fake.clock()``),
for discord.py's rate limiter and for the bot, and work that is really slow still misses a
deadline.

Discord behaviour kept on purpose: the bot's own messages and threads come back to it as
MESSAGE_CREATE / THREAD_CREATE; without the Message Content intent a guild message arrives with
empty content; events an intent does not cover are not sent; the first interaction callback must
come within ``response_deadline`` (3 s) and only once (else 404/10062, 400/40060); its token lasts
``token_lifetime`` (15 minutes), then a followup or ``@original`` call gets 401/50027; the first
followup after a "thinking" defer replaces the loading message; modal submits mirror the modal's
layout (Label type 18 or action row type 1); required/length/choice rules the Discord client
enforces raise ``ValueError`` in the helper; a message, embed, component, autocomplete choice,
modal or thread name over Discord's documented limits is refused with 400/50035 and Discord's
per-field ``errors`` (``limits.py``, each limit with its docs page); a forum post's starter message
may come after THREAD_CREATE (``forum_post(starter_delay=)``: fetching it before gives 404/10008,
posting in the thread 400/40058), a forum's ``applied_tags`` must be its own, at most 5, and a
REQUIRE_TAG forum refuses a post with none (40067); a thread can be archived or locked
(``archive_thread``, ``lock_thread``; THREAD_UPDATE reaches the bot, and GUILD_CREATE brings only
active threads): a message unarchives an archived thread, a locked one refuses messages and edits
from a bot without MANAGE_THREADS (403/50083), an archived one refuses edits (400/50083); a message
POST with ``enforce_nonce`` and a nonce the bot used within ``nonce_window`` (2 minutes, for
Discord's "past few minutes") creates nothing and returns the earlier message
(``fake.dropped_duplicates`` records it); a nonce is at most 25 characters; opening a DM with a
``recipient_id`` that is no user (made up, deleted, the bot itself) is refused 400/50033, one that
is not a snowflake 400/50035; what people do while the bot is down goes only into the world, seen
at the next start.

Rate limits (``ratelimits.py``, ``fake.rate_limits``, set per test): at most 50 requests in
any second (interaction endpoints apart), else 429 with ``global: true``; per-route buckets
(5 messages per 5 s per channel, 5 DM opens per second) announced in ``X-RateLimit-*``
headers, else 429 with ``retry_after``. discord.py's own rate limiter reads and waits them
out, as against Discord; ``rate_limits.rejected`` counts the 429s. 10,000 invalid requests
(401, 403, 429) in 10 minutes get the host banned: every request is then answered by
Cloudflare (429, plain text, no ``Via``) until they age out (``rate_limits.invalid_limit``).

Not modelled: channel permission overwrites and command ``default_permissions`` (Discord
hides such commands; the bot must check anyway), attachments' content, reactions state,
message history/pins, member chunking, presences, voice; Discord's unpublished refusal of
DMs opened too fast (403/40003: inject it with ``fake.fail``); per-interaction rate limits on
followups; the THREAD_MEMBER_UPDATE that follows an unarchive. ``settle`` waits only for
discord.py's own task names (``settle_prefixes``): add a prefix for the bot's own named
background tasks, or call their functions directly.
"""

from tests.fakediscord.core import FakeDiscord
from tests.fakediscord.records import (
    Call,
    FakeUser,
    Msg,
    Reply,
    Turn,
    async_test,
    fail_on_error_logs,
)
from tests.fakediscord.world import World

__all__ = [
    "Call",
    "FakeDiscord",
    "FakeUser",
    "Msg",
    "Reply",
    "Turn",
    "World",
    "async_test",
    "fail_on_error_logs",
]
