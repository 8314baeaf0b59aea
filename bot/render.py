"""Turning exchange results into Discord embeds, within Discord's limits.

Everything people typed is shown as text: markdown is escaped (a question must not be
able to fake a link or a heading), and mentions never ping (the bot's AllowedMentions
are none, and the text is escaped as well).
"""

from __future__ import annotations

import re

import discord

from knowledge.models import (
    Answer,
    AnsweredMatch,
    Delivery,
    MyQuestion,
    NewQuestion,
    OpenMatch,
    Question,
    QueueEntry,
    SearchHit,
)
from knowledge.text import is_web_link, plural

# Discord's limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_VALUE_MAX = 1024
FIELD_NAME_MAX = 256
EMBED_TOTAL_MAX = 6000

BLUE = discord.Colour.blue()
GREEN = discord.Colour.green()
AMBER = discord.Colour.orange()


# A bare web address, roughly as Discord links it: left as typed, so it still works, and what
# it shows is its own target (discord.utils.escape_markdown does the same). It stops at a
# bracket, which is escaped, so no "[" inside an address can start a masked link.
_BARE_LINK = re.compile(r"https?://[^\s<\[\]]+[^<.,:;\"')\[\]\s]")
# Everything that formats mid-line in Discord, masked links' brackets included: escaping only
# the first "[" of a line, as escape_markdown does, leaves "[a] [gov.uk](https://evil)" a link.
_SPECIALS = re.compile(r"([\\*_~|`\[\]()<>])")
# At a line's start: headings, "-#" subtext, lists, quotes.
_LINE_START = re.compile(r"^([ \t]*)(#|-|\+|>|\d+(?=[.)]))", re.MULTILINE)


def shown(text: str) -> str:
    """User text made inert: no markdown formatting, no masked links, no mentions.

    Line breaks are kept; a bare web address stays a link to itself.
    """
    pieces, start = [], 0
    for link in _BARE_LINK.finditer(text):
        pieces += [_SPECIALS.sub(r"\\\1", text[start : link.start()]), link.group()]
        start = link.end()
    pieces.append(_SPECIALS.sub(r"\\\1", text[start:]))
    escaped = _LINE_START.sub(_escape_line_start, "".join(pieces))
    return discord.utils.escape_mentions(escaped)


def _escape_line_start(found: re.Match[str]) -> str:
    indent, marker = found.group(1), found.group(2)
    return f"{indent}{marker}\\" if marker[0].isdigit() else f"{indent}\\{marker}"


