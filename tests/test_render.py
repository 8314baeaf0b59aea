"""What the bot shows in Discord, where embeds render Markdown: text people typed, answers
included, stays text, and a link never shows anything but its own target."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.render import answer_text, shown
from knowledge.models import Answer

WHEN = datetime(2010, 5, 11, 9, 0, tzinfo=UTC)


def active(markdown: str) -> str:
    """`markdown` without its escaped characters: what Discord's parser still acts on."""
    return re.sub(r"\\.", "", markdown, flags=re.DOTALL)


def masked_links(markdown: str) -> list[str]:
    """The [text](target) links Discord would draw, showing text instead of their target."""
    return re.findall(r"\[[^\]]*\]\([^)]*\)", active(markdown))


@pytest.mark.parametrize(
    "typed",
    [
        "read [gov.uk](https://evil.example)",
        "[x] [gov.uk](https://evil.example)",  # escape_markdown escapes only the first "["
        "\\[gov.uk](https://evil.example)",
        "https://www.gov.uk/[gov.uk](https://evil.example)",
        "[gov.uk](<https://evil.example>)",
    ],
)
def test_typed_text_cannot_make_a_masked_link(typed: str) -> None:
    assert masked_links(shown(typed)) == []


def test_typed_text_keeps_its_lines_but_makes_no_heading_list_or_quote() -> None:
    typed = "## Urgent\n-# small print\n- item\n1. step\n> quote\n**bold** ||spoiler|| <@123>"

    lines = shown(typed).split("\n")

    assert len(lines) == len(typed.split("\n"))
    assert all(re.match(r"\d*\\", line) for line in lines[:5])  # each marker escaped
    assert not re.search(r"[*|<]", active(lines[5]))


def test_a_bare_address_is_left_as_typed_so_it_still_links_to_itself() -> None:
    assert shown("see https://www.gov.uk/psn_guide for more") == (
        "see https://www.gov.uk/psn_guide for more"
    )


def test_an_answer_shows_its_body_as_text_and_links_as_their_targets() -> None:
    body = "## Steps\n1. Read [the guide](https://evil.example)\n\nThen **reply**."
    links = ("https://www.gov.uk/psn", "https://www.gov.uk/x>[gov.uk](https://evil.example)")
    answer = Answer(7, 1, 1, body, links, WHEN, 1)

    text = answer_text(answer)

    assert masked_links(text) == []
    assert "• <https://www.gov.uk/psn>" in text
    assert "\\## Steps\n1\\. Read \\[the guide\\]" in text
    assert "\n\nThen \\*\\*reply\\*\\*." in text
