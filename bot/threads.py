"""Posting in a thread that a moderator may have locked.

An archived thread is no obstacle: a message unarchives it. A locked one takes no message from
a member without MANAGE_THREADS, which the bot is not given: Discord answers 403 with JSON code
50083, "Thread is archived" (https://discord.com/developers/docs/topics/threads#locked-threads
and #active-archived-threads; the code on the JSON error codes page). Nothing the bot retries
will change that, and each retry is one more invalid request, so the caller says which thread
it was and gives up.
"""

from __future__ import annotations

from typing import Any

import discord

THREAD_LOCKED = 50083


class ThreadLocked(Exception):
    """The thread is locked: the bot cannot post in it until a moderator reopens it."""

    def __init__(self, thread_id: int) -> None:
        super().__init__(f"thread {thread_id} is locked, so the bot cannot post in it")
        self.thread_id = thread_id


async def post_in(channel: discord.abc.Messageable, *args: Any, **kwargs: Any) -> None:
    """`channel.send`, with Discord's refusal of a locked thread raised as ThreadLocked (any
    channel will do; only a thread can be locked)."""
    try:
        await channel.send(*args, **kwargs)
    except discord.HTTPException as error:
        if error.code == THREAD_LOCKED:
            raise ThreadLocked(getattr(channel, "id", 0)) from error
        raise
