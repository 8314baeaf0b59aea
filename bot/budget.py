"""Keeping a whole message within Discord's limits: cuts that never break a link, and fair
shares of the 6,000 characters all of a message's embeds may hold together.

Discord refuses (400) a message over any limit, so everything the bot shows fits by
construction rather than by luck: each text is cut to its share before it is sent.
"""

from __future__ import annotations

import re

import discord

# Discord's limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_VALUE_MAX = 1024
FIELD_NAME_MAX = 256
FOOTER_MAX = 2048
EMBED_TOTAL_MAX = 6000  # title, description, field names and values, footer, author: all embeds

# A web address as shown (bare, or as an autolink "<...>"): a cut inside one would leave a
# link to the wrong place, so a cut backs up to before it.
_LINK = re.compile(r"<?https?://[^\s>]*>?")


def clip(text: str, limit: int) -> str:
    """Text cut to `limit` characters, saying so when it was cut; never inside a web address
    (an address that does not fit goes whole)."""
    if len(text) <= limit:
        return text
    if limit < 2:
        return "…"[:limit]
    cut = limit - 2
    for link in _LINK.finditer(text, 0, cut + 1):
        if link.start() < cut < link.end():
            cut = link.start()
    return text[:cut].rstrip() + " …"


def shares(wanted: list[int], budget: int) -> list[int]:
    """How many characters each of several texts may keep so together they use at most
    `budget`: the short keep all they want, the long share what is left equally."""
    allowed = [0] * len(wanted)
    left = max(budget, 0)
    order = sorted(range(len(wanted)), key=wanted.__getitem__)
    for done, i in enumerate(order):
        allowed[i] = min(wanted[i], left // (len(wanted) - done))
        left -= allowed[i]
    return allowed


def room(embed: discord.Embed) -> int:
    """Characters still free in a message holding only this embed."""
    return EMBED_TOTAL_MAX - len(embed)


def add_fields(embed: discord.Embed, fields: list[tuple[str, str]]) -> discord.Embed:
    """The fields added (not inline), names and values cut fairly so that the whole embed
    stays within the message total and each field within its own limits.

    Set the title, description and footer first: the fields share what they leave.
    """
    names = [clip(name, FIELD_NAME_MAX) for name, _ in fields]
    values = [clip(value, FIELD_VALUE_MAX) for _, value in fields]
    allowed = shares([len(t) for t in names + values], room(embed))
    for n, (name, value) in enumerate(zip(names, values, strict=True)):
        embed.add_field(
            name=clip(name, allowed[n]), value=clip(value, allowed[len(names) + n]), inline=False
        )
    return embed
