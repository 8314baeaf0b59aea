"""The steering group's digest: where things stand, for one window of time.

`build_digest` is a pure function of the store and a window; `to_markdown` renders it for
the console, the CLI and e-mail (the Discord adapter splits the same Markdown into embeds).
Asker names never appear; authorities appear unless configured off.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from knowledge.models import Link
from knowledge.normalise import Normaliser, stem
from knowledge.schedule import days_between
from knowledge.store.reports import Reports
from knowledge.text import inert, plural, question_ref

TOP = 5

# Words officers use in every kind of question; they say nothing about its theme.
_NOT_THEME_WORDS = """
    authority authorities council councils organisation organisations work working move
    moving need needs use using make making get way ways thing things time share shares
    know want like able going take help new existing current region regional local
    question questions case east west north south
"""
_NOT_THEMES = frozenset(stem(word) for word in _NOT_THEME_WORDS.split())


@dataclass(frozen=True, slots=True)
class WaitingQuestion:
    id: int
    text: str
    topic: str
    authorities: int
    waiting_days: float

    @property
    def ref(self) -> str:
        return question_ref(self.id)


@dataclass(frozen=True, slots=True)
class AuthorityLine:
    name: str
    asked: int
    waiting: int
    received: int


@dataclass(frozen=True, slots=True)
class TopicLine:
    topic: str
    asked: int
    waiting: int


@dataclass(frozen=True, slots=True)
class Digest:
    since: datetime
    until: datetime
    asked: int  # new_questions + joined + answered_from_store
    new_questions: int
    joined: int
    answered_from_store: int
    answered_by_expert: int
    published: int
    releases: tuple[int, ...]
    waiting: int
    authorities: tuple[AuthorityLine, ...]
    topics: tuple[TopicLine, ...]
    oldest: tuple[WaitingQuestion, ...]
    most_wanted: tuple[WaitingQuestion, ...]
    overdue: tuple[WaitingQuestion, ...]
    median_days_to_answer: float | None
    p90_days_to_answer: float | None
    themes: tuple[tuple[str, int], ...]
    waiting_limit_days: int
    authorities_named: bool = True
    notes: tuple[str, ...] = field(default=())
    peer_replies: int = 0  # shared by officers in the window
    notes_shared: int = 0  # shared notes (learning not tied to a question)
    endorsed: int = 0  # peer replies the expert made official answers
    solved_by_peers: int = 0  # asks a peer reply answered
    top_sharers: tuple[tuple[str, int], ...] = ()  # authorities that shared most (if named)
    waiting_ages: tuple[float, ...] = ()  # days each waiting question has waited, at the end

    @property
    def empty(self) -> bool:
        return not (
            self.asked
            or self.published
            or self.answered_from_store
            or self.waiting
            or self.peer_replies
            or self.notes_shared
        )


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def build_digest(
    reports: Reports,
    since: datetime,
    until: datetime,
    *,
    waiting_limit_days: int,
    name_authorities: bool,
    normalise: Normaliser,
    themes: bool = True,
) -> Digest:
    """Everything the steering group needs about (since, until]; `themes` (the words most
    asked about, the slowest part over many asks) only if wanted."""
    if until <= since:
        raise ValueError("a digest window must end after it starts")
    asks = reports.asks_between(since, until)
    shared, endorsed, solved, notes, sharers = reports.peer_activity(since, until)
    new_questions = reports.questions_created_between(since, until)
    taken = reports.answered_from_store_between(since, until)
    answered = len({q for q in reports.event_questions("answer_written", since, until) if q})
    released = reports.releases_between(since, until)
    published_ids = {r.question_id for r in released}
    days_to_answer = [
        days_between(r.published_at, r.asked_at)
        for r in released
        # First answers only; a question imported from an old list has no real turnaround.
        if r.published_at == r.first_published_at
        and r.version == 1
        and r.first_link is not Link.IMPORTED
    ]

    waiting = [
        WaitingQuestion(r.id, r.text, r.topic, r.authorities, days_between(until, r.waiting_since))
        for r in reports.waiting_at(until)
    ]
    waiting_by_authority = reports.authorities_waiting_at(until, [w.id for w in waiting])
    received = Counter(reports.authorities_receiving_between(since, until))

    # Taking an answer straight from the store is asking too, just never reaching the expert.
    asked_by_authority = Counter(a.authority for a in [*asks, *taken])
    names = sorted(set(asked_by_authority) | set(waiting_by_authority) | set(received))
    authority_lines = tuple(
        sorted(
            (
                AuthorityLine(n, asked_by_authority[n], waiting_by_authority.get(n, 0), received[n])
                for n in names
            ),
            key=lambda line: (-line.asked, -line.waiting, line.name),
        )
    )
    asked_by_topic = Counter(a.topic for a in [*asks, *taken])
    waiting_by_topic = Counter(w.topic for w in waiting)
    topic_lines = tuple(
        TopicLine(t, asked_by_topic[t], waiting_by_topic[t])
        for t in sorted(set(asked_by_topic) | set(waiting_by_topic))
    )

    return Digest(
        since=since,
        until=until,
        asked=len(asks) + len(taken),
        new_questions=new_questions,
        joined=max(0, len(asks) - new_questions),
        answered_from_store=len(taken),
        answered_by_expert=answered,
        published=len(published_ids),
        releases=tuple(sorted({r.number for r in released})),
        waiting=len(waiting),
        authorities=authority_lines,
        topics=topic_lines,
        oldest=tuple(sorted(waiting, key=lambda w: -w.waiting_days)[:TOP]),
        most_wanted=tuple(sorted(waiting, key=lambda w: (-w.authorities, -w.waiting_days))[:TOP]),
        overdue=tuple(w for w in waiting if w.waiting_days > waiting_limit_days),
        median_days_to_answer=statistics.median(days_to_answer) if days_to_answer else None,
        p90_days_to_answer=_percentile(days_to_answer, 0.9) if days_to_answer else None,
        themes=_themes([(a.question_id, a.text) for a in asks], normalise) if themes else (),
        waiting_limit_days=waiting_limit_days,
        authorities_named=name_authorities,
        peer_replies=shared,
        notes_shared=notes,
        endorsed=endorsed,
        solved_by_peers=solved,
        top_sharers=tuple(sharers[:3]) if name_authorities else (),
        waiting_ages=tuple(w.waiting_days for w in waiting),
    )


def _themes(questions: list[tuple[int, str]], normalise: Normaliser) -> tuple[tuple[str, int], ...]:
    """Key words (acronyms, long forms and synonyms as one) shared by several questions."""
    counts = Counter[str]()
    shown: dict[str, str] = {}
    for _, text in dict(questions).items():
        words = normalise(text)
        counts.update(words.terms)
        for term in words.terms:
            shown.setdefault(term, words.shown.get(term, term))
    distinct = len(dict(questions))
    # A word in most questions (e.g. "public sector network" itself) is no theme.
    common = {t for t, n in counts.items() if distinct >= 6 and n > distinct / 2}
    ranked = [
        (shown[t], n)
        for t, n in counts.most_common()
        if n >= 2 and t not in common and t not in _NOT_THEMES
    ]
    return tuple(ranked[:8])


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %Y %H:%M")


def _line(question: WaitingQuestion) -> str:
    text = question.text if len(question.text) <= 140 else question.text[:138] + " …"
    return (
        f"- **{question.ref}** ({question.topic}) {inert(text)} — "
        f"{plural(question.authorities, 'authority')}, waiting {question.waiting_days:.0f} days"
    )


def to_markdown(digest: Digest, zone: ZoneInfo) -> str:
    """The digest as Markdown: a headline first, then one `##` section per subject."""
    lines = [
        f"# PSN Exchange digest: {_when(digest.since, zone)} – {_when(digest.until, zone)}",
        "",
    ]
    if digest.empty:
        lines.append(
            "Nothing happened in this period: no questions were asked, none are waiting, "
            "and no answers were published."
        )
        return "\n".join(lines) + "\n"
    releases = ", ".join(str(n) for n in digest.releases) or "none"
    lines += [
        f"**{plural(digest.asked, 'ask')}** in this period: "
        f"{plural(digest.new_questions, 'new question')}, {digest.joined} joined an existing "
        f"question, and {digest.answered_from_store} answered straight from the knowledge store "
        "without reaching the expert.",
        f"**{plural(digest.published, 'answer')} published** (releases: {releases}); "
        f"{digest.answered_by_expert} written by the expert. "
        f"**{plural(digest.waiting, 'question')} waiting**"
        + (
            f", {len(digest.overdue)} of them longer than {digest.waiting_limit_days} days."
            if digest.overdue
            else "."
        ),
    ]
    if digest.peer_replies or digest.endorsed or digest.solved_by_peers or digest.notes_shared:
        peers = (
            f"**Peer support:** {plural(digest.peer_replies, 'reply')} and "
            f"{plural(digest.notes_shared, 'note')} shared by officers, "
            f"{digest.solved_by_peers} "
            f"{'question' if digest.solved_by_peers == 1 else 'questions'} solved by a peer's "
            f"reply, {digest.endorsed} endorsed by the expert as the answer."
        )
        if digest.top_sharers:
            named = ", ".join(f"{inert(name)} ({n})" for name, n in digest.top_sharers)
            peers += f" Shared most: {named}."
        lines.append(peers)
    if digest.median_days_to_answer is not None and digest.p90_days_to_answer is not None:
        lines.append(
            f"Time from first ask to published answer: median {digest.median_days_to_answer:.1f} "
            f"days, 90th percentile {digest.p90_days_to_answer:.1f} days."
        )
    if digest.overdue:
        lines += ["", f"## Waiting longer than {digest.waiting_limit_days} days", ""]
        lines += [_line(q) for q in digest.overdue[:10]]
        if len(digest.overdue) > 10:
            lines.append(f"- … and {len(digest.overdue) - 10} more")
    wanted = [q for q in digest.most_wanted if q.authorities > 1]
    if wanted:
        lines += ["", "## Most wanted (several authorities waiting)", ""]
        lines += [_line(q) for q in wanted]
    listed = {q.id for q in digest.overdue[:10]}
    oldest = [q for q in digest.oldest if q.id not in listed]
    if oldest:
        lines += ["", "## Oldest waiting", ""]
        lines += [_line(q) for q in oldest]
    if digest.themes:
        lines += ["", "## Recurring themes", ""]
        lines.append(", ".join(f"{word} ({n})" for word, n in digest.themes))
    if digest.topics:
        lines += ["", "## By topic", "", "| topic | asked | waiting |", "|---|---:|---:|"]
        lines += [f"| {t.topic} | {t.asked} | {t.waiting} |" for t in digest.topics]
    if digest.authorities_named and digest.authorities:
        lines += [
            "",
            "## By authority",
            "",
            "| authority | asked | waiting on | answers received |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {inert(a.name)} | {a.asked} | {a.waiting} | {a.received} |"
            for a in digest.authorities
        ]
    elif digest.authorities:
        lines += ["", f"{plural(len(digest.authorities), 'authority')} took part."]
    return "\n".join(lines) + "\n"


def reminder_markdown(
    due: datetime,
    zone: ZoneInfo,
    *,
    queue_size: int,
    unpublished: int,
    top: list[WaitingQuestion],
    overdue: tuple[WaitingQuestion, ...],
    waiting_limit_days: int,
) -> str:
    """The expert's reminder before a release: the size and shape of the queue."""
    lines = [
        f"# Release due {due.astimezone(zone):%a %d %b %H:%M}",
        "",
        f"**{plural(queue_size, 'question')}** in the queue; "
        f"{plural(unpublished, 'answer')} written and waiting to be published.",
    ]
    if top:
        lines += ["", "## Top of the queue", ""]
        lines += [_line(q) for q in top]
    if overdue:
        lines += ["", f"## Waiting longer than {waiting_limit_days} days", ""]
        lines += [_line(q) for q in overdue[:10]]
    return "\n".join(lines) + "\n"


def overdue_markdown(question: WaitingQuestion, crossed_days: int) -> str:
    """The steering group's flag for a question that has waited past a limit."""
    waiting = (
        "1 authority waits"
        if question.authorities == 1
        else f"{question.authorities} authorities wait"
    )
    return (
        f"# {question.ref} has waited more than {crossed_days} days\n\n"
        f"> {inert(question.text)}\n\n{waiting} on it ({question.topic}).\n"
    )
