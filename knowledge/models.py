"""The exchange's nouns, as plain immutable values handed to front ends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from knowledge.text import question_ref

if TYPE_CHECKING:
    from knowledge.matching import Match


class Role(StrEnum):
    OFFICER = "officer"
    EXPERT = "expert"
    STEERING = "steering"
    ADMIN = "admin"


class Status(StrEnum):
    OPEN = "open"
    IN_RELEASE = "in_release"  # answered by the expert, waiting for the next release
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"
    MERGED = "merged"


# Questions that new asks can still match and join.
LIVE_STATUSES = (Status.OPEN, Status.IN_RELEASE, Status.ANSWERED)

# Failed attempts after which an owed message is given up on, so it cannot hold up newer
# ones; it stays owed, and `psn-exchange deliveries --retry` gives it another round.
SEND_ATTEMPTS = 8


class Link(StrEnum):
    """How an ask came to be linked to its question."""

    NEW = "new"
    FOLLOWED = "followed"  # "me too" on a suggested or named question
    ASKED_ANYWAY = "asked_anyway"  # a new question after declining a suggestion
    MERGED = "merged"  # moved here by the expert from a duplicate question
    IMPORTED = "imported"
    # Took the published answer of a suggested question; gets its later versions too.
    ANSWERED_FROM_STORE = "answered_from_store"


class Resolution(StrEnum):
    """What an officer did with a suggested match (kept: it labels the matcher's scores)."""

    FOLLOWED = "followed"
    FOLLOWED_OTHER = "followed_other"  # one of the other suggestions, not the best
    ANSWERED_FROM_STORE = "answered_from_store"
    ASKED_ANYWAY = "asked_anyway"
    SUPERSEDED = "superseded"  # the officer asked something else before choosing


class MessageKind(StrEnum):
    """What an owed message is."""

    ANSWER = "answer"
    MERGED = "merged"
    UNMERGED = "unmerged"  # a merged question given back its askers
    REPLY = "reply"  # an officer's experience on a question, for the others waiting on it
    REPLY_HIDDEN = "reply_hidden"  # to its author: the expert or an admin withdrew it
    NOTE_HIDDEN = "note_hidden"  # to a shared note's author: it was withdrawn (no question)
    DIGEST = "digest"
    RELEASE_REMINDER = "release_reminder"
    OVERDUE = "overdue"


class MessageStatus(StrEnum):
    OWED = "owed"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is speaking: a stable key from the front end, a name, and roles."""

    user_key: str  # e.g. "discord:80351110224678912" or "console:alice"
    display_name: str
    roles: frozenset[Role] = frozenset({Role.OFFICER})

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class Officer:
    """A person the exchange knows, and the authority they said they work for."""

    id: int
    user_key: str
    display_name: str | None
    authority_id: int | None
    authority: str | None


@dataclass(frozen=True, slots=True)
class Authority:
    """A council, trust or consortium, under the one spelling the exchange shows."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Ask:
    """One officer asking (or following) one question."""

    id: int
    question_id: int
    officer_id: int | None
    link: Link
    asked_at: datetime


@dataclass(frozen=True, slots=True)
class Asker:
    """Someone waiting on a question, as far as messages owed to them go."""

    officer_id: int | None
    user_key: str | None


@dataclass(frozen=True, slots=True)
class Draft:
    """An ask waiting on the officer's choice after the matcher suggested a question."""

    id: int
    officer_id: int
    text: str
    topic: str
    place: str | None
    suggested_question_id: int
    score: float
    resolution: Resolution | None

    @property
    def resolved(self) -> bool:
        return self.resolution is not None


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    text: str
    topic: str
    status: Status
    created_at: datetime
    waiting_since: datetime
    authorities: int
    asks: int
    merged_into: int | None = None

    @property
    def ref(self) -> str:
        return question_ref(self.id)


@dataclass(frozen=True, slots=True)
class Answer:
    id: int
    question_id: int
    version: int
    body: str
    links: tuple[str, ...]
    created_at: datetime
    release_number: int | None
    sensitive: bool = False  # marked OFFICIAL-SENSITIVE by the expert

    @property
    def published(self) -> bool:
        return self.release_number is not None


@dataclass(frozen=True, slots=True)
class Reply:
    """A peer's experience on a question: another authority's, not the Cabinet Office's."""

    id: int
    question_id: int
    text: str
    links: tuple[str, ...]
    authority: str | None  # named only where exchange.name_authorities_in_replies is on
    created_at: datetime
    author_id: int | None = None  # the officer who shared it (never shown)
    helpful: int = 0  # officers who marked it helpful
    solved: int = 0  # askers it answered
    hidden_reason: str | None = None  # why the expert or an admin withdrew it, if they did

    @property
    def ref(self) -> str:
        return f"R-{self.id}"


@dataclass(frozen=True, slots=True)
class Note:
    """Learning an authority shared, not tied to a question (a case study, a lesson)."""

    id: int
    title: str
    text: str
    links: tuple[str, ...]
    topic: str
    authority: str | None  # named only where exchange.name_authorities_in_replies is on
    created_at: datetime
    endorsed: bool = False  # the expert vouches for it
    author_id: int | None = None
    hidden_reason: str | None = None

    @property
    def ref(self) -> str:
        return f"N-{self.id}"


@dataclass(frozen=True, slots=True)
class Listed:
    """A question as /questions lists it: with its peer replies, so a waiting one invites
    another authority's experience."""

    question: Question
    replies: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded action: who did what to which question, when, and its details (an
    answer's version, the question a merge went into, a wording before and after)."""

    id: int
    at: datetime
    who: str  # a display name and key, "erased officer #4", or "the exchange"
    action: str
    question_id: int | None
    detail: dict[str, object]

    @property
    def question_ref(self) -> str:
        return question_ref(self.question_id) if self.question_id is not None else ""


@dataclass(frozen=True, slots=True)
class DraftAnswer:
    """An answer the next release will publish, with its question."""

    question: Question
    answer: Answer


def drafts_digest(drafts: Iterable[Answer]) -> str:
    """A short fingerprint of the answers a release would publish: a confirmation given for
    one set of drafts never publishes another."""
    digest = hashlib.sha256()
    for answer in sorted(drafts, key=lambda a: a.id):
        digest.update(f"{answer.id}:{answer.version}:{answer.created_at.isoformat()}\n".encode())
        digest.update(hashlib.sha256(answer.body.encode()).digest())
        digest.update("\n".join(answer.links).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A live question that may be the one asked, and its published answer if any."""

    question: Question
    match: Match
    answer: Answer | None


@dataclass(frozen=True, slots=True)
class AnsweredMatch:
    """An earlier question with a published answer looks the same."""

    draft_id: int
    question: Question
    answer: Answer
    match: Match
    others: tuple[Suggestion, ...] = ()  # further possible matches, to follow instead


@dataclass(frozen=True, slots=True)
class OpenMatch:
    """An earlier question still waiting looks the same; the officer may follow it."""

    draft_id: int
    question: Question
    match: Match
    others: tuple[Suggestion, ...] = ()  # further possible matches, to follow instead


@dataclass(frozen=True, slots=True)
class Related:
    """A live question scoring under the suggestion mark but over `related_threshold`:
    listed with a new question, in case it is the officer's after all."""

    question: Question
    score: float
    answered: bool


@dataclass(frozen=True, slots=True)
class RelatedListing:
    """A question listed as related to the one an officer had just asked (the audit
    trail's record of it): the new question, the listed one's score and its scale."""

    question_id: int
    score: float
    scale: str


@dataclass(frozen=True, slots=True)
class NewQuestion:
    """The question was new and now waits in the expert's queue."""

    question: Question
    ask_id: int
    position: int
    related: tuple[Related, ...] = ()  # at most RELATED, best first
    next_release: datetime | None = None  # when the expert's next release is due


@dataclass(frozen=True, slots=True)
class Followed:
    """The officer now waits on an existing question (or already has its answer)."""

    question: Question
    ask_id: int
    position: int | None
    answer: Answer | None


AskOutcome = AnsweredMatch | OpenMatch | NewQuestion


@dataclass(frozen=True, slots=True)
class Proposal:
    """A merge the matcher proposes and the expert decides: `question_id` is likely the same
    as `target_id` (scored `score`), but not in the same words, so it was not joined."""

    question_id: int
    target_id: int
    score: float
    differs: str | None  # what the contrast check found, if anything

    @property
    def target_ref(self) -> str:
        return question_ref(self.target_id)

    def explain(self) -> str:
        """'possibly the same as Q-3 (score 88.4)', with any difference the matcher saw."""
        said = f"possibly the same as {self.target_ref} (score {self.score:.1f}"
        return said + (f"; but {self.differs})" if self.differs else ")")


def question_ref_plural(replies: int) -> str:
    return "1 peer reply" if replies == 1 else f"{replies} peer replies"


@dataclass(frozen=True, slots=True)
class QueueEntry:
    position: int
    question: Question
    authority_names: tuple[str, ...]
    waiting_days: float
    # Merges proposed for this question, best first (an import leaves them for the expert).
    proposals: tuple[Proposal, ...] = ()
    replies: int = 0  # peer replies to it
    helpful: int = 0  # officers who marked one of them helpful

    def peer_help(self) -> str:
        """'2 peer replies, 3 marked helpful: /replies Q-4', or '' for none."""
        if not self.replies:
            return ""
        marked = f", {self.helpful} marked helpful" if self.helpful else ""
        return f"{question_ref_plural(self.replies)}{marked}: /replies {self.question.ref}"


@dataclass(frozen=True, slots=True)
class MyQuestion:
    question: Question
    ask_id: int
    link: Link
    asked_at: datetime
    position: int | None
    answer: Answer | None


@dataclass(frozen=True, slots=True)
class SearchHit:
    question: Question
    answer: Answer | None


@dataclass(frozen=True, slots=True)
class Release:
    number: int
    published_at: datetime
    question_ids: tuple[int, ...]
    deliveries_owed: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message owed to one recipient (an officer or a place such as a thread)."""

    id: int
    kind: str  # "answer", "merged" or "unmerged"
    recipient: str  # an officer's user key, or a place reference
    recipient_is_place: bool
    question: Question | None  # None only for a "note_hidden" notice (notes have none)
    answer: Answer | None = None
    merged_from: int | None = None
    reply: Reply | None = None  # what a "reply" delivery carries
    note: Note | None = None  # what a "note_hidden" notice is about
    authority_names: tuple[str, ...] = field(default=())
    recipient_name: str | None = None  # the officer's display name, for greetings
    place: str | None = None  # where the question was posted (fallback when DMs are closed)
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class PublishedEntry:
    """One entry of the published knowledge base, as exports show it."""

    question: Question
    answer: Answer
    authority_names: tuple[str, ...]
    asker_names: tuple[str, ...]
    replies: tuple[Reply, ...] = ()  # peers' experience beside the answer (never hidden ones)


@dataclass(frozen=True, slots=True)
class Notice:
    """A digest or reminder owed to the steering group or the expert, as Markdown."""

    id: int
    kind: str  # "digest", "release_reminder" or "overdue"
    audience: str  # "steering" or "expert"
    body: str
    attempts: int = 0
    parts_sent: int = 0  # messages of it already posted (a long one takes several)
    failed_before: bool = False  # it has failed at least once (even if since retried)
    place: str | None = None  # where it goes (a channel's address); None until placed


@dataclass(frozen=True, slots=True)
class FailingMessage:
    """An owed delivery or notice that has failed at least once (for an admin to look at)."""

    table: str  # "delivery" or "notice"
    id: int
    kind: MessageKind
    question_id: int | None
    recipient: str  # a user key or place reference, or the notice's audience
    attempts: int
    last_error: str
    created_at: datetime

    @property
    def what(self) -> str:
        """E.g. "answer to Q-3", "digest"."""
        if self.question_id is not None:
            return f"{self.kind.value} to {question_ref(self.question_id)}"
        return self.kind.value.replace("_", " ")

    @property
    def given_up(self) -> bool:
        return self.attempts >= SEND_ATTEMPTS


@dataclass(frozen=True, slots=True)
class OwedMessage:
    """One row of the outbox: to an address (answers, merge notices) or to an audience
    (digests, reminders, overdue flags); the exchange turns it into a Delivery or a Notice."""

    id: int
    kind: MessageKind
    recipient: str | None  # an officer's or a place's address
    recipient_is_place: bool
    audience: str | None  # "steering" or "expert"
    place: str | None  # a notice's channel, once placed (see OutboxUseCases.place_notice)
    officer_id: int | None
    question_id: int | None
    answer_id: int | None
    merged_from: int | None
    body: str | None
    parts_sent: int
    attempts: int
    failed_before: bool
    reply_id: int | None = None  # the peer reply a "reply" delivery carries
    note_id: int | None = None  # the shared note a "note_hidden" notice is about


# The one retry policy for every owed message: wait 5 s after the first failure, then twice
# as long after each one, at most an hour; give up after SEND_ATTEMPTS.
def retry_delay_seconds(failures_before: int) -> float:
    return min(3600.0, 5.0 * 2.0**failures_before)
