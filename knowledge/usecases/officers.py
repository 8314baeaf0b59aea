"""The officers' use cases: ask, follow, accept an answer, withdraw, my questions, search.

This is where an officer's ask is decided: an answered match is offered, an open match
can be followed, and anything else becomes a new question in the expert's queue.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from knowledge import text as texts
from knowledge.config import Settings
from knowledge.errors import Conflict, InvalidInput, NotAllowed, NotFound, RateLimited
from knowledge.models import (
    LIVE_STATUSES,
    Actor,
    Answer,
    AnsweredMatch,
    AskOutcome,
    Draft,
    Followed,
    Link,
    Listed,
    MyQuestion,
    NewQuestion,
    Note,
    Officer,
    OpenMatch,
    PublishedEntry,
    Question,
    Related,
    Reply,
    Resolution,
    Role,
    SearchHit,
    Status,
    Suggestion,
)
from knowledge.normalise import STOP_WORDS
from knowledge.schedule import cron, next_fire
from knowledge.store import fts_query
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules
from knowledge.usecases.outbox import owe_replies_so_far, owe_reply

log = logging.getLogger(__name__)

# Most related questions listed with a new question.
RELATED = 3
# A follow this soon after the listing counts as taking it up.
RELATED_FOLLOW = timedelta(days=1)


class OfficerUseCases:
    """What any officer can do; each write is one unit of work."""

    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    # -- who they are -----------------------------------------------------------------

    def set_authority(self, actor: Actor, name: str) -> str:
        """Remember which authority the officer works for; returns the name as stored."""
        cleaned = rules.check_authority(self.uow, self.settings, name)
        with self.uow as uow:
            assigned = rules.assign_authority(
                uow, self.settings, rules.officer(uow, actor), cleaned, uow.now()
            )
        assert assigned.authority is not None
        return assigned.authority

    def check_authority(self, name: str) -> str:
        """The spelling kept for the authority `name` (configured, in use, or checked new)."""
        return rules.check_authority(self.uow, self.settings, name)

    def resolve_topic(self, topic: str | None) -> str:
        return rules.resolve_topic(self.settings, topic)

    def authority_names(self) -> list[str]:
        """The configured authorities and every one officers have named, sorted."""
        key = texts.authority_key
        names = {key(n): n for n in self.uow.officers.authority_names()}
        names.update({key(n): n for n in self.settings.exchange.authorities})
        return sorted(names.values(), key=str.lower)

    def authority_of(self, actor: Actor) -> str | None:
        found = self.uow.officers.get(actor.user_key)
        return found.authority if found else None

    # -- asking -----------------------------------------------------------------------

    def ask(
        self,
        actor: Actor,
        text: str,
        *,
        topic: str | None = None,
        place: str | None = None,
        authority: str | None = None,
    ) -> AskOutcome:
        """Ask a question: an answered match, an open match to follow, or a new question.

        `authority`, given with an officer's first question, is remembered only if the
        question is accepted (one transaction), so a refused question changes nothing.
        """
        settings = self.settings
        question_text = rules.question_text(settings, text)
        chosen_topic = rules.resolve_topic(settings, topic)
        authority_name = rules.check_authority(self.uow, settings, authority) if authority else None
        with self.uow as uow:
            now = uow.now()
            if authority_name is not None:
                rules.assign_authority(
                    uow, settings, rules.officer(uow, actor), authority_name, now
                )
            asker = rules.officer_with_authority(uow, actor)
            rules.check_hourly_limit(uow, settings, asker.id)
            offered, related = self._suggestions(question_text, asker.id)
            if offered:
                best, others = offered[0], tuple(offered[1:])
                # Only the latest suggestion waits for a choice: an earlier one is dropped.
                uow.drafts.resolve_open(asker.id, Resolution.SUPERSEDED, now)
                draft_id = uow.drafts.add(
                    officer_id=asker.id,
                    text=question_text,
                    topic=chosen_topic,
                    place=place,
                    suggested_question_id=best.question.id,
                    score=best.match.score,
                    scale=uow.matcher.scale,
                    now=now,
                )
                uow.events.record(
                    "suggested",
                    actor_id=asker.id,
                    now=now,
                    question_id=best.question.id,
                    score=round(best.match.score, 1),
                    verdict=best.match.verdict,
                    draft=draft_id,
                    also=[o.question.id for o in others],
                )
                if best.answer is not None:
                    return AnsweredMatch(draft_id, best.question, best.answer, best.match, others)
                return OpenMatch(draft_id, best.question, best.match, others)
            rules.check_open_limit(uow, settings, asker.id)
            question_id, ask_id = new_question(
                uow, asker, question_text, chosen_topic, place, Link.NEW, None, now
            )
            if related:
                # Kept so that a follow of one of them is known as such (`calibrate`).
                uow.events.record(
                    "related_listed",
                    actor_id=asker.id,
                    now=now,
                    question_id=question_id,
                    related=[r.question.id for r in related],
                    scores=[round(r.score, 1) for r in related],
                    scale=uow.matcher.scale,
                )
        return self._new_outcome(question_id, ask_id, tuple(related))

    def _suggestions(self, text: str, officer_id: int) -> tuple[list[Suggestion], list[Related]]:
        """Live questions that may be the same as `text`, best first, none of them the
        officer's own (the same one again, as a duplicate, is refused); and the related
        ones, under the suggestion mark but over `related_threshold`."""
        uow = self.uow
        matcher = uow.matcher
        shown = self.settings.matching.suggestions
        found: list[Suggestion] = []
        related: list[Related] = []
        for n, match in enumerate(matcher.find(text, limit=shown + RELATED)):
            if match.verdict == "none":
                if match.score < matcher.related_threshold or len(related) == RELATED:
                    continue
            elif n >= shown:
                continue
            existing = uow.questions.get(match.question_id)
            if existing is None or existing.status not in LIVE_STATUSES:
                continue
            if uow.asks.active(existing.id, officer_id) is not None:
                if match.verdict == "duplicate" and not found:
                    raise Conflict(
                        f"You have already asked this as {existing.ref}. "
                        "/mine shows where it stands."
                    )
                continue
            answered = existing.status is Status.ANSWERED
            if match.verdict == "none":
                related.append(Related(existing, match.score, answered))
                continue
            answer = rules.as_published(
                self.settings, uow.answers.latest(existing.id, published_only=True)
            )
            found.append(Suggestion(existing, match, answer if answered else None))
        return found, related

    def _new_outcome(
        self, question_id: int, ask_id: int, related: tuple[Related, ...] = ()
    ) -> NewQuestion:
        question = self.uow.questions.get(question_id)
        assert question is not None
        position = self.uow.questions.queue_position(question_id) or 0
        return NewQuestion(question, ask_id, position, related, self.next_release())

    def next_release(self) -> datetime | None:
        """When the expert's next release is due (`schedule.release_cron`), for officers
        asking when they will hear; None if the schedule names no time to come."""
        schedule = self.settings.schedule
        due = next_fire(cron(schedule.release_cron, schedule.zone), self.uow.now())
        return due.astimezone(schedule.zone) if due is not None else None

    def _draft(self, asker: Officer, draft_id: int | None) -> Draft:
        drafts = self.uow.drafts
        draft = drafts.latest(asker.id) if draft_id is None else drafts.get(draft_id)
        if draft is None or draft.officer_id != asker.id:
            raise NotFound(
                "There is no suggestion waiting for your choice. Ask your question with /ask."
            )
        if draft.resolution is not None:
            raise Conflict(
                "You have already chosen what to do with that question "
                f"({draft.resolution.value.replace('_', ' ')})."
            )
        return draft

    def ask_anyway(self, actor: Actor, draft_id: int | None = None) -> NewQuestion:
        """After a suggestion the officer says is not the same: ask as a new question."""
        with self.uow as uow:
            now = uow.now()
            asker = rules.officer_with_authority(uow, actor)
            draft = self._draft(asker, draft_id)
            rules.check_open_limit(uow, self.settings, asker.id)
            question_id, ask_id = new_question(
                uow,
                asker,
                draft.text,
                draft.topic,
                draft.place,
                Link.ASKED_ANYWAY,
                draft.score,
                now,
            )
            uow.drafts.resolve(draft.id, Resolution.ASKED_ANYWAY, now)
            uow.events.record(
                "suggestion_declined",
                actor_id=asker.id,
                now=now,
                question_id=draft.suggested_question_id,
                score=round(draft.score, 1),
                new_question=question_id,
            )
        return self._new_outcome(question_id, ask_id)

    def accept_answer(self, actor: Actor, draft_id: int | None = None) -> Question:
        """The officer says the suggested answered question answers theirs: it joins their
        questions (/mine) as answered, they are sent any later version of the answer, and
        their wording helps the matcher find the question next time."""
        with self.uow as uow:
            now = uow.now()
            asker = rules.officer_with_authority(uow, actor)
            draft = self._draft(asker, draft_id)
            question = rules.question(uow, draft.suggested_question_id)
            if question.status is not Status.ANSWERED:
                raise Conflict(f"{question.ref} has no published answer yet; follow it instead.")
            uow.asks.add(
                question_id=question.id,
                officer_id=asker.id,
                authority_id=_authority_id(asker),
                text=draft.text,
                link=Link.ANSWERED_FROM_STORE,
                score=draft.score,
                place=draft.place,
                now=now,
            )
            uow.drafts.resolve(draft.id, Resolution.ANSWERED_FROM_STORE, now)
            uow.events.record(
                "answered_from_store",
                actor_id=asker.id,
                now=now,
                question_id=question.id,
                score=round(draft.score, 1),
            )
        return question

    def follow(self, actor: Actor, ref: str | int, draft_id: int | None = None) -> Followed:
        """Wait on an existing question ("me too") instead of asking it again."""
        with self.uow as uow:
            now = uow.now()
            asker = rules.officer_with_authority(uow, actor)
            question = rules.live_question(uow, ref)
            if uow.asks.active(question.id, asker.id) is not None:
                raise Conflict(f"You already follow {question.ref}. /mine shows where it stands.")
            if draft_id is not None:
                draft: Draft | None = self._draft(asker, draft_id)
            else:
                draft = uow.drafts.latest(asker.id)
                if draft is not None and draft.suggested_question_id != question.id:
                    draft = None  # an unrelated pending suggestion: leave it waiting
            wording = draft.text if draft else question.text
            score: float | None = None
            other = draft is not None and draft.suggested_question_id != question.id
            # Listed as related to a question the officer asked just before: that says how
            # far under the suggestion mark a real repeat can score (`calibrate`).
            listed = (
                None
                if draft
                else uow.events.related_listing(asker.id, question.id, now - RELATED_FOLLOW)
            )
            if listed is not None:
                score = listed.score
            if draft is not None:
                # One of the other suggestions: its own score, not the best one's.
                score = (
                    rules.score_against(uow, self.settings, wording, question.id)
                    if other
                    else draft.score
                )
            ask_id = uow.asks.add(
                question_id=question.id,
                officer_id=asker.id,
                authority_id=_authority_id(asker),
                text=wording,
                link=Link.FOLLOWED,
                score=score,
                place=draft.place if draft else None,
                now=now,
            )
            if draft is not None:
                resolution = Resolution.FOLLOWED_OTHER if other else Resolution.FOLLOWED
                uow.drafts.resolve(draft.id, resolution, now)
            owe_replies_so_far(uow, question.id, asker)
            uow.events.record(
                "followed",
                actor_id=asker.id,
                now=now,
                question_id=question.id,
                score=round(score, 1) if score is not None else None,
                suggested=draft.suggested_question_id if draft else None,
                **({"related_to": listed.question_id, "scale": listed.scale} if listed else {}),
            )
            refreshed = uow.questions.get(question.id)
            assert refreshed is not None
            answer = rules.as_published(
                self.settings, uow.answers.latest(question.id, published_only=True)
            )
        return Followed(refreshed, ask_id, uow.questions.queue_position(question.id), answer)

    def reply(
        self, actor: Actor, ref: str | int, text: str, links: list[str] | tuple[str, ...] = ()
    ) -> Reply:
        """Share the officer's authority's experience on a question (open or answered): it
        is kept with the question and sent once to everyone else waiting on it, marked as
        a peer's experience, not the Cabinet Office answer. The same checks and hourly
        limit as asking; nothing marked OFFICIAL-SENSITIVE."""
        limits = self.settings.exchange
        try:
            wording = rules.question_text(self.settings, text)
        except InvalidInput as refused:  # the same checks, said of a reply
            said = str(refused).replace("Your question", "Your reply")
            raise InvalidInput(said.replace("This question", "This reply")) from None
        checked = texts.resource_links(list(links), max_links=limits.max_links)
        with self.uow as uow:
            now = uow.now()
            author = rules.officer_with_authority(uow, actor)
            question = rules.live_question(uow, ref)
            recent = uow.replies.count_since(author.id, now - timedelta(hours=1))
            if recent >= limits.asks_per_hour:
                raise RateLimited(
                    f"You have shared {recent} replies in the last hour, the most we accept. "
                    "Please wait a while before sharing more; nothing was saved."
                )
            assert author.authority_id is not None
            reply_id = uow.replies.add(
                question_id=question.id,
                officer_id=author.id,
                authority_id=author.authority_id,
                text=wording,
                links=checked,
                now=now,
            )
            owed = owe_reply(uow, question.id, reply_id, author.id)
            uow.events.record(
                "replied", actor_id=author.id, now=now, question_id=question.id, reply=reply_id
            )
            shared = uow.replies.get(reply_id, name_authority=limits.name_authorities_in_replies)
            assert shared is not None
        log.info("reply %s to question %s: %s owed", reply_id, question.id, owed)
        return shared

    def reply_in_place(self, actor: Actor, place: str, text: str) -> Reply | None:
        """A message typed in a question's thread (or forum post), as a peer reply: None if
        the place holds no live question, or if the writer waits on it (their own words
        there are no other authority's experience)."""
        question_id = self.uow.questions.at_place(place)
        if question_id is None:
            return None
        question = self.uow.questions.get(question_id)
        if question is None or question.status not in (
            Status.OPEN,
            Status.IN_RELEASE,
            Status.ANSWERED,
        ):
            return None
        writer = self.uow.officers.get(actor.user_key)
        if writer is not None and self.uow.asks.active(question_id, writer.id) is not None:
            return None
        return self.reply(actor, question_id, text)

    def mark_reply(self, actor: Actor, ref: str | int, *, solved: bool = False) -> Reply:
        """An asker or follower marks a peer reply helpful; `solved`: it answered their
        question, so their ask counts no more in the expert's queue (the question stays
        there while others still wait)."""
        named = self.settings.exchange.name_authorities_in_replies
        kind = "solved" if solved else "helpful"
        with self.uow as uow:
            now = uow.now()
            who = rules.officer(uow, actor)
            wanted = texts.reply_id(ref)
            reply = uow.replies.get(wanted, name_authority=named)
            if reply is None or uow.replies.hidden(wanted):
                raise NotFound(f"There is no reply R-{wanted}.")
            if reply.author_id == who.id:
                raise NotAllowed("You cannot mark your own reply; others who wait can.")
            ask = uow.asks.active(reply.question_id, who.id)
            if ask is None:
                raise NotAllowed(
                    f"Only officers who asked or follow Q-{reply.question_id} can mark its replies."
                )
            if not uow.replies.mark(reply.id, who.id, kind, now):
                raise InvalidInput(f"You have already marked {reply.ref} {kind}.")
            if solved:
                uow.asks.solve(ask.id, reply.id)
            uow.events.record(
                f"reply_{kind}",
                actor_id=who.id,
                now=now,
                question_id=reply.question_id,
                reply=reply.id,
            )
            marked = uow.replies.get(reply.id, name_authority=named)
            assert marked is not None
        return marked

    def questions(
        self, topic: str | None = None, which: str = "open", *, limit: int = 20, offset: int = 0
    ) -> tuple[list[Listed], int]:
        """The exchange's questions for anyone to browse and circulate: `which` is "open"
        (waiting for an answer), "answered" or "all"; most wanted first, one page; and how
        many there are in all."""
        chosen = {
            "open": (Status.OPEN, Status.IN_RELEASE),
            "answered": (Status.ANSWERED,),
            "all": (Status.OPEN, Status.IN_RELEASE, Status.ANSWERED),
        }.get(which.lower())
        if chosen is None:
            raise InvalidInput(f"{which[:20]!r}: choose open, answered or all.")
        wanted = rules.resolve_topic(self.settings, topic) if topic else None
        page, total = self.uow.questions.browse(chosen, wanted, max(1, min(limit, 50)), offset)
        counts = self.uow.replies.counts([q.id for q in page])
        return [Listed(q, counts.get(q.id, (0, 0))[0]) for q in page], total

    def share_note(
        self,
        actor: Actor,
        title: str,
        text: str,
        links: list[str] | tuple[str, ...] = (),
        topic: str | None = None,
    ) -> Note:
        """Share an authority's learning that is not tied to a question (a case study, a
        lesson, a contract clause that worked): kept under a topic, searchable, listed with
        /notes. The same text checks, markings and hourly limit as asking."""
        limits = self.settings.exchange
        heading = texts.clean(title).replace("\n", " ")
        if len(heading) < 3 or len(heading) > 200:
            raise InvalidInput("Give the note a title of 3 to 200 characters.")
        rules.unmarked(self.settings, heading, "note")
        try:
            body = rules.question_text(self.settings, text)
        except InvalidInput as refused:  # the same checks, said of a note
            said = str(refused).replace("Your question", "Your note")
            raise InvalidInput(said.replace("This question", "This note")) from None
        checked = texts.resource_links(list(links), max_links=limits.max_links)
        chosen = rules.resolve_topic(self.settings, topic)
        with self.uow as uow:
            now = uow.now()
            author = rules.officer_with_authority(uow, actor)
            recent = uow.notes.count_since(author.id, now - timedelta(hours=1))
            if recent >= limits.asks_per_hour:
                raise RateLimited(
                    f"You have shared {recent} notes in the last hour, the most we accept. "
                    "Please wait a while before sharing more; nothing was saved."
                )
            assert author.authority_id is not None
            note_id = uow.notes.add(
                officer_id=author.id,
                authority_id=author.authority_id,
                title=heading,
                text=body,
                links=checked,
                topic=chosen,
                now=now,
            )
            uow.events.record("note_shared", actor_id=author.id, now=now, note=note_id)
            note = uow.notes.get(note_id, name_authority=limits.name_authorities_in_replies)
            assert note is not None
        return note

    def notes(self, topic: str | None = None, limit: int = 25) -> list[Note]:
        """Shared notes (endorsed first, then newest), of one topic or all."""
        wanted = rules.resolve_topic(self.settings, topic) if topic else None
        named = self.settings.exchange.name_authorities_in_replies
        return self.uow.notes.listing(
            wanted, name_authority=named, limit=max(1, min(limit, 10_000))
        )

    def search_notes(self, text: str, limit: int = 5) -> list[Note]:
        """Shared notes matching any words of `text` (glossary forms too), best first."""
        cleaned = texts.clean(text)[:500]
        forms = self.uow.matcher.normalise.forms(cleaned)
        query = fts_query(cleaned, STOP_WORDS, phrases=forms)
        if query is None:
            raise InvalidInput("Please type a word or two to search for.")
        named = self.settings.exchange.name_authorities_in_replies
        return self.uow.notes.search(query, max(1, min(limit, 20)), name_authority=named)

    def replies(self, ref: str | int) -> tuple[Question, list[Reply]]:
        """A question's peer replies, oldest first (anyone may read them)."""
        question = rules.live_question(self.uow, ref)
        named = self.settings.exchange.name_authorities_in_replies
        return question, self.uow.replies.of_question(question.id, name_authority=named)

    def set_reply_notices(self, actor: Actor, on: bool) -> None:
        """Whether the officer is sent peer replies to the questions they wait on."""
        with self.uow as uow:
            officer = rules.officer(uow, actor)
            uow.officers.set_reply_notices(officer.id, on)
            uow.events.record("reply_notices", actor_id=officer.id, now=uow.now(), on=on)

    def reword(self, actor: Actor, ref: str | int, text: str) -> Question:
        """Give a question a new canonical wording: the expert, any live question; an officer,
        their own question while it is open and nobody else waits on it. The askers' own
        wordings stay as they were asked (search and the matcher see them all); the audit
        trail keeps the wording before and after."""
        wording = rules.question_text(self.settings, text)
        with self.uow as uow:
            now = uow.now()
            editor = rules.officer(uow, actor)
            question = rules.live_question(uow, ref)
            if not actor.has(Role.EXPERT):
                askers = {asker.officer_id for asker in uow.asks.recipients(question.id)}
                if askers != {editor.id}:
                    raise NotAllowed(
                        f"Only the PSN expert can reword {question.ref}: you can reword your "
                        "own question while nobody else waits on it."
                    )
                if question.status is not Status.OPEN:
                    raise Conflict(
                        f"{question.ref} has an answer already, so its wording stays as the "
                        "expert answered it. Ask a new question if yours has changed."
                    )
            if wording == question.text:
                raise InvalidInput(f"That is already the wording of {question.ref}.")
            uow.questions.set_text(question.id, wording, now)
            uow.events.record(
                "reworded",
                actor_id=editor.id,
                now=now,
                question_id=question.id,
                old=question.text,
                new=wording,
            )
            reworded = uow.questions.get(question.id)
            assert reworded is not None
        log.info("question %s reworded", question.id)
        return reworded

    def withdraw(self, actor: Actor, ref: str | int) -> Question:
        """Withdraw the officer's own ask; the question leaves the queue if nobody else waits."""
        with self.uow as uow:
            now = uow.now()
            asker = rules.officer(uow, actor)
            question = rules.live_question(uow, ref)
            ask = uow.asks.active(question.id, asker.id)
            if ask is None:
                raise NotAllowed(
                    f"You have not asked or followed {question.ref}, so there is nothing of "
                    "yours to withdraw. You can only withdraw your own questions."
                )
            uow.asks.withdraw(ask.id, now)
            uow.events.record("withdrawn", actor_id=asker.id, now=now, question_id=question.id)
            remaining = uow.questions.get(question.id)
            assert remaining is not None
            if remaining.asks == 0 and remaining.status is Status.OPEN:
                uow.questions.set_status(question.id, Status.WITHDRAWN, now)
                log.info("question %s withdrawn by its last asker", question.id)
            result = uow.questions.get(question.id)
            assert result is not None
        return result

    # -- reading --------------------------------------------------------------------------

    def mine(self, actor: Actor) -> list[MyQuestion]:
        """The officer's questions with status, queue position and any published answer."""
        store = self.uow
        found = store.officers.get(actor.user_key)
        if found is None:
            return []
        asks = store.asks.of_officer(found.id)
        ids = [a.question_id for a in asks]
        questions = store.questions.many(ids)
        answers = store.answers.latest_published(ids)
        return [
            MyQuestion(
                question=questions[a.question_id],
                ask_id=a.id,
                link=a.link,
                asked_at=a.asked_at,
                position=store.questions.queue_position(a.question_id),
                answer=rules.as_published(self.settings, answers.get(a.question_id)),
            )
            for a in asks
        ]

    def search(self, text: str, limit: int = 10) -> list[SearchHit]:
        """Questions and published answers matching any words of `text`, best first."""
        cleaned = texts.clean(text)[:500]
        forms = self.uow.matcher.normalise.forms(cleaned)
        query = fts_query(cleaned, STOP_WORDS, phrases=forms)
        if query is None:
            raise InvalidInput("Please type a word or two to search for.")
        store = self.uow
        ids = store.questions.search(query, max(1, min(limit, 50)))
        questions = store.questions.many(ids)
        answers = store.answers.latest_published(ids)
        return [
            SearchHit(questions[i], rules.as_published(self.settings, answers.get(i)))
            for i in ids
            if i in questions
        ]

    def question(self, ref: str | int) -> tuple[Question, Answer | None]:
        """A live question (or the one it was merged into) and its latest published answer."""
        question = rules.live_question(self.uow, ref)
        answer = self.uow.answers.latest(question.id, published_only=True)
        return question, rules.as_published(self.settings, answer)

    def knowledge_base(self) -> list[PublishedEntry]:
        """Every answered question with its latest published answer, oldest first.

        Authorities are named only if `name_authorities_in_answers`; askers only if
        `name_askers_in_exports`.
        """
        store = self.uow
        ids = store.questions.answered_ids()
        questions = store.questions.many(ids)
        answers = store.answers.latest_published(ids)
        config = self.settings.exchange
        authorities = (
            store.asks.authorities_behind(ids) if config.name_authorities_in_answers else {}
        )
        askers = store.asks.asker_names(ids) if config.name_askers_in_exports else {}
        named = config.name_authorities_in_replies
        # An answer marked OFFICIAL-SENSITIVE is never exported.
        return [
            PublishedEntry(
                questions[i],
                answers[i],
                authorities.get(i, ()),
                askers.get(i, ()),
                tuple(store.replies.of_question(i, name_authority=named)),
            )
            for i in ids
            if i in answers and not answers[i].sensitive
        ]


def _authority_id(asker: Officer) -> int:
    assert asker.authority_id is not None  # rules.officer_with_authority made sure
    return asker.authority_id


def new_question(
    uow: UnitOfWork,
    asker: Officer,
    text: str,
    topic: str,
    place: str | None,
    link: Link,
    score: float | None,
    now: datetime,
) -> tuple[int, int]:
    """A new question with its first ask; returns (question id, ask id)."""
    question_id = uow.questions.add(text, topic, place, now)
    ask_id = uow.asks.add(
        question_id=question_id,
        officer_id=asker.id,
        authority_id=_authority_id(asker),
        text=text,
        link=link,
        score=score,
        place=place,
        now=now,
    )
    uow.events.record(
        "asked", actor_id=asker.id, now=now, question_id=question_id, link=link.value, topic=topic
    )
    log.info("question %s asked (%s)", question_id, link.value)
    return question_id, ask_id