def clip(text: str, limit: int) -> str:
    """Text cut to `limit` characters, saying so when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 2].rstrip() + " …"


def question_title(question: Question) -> str:
    return clip(f"{question.ref} · {question.topic}", TITLE_MAX)


def link_line(link: str) -> str:
    """A resource link that shows its own target (an autolink without a preview); one
    stored before links were checked as strictly is shown as text."""
    return f"• <{link}>" if is_web_link(link) else f"• {shown(link)}"


def answer_text(answer: Answer) -> str:
    """The answer body, shown as text like everything people type, and its links."""
    links = "\n".join(link_line(link) for link in answer.links)
    version = f"version {answer.version}, " if answer.version > 1 else ""
    release = f"release {answer.release_number}" if answer.release_number else "not yet published"
    parts = [shown(answer.body), links, f"*({version}{release})*"]
    return "\n\n".join(p for p in parts if p)


def answer_embed(
    question: Question, answer: Answer, *, heading: str | None = None
) -> discord.Embed:
    embed = discord.Embed(
        title=clip(heading or question_title(question), TITLE_MAX),
        description=clip(answer_text(answer), DESCRIPTION_MAX),
        colour=GREEN,
    )
    embed.add_field(
        name="Question", value=clip(shown(question.text), FIELD_VALUE_MAX), inline=False
    )
    return embed


def outcome_embed(outcome: AnsweredMatch | OpenMatch | NewQuestion) -> discord.Embed:
    embed = _outcome_embed(outcome)
    others = [] if isinstance(outcome, NewQuestion) else outcome.others
    if others:
        embed.add_field(
            name="Or is it one of these?",
            value=clip(
                "\n".join(
                    f"**{o.question.ref}** ({'answered' if o.answer else 'waiting'}, "
                    f"{o.match.score:.0f}% alike) {shown(o.question.text)}"
                    for o in others
                ),
                FIELD_VALUE_MAX,
            ),
            inline=False,
        )
    return embed


def _outcome_embed(outcome: AnsweredMatch | OpenMatch | NewQuestion) -> discord.Embed:
    if isinstance(outcome, AnsweredMatch):
        embed = answer_embed(
            outcome.question, outcome.answer, heading=f"Already answered: {outcome.question.ref}"
        )
        embed.set_footer(text=clip(outcome.match.explain(), 2048))
        return embed
    if isinstance(outcome, OpenMatch):
        question = outcome.question
        embed = discord.Embed(
            title=f"Already asked: {question.ref}",
            description=clip(shown(question.text), DESCRIPTION_MAX),
            colour=AMBER,
        )
        embed.add_field(
            name="Waiting for the expert",
            value=f"{authorities_wait(question.authorities, already=True)} on this question.",
        )
        embed.set_footer(text=clip(outcome.match.explain(), 2048))
        return embed
    embed = discord.Embed(
        title=f"Thank you — your question is {outcome.question.ref}",
        description=clip(shown(outcome.question.text), DESCRIPTION_MAX),
        colour=BLUE,
    )
    embed.add_field(name="Place in the expert's queue", value=str(outcome.position))
    embed.set_footer(text="You will receive the answer here and by direct message.")
    return embed


def posted_question(question: Question, authority: str | None) -> str:
    """The public post of a new question in the questions channel."""
    by = f" · asked by {shown(authority)}" if authority else ""
    return clip(f"**{question.ref}** · {question.topic}{by}\n>>> {shown(question.text)}", 2000)


def delivery_embed(delivery: Delivery) -> discord.Embed:
    question = delivery.question
    if delivery.kind == "merged":
        return discord.Embed(
            title=f"Your question Q-{delivery.merged_from} was merged into {question.ref}",
            description=(
                "The expert found it was the same as this question, so the two are now one. "
                f"You will receive the answer to {question.ref}:\n\n"
                + clip(shown(question.text), 3500)
            ),
            colour=AMBER,
        )
    assert delivery.answer is not None
    embed = answer_embed(question, delivery.answer, heading=f"Answered: {question.ref}")
    if delivery.authority_names:
        embed.add_field(
            name="Asked by",
            value=clip(", ".join(shown(n) for n in delivery.authority_names), FIELD_VALUE_MAX),
            inline=False,
        )
    return embed


def queue_embed(entries: list[QueueEntry], page: int, pages: int, total: int) -> discord.Embed:
    embed = discord.Embed(
        title=f"The queue — {plural(total, 'question')} waiting",
        colour=BLUE,
    )
    if not entries:
        embed.description = "The queue is empty: every question has an answer."
    for entry in entries:
        question = entry.question
        authorities = ", ".join(entry.authority_names)
        embed.add_field(
            name=clip(f"{entry.position}. {question.ref} · {question.topic}", FIELD_NAME_MAX),
            value=clip(
                f"{shown(question.text)}\n*{plural(len(entry.authority_names), 'authority')}"
                f" ({shown(authorities)}), waiting {entry.waiting_days:.1f} days*",
                FIELD_VALUE_MAX,
            ),
            inline=False,
        )
    embed.set_footer(text=f"Page {page + 1} of {max(pages, 1)}")
    return embed


def authorities_wait(count: int, *, already: bool = False) -> str:
    """'1 authority waits', '2 authorities already wait'."""
    verb = "waits" if count == 1 else "wait"
    return f"{plural(count, 'authority')} {'already ' if already else ''}{verb}"


def status_line(question: Question, position: int | None) -> str:
    status = question.status.value.replace("_", " ")
    if position:
        return f"{status}, number {position} in the queue"
    return status


def mine_embed(items: list[MyQuestion]) -> discord.Embed:
    embed = discord.Embed(title="Your questions", colour=BLUE)
    if not items:
        embed.description = "You have no questions yet. Ask one with /ask."
    for item in items[:25]:
        value = shown(item.question.text)
        if item.answer is not None:
            value += "\n\n" + answer_text(item.answer)
        embed.add_field(
            name=clip(f"{item.question.ref} — {status_line(item.question, item.position)}", 256),
            value=clip(value, FIELD_VALUE_MAX),
            inline=False,
        )
    if len(items) > 25:
        embed.set_footer(text=f"Showing 25 of {len(items)}.")
    return embed


def search_embed(query: str, hits: list[SearchHit]) -> discord.Embed:
    embed = discord.Embed(title=clip(f"Search: {query}", TITLE_MAX), colour=BLUE)
    if not hits:
        embed.description = "Nothing in the knowledge store matches that yet. You could /ask it."
    for hit in hits[:10]:
        value = shown(hit.question.text)
        if hit.answer is not None:
            value += "\n\n" + answer_text(hit.answer)
        else:
            value += "\n\n*Not answered yet — /follow it to receive the answer.*"
        embed.add_field(
            name=question_title(hit.question), value=clip(value, FIELD_VALUE_MAX), inline=False
        )
    return embed
