"""Turning exchange results into Discord embeds, within Discord's limits.

Everything people typed is shown as text: markdown is escaped (a question must not be
able to fake a link or a heading), and mentions never ping (the bot's AllowedMentions
are none, and the text is escaped as well).
"""

from __future__ import annotations

import re

import discord

from bot.budget import (
    DESCRIPTION_MAX,
    FIELD_VALUE_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    add_fields,
    clip,
    room,
)
from knowledge.models import (
    Answer,
    AnsweredMatch,
    Delivery,
    DraftAnswer,
    Listed,
    MyQuestion,
    NewQuestion,
    Note,
    OpenMatch,
    Question,
    QueueEntry,
    Reply,
    SearchHit,
)
from knowledge.text import (
    is_web_link,
    listed_line,
    note_hidden_message,
    note_line,
    peer_reply_heading,
    plural,
    release_due,
    reply_hidden_message,
    reply_marks,
    status_phrase,
    wait_on,
)

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


def question_title(question: Question) -> str:
    return clip(f"{question.ref} · {question.topic}", TITLE_MAX)


def link_line(link: str) -> str:
    """A resource link that shows its own target (an autolink without a preview); one
    stored before links were checked as strictly is shown as text."""
    return f"• <{link}>" if is_web_link(link) else f"• {shown(link)}"


def answer_text(answer: Answer, limit: int = DESCRIPTION_MAX) -> str:
    """The answer body, shown as text like everything people type, and its links, in at
    most `limit` characters.

    The links are what an officer acts on, so a long body is cut (saying how much is not
    shown) before any link is; only links that could never fit go, whole, from the end.
    """
    links = "\n".join(link_line(link) for link in answer.links)
    version = f"version {answer.version}, " if answer.version > 1 else ""
    release = f"release {answer.release_number}" if answer.release_number else "not yet published"
    body, tail = shown(answer.body), [links, f"*({version}{release})*"]
    text = "\n\n".join(p for p in [body, *tail] if p)
    if len(text) <= limit:
        return text
    rest = "\n\n".join(p for p in tail if p)
    cut = clip(body, limit - len(rest) - 2 - len(f" *({len(body)} more characters)*"))
    if not body or len(cut) < min(len(body), 100):  # the links leave no useful room: keep what fits
        return clip(text, limit)
    kept = len(cut.removesuffix(" …").rstrip())
    return f"{cut} *({len(body) - kept} more characters)*\n\n{rest}"


def answer_embed(
    question: Question,
    answer: Answer,
    *,
    heading: str | None = None,
    footer: str | None = None,
    fields: list[tuple[str, str]] | None = None,
    url: str | None = None,
) -> discord.Embed:
    """An answer with its question, and any further fields and footer; the answer gets
    what they leave of the message's 6,000 characters. `url`: its page on the web site,
    which the title links to."""
    embed = discord.Embed(
        title=clip(heading or question_title(question), TITLE_MAX), colour=GREEN, url=url
    )
    if footer:
        embed.set_footer(text=clip(footer, FOOTER_MAX))
    add_fields(embed, [("Question", shown(question.text)), *(fields or [])])
    embed.description = answer_text(answer, min(DESCRIPTION_MAX, room(embed)))
    return embed


def outcome_embed(outcome: AnsweredMatch | OpenMatch | NewQuestion) -> discord.Embed:
    others = [] if isinstance(outcome, NewQuestion) else outcome.others
    more = [
        (
            "Or is it one of these?",
            "\n".join(
                f"**{o.question.ref}** ({'answered' if o.answer else 'waiting'}, "
                f"{o.match.score:.0f}% alike) {shown(o.question.text)}"
                for o in others
            ),
        )
    ]
    if isinstance(outcome, AnsweredMatch):
        return answer_embed(
            outcome.question,
            outcome.answer,
            heading=f"Already answered: {outcome.question.ref}",
            footer=outcome.match.explain(),
            fields=more if others else None,
        )
    embed = _outcome_embed(outcome)
    return add_fields(embed, more) if others else embed


def _outcome_embed(outcome: OpenMatch | NewQuestion) -> discord.Embed:
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
        embed.set_footer(text=clip(outcome.match.explain(), FOOTER_MAX))
        return embed
    embed = discord.Embed(
        title=f"Thank you — your question is {outcome.question.ref}",
        description=clip(shown(outcome.question.text), DESCRIPTION_MAX),
        colour=BLUE,
    )
    embed.add_field(name="Place in the expert's queue", value=str(outcome.position))
    if outcome.next_release is not None:
        embed.add_field(name="When you will hear", value=release_due(outcome.next_release))
    if outcome.related:
        lines = [
            f"**{r.question.ref}** ({'answered' if r.answered else 'waiting'}) "
            f"{clip(shown(r.question.text), 250)}"
            for r in outcome.related
        ]
        lines.append(
            f"If one is yours after all: /follow it, then /withdraw {outcome.question.ref}."
        )
        embed.add_field(name="Related questions", value="\n".join(lines), inline=False)
    embed.set_footer(text="You will receive the answer here and by direct message.")
    return embed


