"""Digests as Discord embeds: within Discord's limits, split, never truncated."""

from __future__ import annotations

import discord

from bot.budget import EMBED_TOTAL_MAX
from bot.markdown import markdown_embeds


def text_of(messages: list[list[discord.Embed]]) -> str:
    return "\n".join(
        f"{e.title or ''}\n{e.description or ''}" for embeds in messages for e in embeds
    )


def test_sections_become_embeds_and_tables_become_lines() -> None:
    markdown = (
        "# PSN Exchange digest: May\n\n**3 asks** in this period.\n\n"
        "## By authority\n\n| authority | asked | waiting on |\n|---|---:|---:|\n"
        "| Derby City Council | 2 | 1 |\n| Rutland County Council | 1 | 0 |\n"
    )

    [embeds] = markdown_embeds(markdown, discord.Colour.blue())

    assert [e.title for e in embeds] == ["PSN Exchange digest: May", "By authority"]
    assert "**3 asks**" in (embeds[0].description or "")
    assert embeds[1].description == (
        "**Derby City Council**: asked 2 · waiting on 1\n"
        "**Rutland County Council**: asked 1 · waiting on 0"
    )


def test_an_escaped_bar_in_a_name_stays_in_its_cell() -> None:
    markdown = (
        "# Digest\n\n## By authority\n\n| authority | asked |\n|---|---:|\n"
        "| Wolds \\| Vale Council | 2 |\n"
    )

    [embeds] = markdown_embeds(markdown, discord.Colour.blue())

    assert embeds[-1].description == "**Wolds \\| Vale Council**: asked 2"


def test_a_long_digest_is_split_across_embeds_and_messages_with_nothing_lost() -> None:
    rows = [f"- **Q-{n}** (technical) question number {n} " + "x" * 150 for n in range(400)]
    markdown = "# Digest\n\nHeadline.\n\n## Waiting\n\n" + "\n".join(rows) + "\n"

    messages = markdown_embeds(markdown, discord.Colour.blue())

    assert len(messages) > 1
    for embeds in messages:
        assert len(embeds) <= 10
        assert sum(len(e) for e in embeds) <= EMBED_TOTAL_MAX
        assert all(len(e.description or "") <= 4096 for e in embeds)
    everything = text_of(messages)
    assert all(row in everything for row in rows)
    assert "Waiting (continued)" in everything
