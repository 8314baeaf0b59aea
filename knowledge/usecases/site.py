"""The published view: everything the read-only web site shows, and nothing else.

Every method returns what the public may read: the canonical wording of live questions,
their published answers (an OFFICIAL-SENSITIVE one only as the pointer to the secure
route, with no history), releases, topics, endorsed notes, and authorities only where
the configuration names them. Never an officer, a draft, a withdrawn question, a hidden
reply or note, or an import still in progress: the site reads nothing else, so a page
cannot show what this module does not hand it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from knowledge import text as texts
from knowledge.config import Settings
from knowledge.digest import AuthorityLine, TopicLine, build_digest
from knowledge.errors import InvalidInput, NotFound
from knowledge.models import LIVE_STATUSES, Answer, Note, Question, Status
from knowledge.store.published import ReleaseSummary, TopicCount
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules
from knowledge.usecases.officers import OfficerUseCases

# How far back the figures page looks, in weeks.
FIGURE_WEEKS = 12
# Waiting questions by age, in days: (label, shortest wait, longest wait or None).
AGE_BANDS = (
    ("under a week", 0, 7),
    ("1 to 2 weeks", 7, 14),
    ("2 to 4 weeks", 14, 28),
    ("4 to 8 weeks", 28, 56),
    ("8 weeks or more", 56, None),
)
PAGE = 50  # questions or releases per page
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class PublicAnswer:
    """An answer as the site shows it (for a sensitive one: the pointer, no links)."""

    version: int
    body: str
    links: tuple[str, ...]
    release: int | None
    written_at: datetime
    sensitive: bool


@dataclass(frozen=True, slots=True)
class QuestionView:
    question: Question
    answer: PublicAnswer | None  # the current published answer, if any
    history: tuple[PublicAnswer, ...]  # every published version, oldest first
    authorities: tuple[str, ...]  # asking authorities, where configured
    related: tuple[Question, ...]

    @property
    def waiting(self) -> bool:
        return self.question.status in (Status.OPEN, Status.IN_RELEASE)


@dataclass(frozen=True, slots=True)
class Entry:
    """A question with its current answer, as lists and feeds show it."""

    question: Question
    answer: PublicAnswer | None


@dataclass(frozen=True, slots=True)
class Home:
    answered: int
    waiting: int
    latest: ReleaseSummary | None
    latest_entries: tuple[Entry, ...]
    next_release: datetime | None
    topics: tuple[TopicCount, ...]


@dataclass(frozen=True, slots=True)
class Found:
    query: str
    entries: tuple[Entry, ...]
    notes: tuple[Note, ...]


@dataclass(frozen=True, slots=True)
class Paged:
    entries: tuple[Entry, ...]
    total: int
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class Figures:
    """Where things stand, as the steering digest counts it, for the charts page."""

    since: datetime
    until: datetime
    weeks: tuple[tuple[date, int, int], ...]  # week starting, asks, answers published
    age_bands: tuple[tuple[str, int], ...]  # waiting questions per age band
    authorities: tuple[AuthorityLine, ...]  # empty unless digests may name them
    topics: tuple[TopicLine, ...]
    median_days_to_answer: float | None
    p90_days_to_answer: float | None
    authorities_named: bool


class SiteUseCases:
    """Reads for the public knowledge base (the web site and its static build)."""

    def __init__(self, uow: UnitOfWork, settings: Settings, officers: OfficerUseCases) -> None:
        self.uow = uow
        self.settings = settings
        self.officers = officers

    def version(self) -> int:
        """Changes whenever another process commits: pages read before it are stale."""
        return self.uow.store.database.data_version()

    # -- shaping -------------------------------------------------------------------------

    def _public(self, answer: Answer) -> PublicAnswer:
        shown = rules.as_published(self.settings, answer)
        assert shown is not None
        return PublicAnswer(
            shown.version,
            shown.body,
            shown.links,
            shown.release_number,
            shown.created_at,
            answer.sensitive,
        )

    def _entries(self, questions: list[Question]) -> tuple[Entry, ...]:
        answers = self.uow.answers.latest_published([q.id for q in questions])
        return tuple(
            Entry(q, self._public(answers[q.id]) if q.id in answers else None) for q in questions
        )

    # -- pages ---------------------------------------------------------------------------

    def home(self) -> Home:
        uow = self.uow
        with uow.reading():
            topics = uow.published.topics()
            releases, _ = uow.published.releases(1)
            latest = releases[0] if releases else None
            entries: tuple[Entry, ...] = ()
            if latest is not None:
                found = uow.published.release(latest.number)
                if found is not None:
                    entries = self._release_entries(found[1], 10)  # the home page shows 10
        return Home(
            answered=sum(t.answered for t in topics),
            waiting=sum(t.waiting for t in topics),
            latest=latest,
            latest_entries=entries,
            next_release=self.officers.next_release(),
            topics=tuple(topics),
        )

    def question(self, ref: str | int) -> QuestionView:
        """One question's page. A merged question is found as the one it joined (the caller
        sees the different id and can redirect); a withdrawn one is NotFound."""
        uow = self.uow
        with uow.reading():
            question = rules.live_question(uow, ref)
            versions = uow.published.versions(question.id)
            current = versions[-1] if versions else None
            if current is not None and current.sensitive:
                history: tuple[PublicAnswer, ...] = ()  # none of it is shown
            else:
                history = tuple(self._public(a) for a in versions if not a.sensitive)
            names: tuple[str, ...] = ()
            if self.settings.exchange.name_authorities_in_answers:
                names = uow.asks.authorities_behind([question.id]).get(question.id, ())
            related = self._related(question)
        return QuestionView(
            question,
            self._public(current) if current is not None else None,
            history,
            names,
            related,
        )

    def _related(self, question: Question, limit: int = 5) -> tuple[Question, ...]:
        matches = self.uow.matcher.find(question.text, limit=limit + 1)
        ids = [m.question_id for m in matches if m.question_id != question.id]
        found = self.uow.questions.many(ids)
        return tuple(found[i] for i in ids if i in found and found[i].status in LIVE_STATUSES)[
            :limit
        ]

    def search(self, text: str) -> Found:
        """Questions, published answers and endorsed notes matching `text` (acronyms and
        long forms alike); InvalidInput, kindly worded, when there is nothing to look for."""
        cleaned = texts.clean(text)
        if not cleaned:
            raise InvalidInput("Type a word or two to search for, such as “CoCo” or “PSN”.")
        with self.uow.reading():
            hits = self.officers.search(cleaned, limit=25)
            notes = [n for n in self.officers.search_notes(cleaned, limit=20) if n.endorsed]
            entries = self._entries([h.question for h in hits])
        return Found(cleaned[:500], entries, tuple(notes))

    def topic(self, name: str, page: int = 1) -> Paged:
        topic = self._topic(name)
        return self._browse((Status.OPEN, Status.IN_RELEASE, Status.ANSWERED), topic, page)

    def _topic(self, name: str) -> str:
        if name not in self.settings.exchange.topics:
            raise NotFound(f"There is no topic called {name[:40]!r}.")
        return name

    def waiting(self, page: int = 1) -> Paged:
        """Questions still waiting for a published answer, most wanted first (the list
        circulated to every authority)."""
        return self._browse((Status.OPEN, Status.IN_RELEASE), None, page)

    def _browse(self, statuses: tuple[Status, ...], topic: str | None, page: int) -> Paged:
        page = _page_number(page)
        with self.uow.reading():
            found, total = self.uow.questions.browse(statuses, topic, PAGE, (page - 1) * PAGE)
            entries = self._entries(found)
        pages = max(1, -(-total // PAGE))
        if page > pages:
            raise NotFound(f"There is no page {page}: there are {pages}.")
        return Paged(entries, total, page, pages)

    def releases(self, page: int = 1) -> tuple[list[ReleaseSummary], int, int]:
        """Releases newest first, one page; the page and how many pages there are."""
        page = _page_number(page)
        found, total = self.uow.published.releases(PAGE, (page - 1) * PAGE)
        pages = max(1, -(-total // PAGE))
        if page > pages:
            raise NotFound(f"There is no page {page}: there are {pages}.")
        return found, page, pages

    def release(self, number: int) -> tuple[ReleaseSummary, tuple[Entry, ...]]:
        with self.uow.reading():
            found = self.uow.published.release(number)
            if found is None:
                raise NotFound(f"There is no release {number}.")
            summary, answers = found
            return summary, self._release_entries(answers)

    def _release_entries(self, answers: list[Answer], most: int | None = None) -> tuple[Entry, ...]:
        """The release's answers with their questions (withdrawn or merged-away ones left
        out), each as it was published in that release; the first `most` of them."""
        answers = answers[:most] if most is not None else answers
        questions = self.uow.questions.many(a.question_id for a in answers)
        return tuple(
            Entry(questions[a.question_id], self._public(a))
            for a in answers
            if a.question_id in questions and questions[a.question_id].status in LIVE_STATUSES
        )

    def recent_releases(
        self, count: int = 10, most: int = 50
    ) -> list[tuple[ReleaseSummary, tuple[Entry, ...]]]:
        """The newest releases with (the first `most` of) their answers: the Atom feed."""
        with self.uow.reading():
            summaries, _ = self.uow.published.releases(count)
            found = [self.uow.published.release(s.number) for s in summaries]
            return [(s, self._release_entries(a, most)) for s, a in (f for f in found if f)]

    def notes(self) -> list[Note]:
        """Shared notes the expert endorsed (only those are published)."""
        return [n for n in self.officers.notes(limit=10_000) if n.endorsed]

    def all_questions(self) -> list[Question]:
        """Every live question, for the static build's pages."""
        statuses = (Status.OPEN, Status.IN_RELEASE, Status.ANSWERED)
        with self.uow.reading():
            found, _ = self.uow.questions.browse(statuses, None, -1, 0)
        return found

    def figures(self) -> Figures:
        """The digest's figures over the last weeks, for charts."""
        uow = self.uow
        until = uow.now()
        zone = self.settings.schedule.zone
        local = until.astimezone(zone)
        this_monday = (local - timedelta(days=local.weekday())).date()
        first = this_monday - timedelta(weeks=FIGURE_WEEKS - 1)
        since = datetime.combine(first, datetime.min.time(), zone)
        with uow.reading():
            asks = Counter(
                _monday(t.astimezone(zone).date()) for t in uow.published.ask_times(since)
            )
            published = Counter(
                _monday(t.astimezone(zone).date()) for t in uow.published.publish_times(since)
            )
            named = self.settings.exchange.name_authorities_in_digests
            digest = build_digest(
                uow.reports,
                since,
                until,
                waiting_limit_days=self.settings.schedule.waiting_limit_days,
                name_authorities=named,
                normalise=uow.matcher.normalise,
                themes=False,
            )
        weeks = tuple(
            (week, asks[week], published[week])
            for week in (first + timedelta(weeks=n) for n in range(FIGURE_WEEKS))
        )
        ages = digest.waiting_ages
        bands = tuple(
            (label, sum(1 for a in ages if low <= a and (high is None or a < high)))
            for label, low, high in AGE_BANDS
        )
        return Figures(
            since,
            until,
            weeks,
            bands,
            digest.authorities if named else (),
            digest.topics,
            digest.median_days_to_answer,
            digest.p90_days_to_answer,
            named,
        )


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _page_number(page: int) -> int:
    if not 1 <= page <= MAX_PAGE:
        raise NotFound("There is no such page.")
    return page