def posted_question(question: Question, authority: str | None) -> str:
    """The public post of a new question in the questions channel."""
    by = f" · asked by {shown(authority)}" if authority else ""
    return clip(f"**{question.ref}** · {question.topic}{by}\n>>> {shown(question.text)}", 2000)


def delivery_embed(delivery: Delivery, page: str | None = None) -> discord.Embed:
    """What a delivery says; an answer's title links to `page`, its web permalink, if any."""
    if delivery.kind == "note_hidden" and delivery.note is not None:
        note = delivery.note
        return discord.Embed(
            title=f"Your shared note {note.ref} was withdrawn from view",
            description=shown(note_hidden_message(note.ref, note.title, note.hidden_reason)),
            colour=AMBER,
        )
    question = delivery.question
    assert question is not None  # every other delivery is about a question
    if delivery.kind == "reply_hidden" and delivery.reply is not None:
        return discord.Embed(
            title=f"Your reply {delivery.reply.ref} was withdrawn from view",
            description=shown(
                reply_hidden_message(question.ref, delivery.reply.ref, delivery.reply.hidden_reason)
            ),
            colour=AMBER,
        )
    if delivery.kind == "reply" and delivery.reply is not None:
        return reply_embed(question, delivery.reply, footer="/notify replies off stops these.")
    if delivery.kind == "unmerged":
        return discord.Embed(
            title=f"Your question {question.ref} is its own question again",
            description=(
                f"The expert found it is not the same as Q-{delivery.merged_from} after all, "
                f"so it waits in the queue on its own. You will receive the answer to "
                f"{question.ref}:\n\n" + clip(shown(question.text), 3500)
            ),
            colour=AMBER,
        )
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
    asked_by = ", ".join(shown(n) for n in delivery.authority_names)
    return answer_embed(
        question,
        delivery.answer,
        heading=f"Answered: {question.ref}",
        fields=[("Asked by", asked_by)] if asked_by else None,
        url=page,
    )


def queue_embed(entries: list[QueueEntry], page: int, pages: int, total: int) -> discord.Embed:
    embed = discord.Embed(
        title=f"The queue — {plural(total, 'question')} waiting",
        colour=BLUE,
    )
    if not entries:
        embed.description = "The queue is empty: every question has an answer."
    embed.set_footer(text=f"Page {page + 1} of {max(pages, 1)}")
    return add_fields(embed, [_queue_field(entry) for entry in entries])


def _queue_field(entry: QueueEntry) -> tuple[str, str]:
    """A queue entry's field: the question cut so the authorities and wait still show."""
    question = entry.question
    authorities = ", ".join(entry.authority_names)
    about = (
        f"\n*{plural(len(entry.authority_names), 'authority')}"
        f" ({clip(shown(authorities), 300)}), waiting {entry.waiting_days:.1f} days*"
    )
    if help_ := entry.peer_help():
        about += f"\n{shown(help_)}"
    for proposal in entry.proposals[:3]:  # an import's proposed merges: the expert decides
        about += f"\n{clip(shown(proposal.explain()), 200)}"
    text = clip(shown(question.text), FIELD_VALUE_MAX - len(about))
    return f"{entry.position}. {question.ref} · {question.topic}", text + about


def authorities_wait(count: int, *, already: bool = False) -> str:
    """'1 authority waits', '2 authorities already wait'."""
    return wait_on(count, "authority", already=already)


def status_line(question: Question, position: int | None) -> str:
    return status_phrase(question.status.value, position)


def questions_embed(
    listed: list[Listed], total: int, which: str, page: int, pages: int
) -> discord.Embed:
    """A page of /questions: each with its status, demand and peer replies."""
    embed = discord.Embed(title=f"{plural(total, 'question')} ({which})", colour=BLUE)
    if not listed:
        embed.description = "No questions match." if page == 1 else f"There is no page {page}."
        return embed
    embed.set_footer(text=f"Page {page} of {pages} (/questions page:{page + 1} for more)")
    return add_fields(
        embed,
        [
            (
                listed_line(
                    i.question.ref,
                    i.question.topic,
                    i.question.status.value,
                    i.question.authorities,
                    i.replies,
                ),
                shown(i.question.text),
            )
            for i in listed
        ],
    )


