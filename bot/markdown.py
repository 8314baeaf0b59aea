"""Markdown notices (digests, reminders) as Discord embeds, within Discord's limits."""

from __future__ import annotations

import re

import discord

from bot.budget import DESCRIPTION_MAX, EMBED_TOTAL_MAX, TITLE_MAX, clip

EMBEDS_PER_MESSAGE = 10
_TABLE_RULE = re.compile(r"^\|[\s:|-]+\|$")
_CELL_EDGE = re.compile(r"(?<!\\)\|")  # a "|" that is not escaped: an authority may type one


def _table_lines(lines: list[str]) -> list[str]:
    """Markdown tables (which Discord does not draw) as one readable line per row."""
    out: list[str] = []
    header: list[str] | None = None
    for line in lines:
        if not line.startswith("|"):
            header = None
            out.append(line)
            continue
        cells = [c.strip() for c in _CELL_EDGE.split(line.rstrip())[1:]]
        if cells and not cells[-1]:
            cells.pop()  # the closing "|"
        if header is None:
            header = cells
        elif not _TABLE_RULE.match(line):
            pairs = " · ".join(f"{h} {v}" for h, v in zip(header[1:], cells[1:], strict=False))
            out.append(f"**{cells[0]}**: {pairs}")
    return out


def _chunks(text: str, limit: int) -> list[str]:
    """Split at line ends into pieces of at most `limit` characters (never dropping any)."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single over-long line: split it hard
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return pieces


def markdown_embeds(markdown: str, colour: discord.Colour) -> list[list[discord.Embed]]:
    """A Markdown notice as messages of embeds, within Discord's limits, nothing truncated.

    `#` gives the first embed's title, each `##` section becomes an embed; long sections
    continue in further embeds, and embeds are grouped into messages of at most ten
    embeds and 6,000 characters.
    """
    # The exchange's Markdown keeps questions from formatting; mentions are Discord's own.
    lines = _table_lines(discord.utils.escape_mentions(markdown).rstrip().split("\n"))
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in lines:
        if line.startswith("## ") or (line.startswith("# ") and not sections[0][1]):
            sections.append((line.lstrip("#").strip(), []))
        else:
            sections[-1][1].append(line)
    embeds: list[discord.Embed] = []
    for title, body in sections:
        text = "\n".join(body).strip()
        if not title and not text:
            continue
        for n, piece in enumerate(_chunks(text, DESCRIPTION_MAX) or [""]):
            heading = title if n == 0 else f"{title} (continued)"
            embeds.append(
                discord.Embed(
                    title=clip(heading, TITLE_MAX) or None, description=piece or None, colour=colour
                )
            )
    messages: list[list[discord.Embed]] = [[]]
    size = 0
    for embed in embeds:
        length = len(embed)
        if messages[-1] and (
            len(messages[-1]) >= EMBEDS_PER_MESSAGE or size + length > EMBED_TOTAL_MAX
        ):
            messages.append([])
            size = 0
        messages[-1].append(embed)
        size += length
    return [m for m in messages if m]