def notes_embed(notes: list[Note]) -> discord.Embed:
    """Shared notes, endorsed first: each a field, its links whole."""
    if not notes:
        return discord.Embed(
            title="No shared notes yet", description="/share adds yours.", colour=GREEN
        )
    embed = discord.Embed(title=f"Shared notes ({len(notes)})", colour=GREEN)
    fields = []
    for note in notes[:25]:
        links = "\n".join(link_line(link) for link in note.links)
        room = FIELD_VALUE_MAX - len(links) - 2
        value = "\n\n".join(p for p in [clip(shown(note.text), max(room, 100)), links] if p)
        heading = note_line(note.ref, note.title, note.topic, note.authority, note.endorsed)
        fields.append((clip(shown(heading), 256), clip(value, FIELD_VALUE_MAX)))
    return add_fields(embed, fields)


def reply_embed(question: Question, reply: Reply, *, footer: str = "") -> discord.Embed:
    """A peer reply, marked as a peer's experience: never taken for the official answer."""
    heading = peer_reply_heading(question.ref, reply.ref, shown_or_none(reply.authority))
    links = "\n".join(link_line(link) for link in reply.links)
    body = shown(reply.text)
    room = DESCRIPTION_MAX - len(links) - 2
    # The links go whole; a reply too long for the room left is cut, never a link.
    description = "\n\n".join(p for p in [clip(body, max(room, 100)), links] if p)
    embed = discord.Embed(
        title=clip(heading, TITLE_MAX), description=clip(description, DESCRIPTION_MAX), colour=GREEN
    )
    embed.add_field(name="The question", value=clip(shown(question.text), FIELD_VALUE_MAX))
    marks = reply_marks(reply.helpful, reply.solved)
    footer = " · ".join(p for p in (marks, footer) if p)
    if footer:
        embed.set_footer(text=clip(footer, FOOTER_MAX))
    return embed


def shown_or_none(text: str | None) -> str | None:
    return shown(text) if text is not None else None


def drafts_embed(drafts: list[DraftAnswer]) -> discord.Embed:
    """The answers the next release will publish (at most 25 shown, the rest counted)."""
    if not drafts:
        return discord.Embed(
            title="No draft answers",
            description="The next release has nothing to publish. /answer writes one.",
            colour=BLUE,
        )
    embed = discord.Embed(title=f"The next release: {plural(len(drafts), 'answer')}", colour=BLUE)
    if len(drafts) > 25:
        embed.set_footer(text=f"Showing 25 of {len(drafts)}.")
    return add_fields(
        embed,
        [
            (
                f"{d.question.ref} — version {d.answer.version}",
                shown(d.question.text) + "\n\n" + answer_text(d.answer),
            )
            for d in drafts[:25]
        ],
    )


def mine_embed(items: list[MyQuestion], release_due: str = "") -> discord.Embed:
    """The officer's questions; `release_due` says when the next release is due, for
    those still waiting."""
    embed = discord.Embed(title="Your questions", colour=BLUE)
    if not items:
        embed.description = "You have no questions yet. Ask one with /ask."
    elif release_due and any(item.answer is None for item in items):
        embed.description = release_due
    if len(items) > 25:
        embed.set_footer(text=f"Showing 25 of {len(items)}.")
    return add_fields(
        embed,
        [
            (
                f"{item.question.ref} — {status_line(item.question, item.position)}",
                _with_answer(item.question, item.answer, None),
            )
            for item in items[:25]
        ],
    )


def _with_answer(question: Question, answer: Answer | None, unanswered: str | None) -> str:
    """A question's text and its answer (or `unanswered`), for a list's field: the answer's
    links go whole or not at all when the field is cut."""
    value = shown(question.text)
    if answer is not None:
        return value + "\n\n" + answer_text(answer)
    return value + f"\n\n{unanswered}" if unanswered else value


def search_embed(query: str, hits: list[SearchHit]) -> discord.Embed:
    embed = discord.Embed(title=clip(f"Search: {shown(query)}", TITLE_MAX), colour=BLUE)
    if not hits:
        embed.description = "Nothing in the knowledge store matches that yet. You could /ask it."
    waiting = "*Not answered yet — /follow it to receive the answer.*"
    return add_fields(
        embed,
        [
            (question_title(hit.question), _with_answer(hit.question, hit.answer, waiting))
            for hit in hits[:10]
        ],
    )
