"""The PSN expert's use cases: the ranked queue, answers, merges and releases."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime

from knowledge import text as texts
from knowledge.calibration import SuggestionReport, suggestion_report
from knowledge.config import Settings
from knowledge.errors import Conflict, InvalidInput, NotAllowed, NotFound
from knowledge.models import (
    LIVE_STATUSES,
    Actor,
    Answer,
    DraftAnswer,
    MessageKind,
    Note,
    Question,
    QueueEntry,
    Release,
    Reply,
    Role,
    Status,
    drafts_digest,
)
from knowledge.schedule import days_between
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules
from knowledge.usecases.outbox import owe, owe_answer

log = logging.getLogger(__name__)


def _check_can_see_queue(actor: Actor) -> None:
    if not (actor.has(Role.EXPERT) or actor.has(Role.STEERING) or actor.has(Role.ADMIN)):
        raise NotAllowed("Only the PSN expert and the steering group can see the queue.")


def _visible_note(uow: UnitOfWork, ref: str | int) -> Note:
    found = _NOTE_REF.match(texts.clean(str(ref)))
    if not found or int(found.group(1)) < 1:
        raise InvalidInput(f"{str(ref)[:40]!r} is not a note id. Note ids look like N-4.")
    note = uow.notes.get(int(found.group(1)), name_authority=True)
    if note is None:
        raise NotFound(f"There is no note N-{int(found.group(1))} in view.")
    return note


_NOTE_REF = re.compile(r"^(?:n-?|#)?\s*(\d{1,12})$", re.IGNORECASE)


class ExpertUseCases:
    """Queue, answer, merge, publish (permission-checked here)."""

    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def queue(self, actor: Actor, *, limit: int | None = None, offset: int = 0) -> list[QueueEntry]:
        """Open questions ranked by distinct authorities, then by how long they have waited."""
        _check_can_see_queue(actor)
        now = self.uow.now()
        queued = self.uow.questions.queue(limit, offset)
        proposals = self.uow.proposals.pending(question.id for question, _ in queued)
        peers = self.uow.replies.counts([question.id for question, _ in queued])
        return [
            QueueEntry(
                position=offset + n,
                question=question,
                authority_names=names,
                waiting_days=days_between(now, question.waiting_since),
                proposals=proposals.get(question.id, ()),
                replies=peers.get(question.id, (0, 0))[0],
                helpful=peers.get(question.id, (0, 0))[1],
            )
            for n, (question, names) in enumerate(queued, start=1)
        ]

    def queue_size(self, actor: Actor) -> int:
        """How many questions wait in the expert's queue."""
        _check_can_see_queue(actor)
        return self.uow.questions.queue_size()

    def suggestion_report(
        self, actor: Actor, since: datetime | None = None, scale: str | None = None
    ) -> SuggestionReport:
        """How officers answered the matcher's suggestions and related questions, and the
        expert's merges, by score (aggregate counts only: no wording and no names), for one
        matcher mode's scale (default: the one running)."""
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert and exchange admins can see this report.")
        scale = scale or self.uow.matcher.scale
        if scale not in ("lexical", "semantic"):
            raise InvalidInput(f"There is no {scale!r} matching mode: lexical or semantic.")
        matching = self.settings.matching
        prefix = "" if scale == "lexical" else "semantic_"
        reports = self.uow.reports
        return suggestion_report(
            reports.suggestion_outcomes(since, scale),
            reports.merge_scores(since, scale),
            similar_threshold=getattr(matching, f"{prefix}similar_threshold"),
            duplicate_threshold=getattr(matching, f"{prefix}duplicate_threshold"),
            since=since,
            related=reports.related_outcomes(since, scale),
            scale=scale,
        )

    def answer(
        self,
        actor: Actor,
        ref: str | int,
        body: str,
        links: list[str] | tuple[str, ...] | None = None,
    ) -> Answer:
        """Answer a question; published with the next release. Answering again before then
        rewrites the draft — keeping its links when `links` is None (given, even empty, they
        replace them); after it, makes a new version that officers are sent again."""
        rules.require(actor, Role.EXPERT, "answer questions")
        limits = self.settings.exchange
        cleaned = texts.answer_text(body, max_chars=limits.max_answer_chars)
        rules.unmarked(self.settings, cleaned, "answer")
        checked = texts.resource_links(list(links or ()), max_links=limits.max_links)
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            question = rules.question(uow, ref)
            if question.status is Status.MERGED:
                raise Conflict(
                    f"{question.ref} was merged into Q-{question.merged_into}; "
                    "answer that question instead."
                )
            if question.status is Status.WITHDRAWN:
                raise Conflict(f"{question.ref} was withdrawn by everyone who asked it.")
            if links is None and (earlier := uow.answers.draft(question.id)) is not None:
                checked = earlier.links
            answer_id = uow.answers.save(
                question_id=question.id, body=cleaned, links=checked, author_id=expert.id, now=now
            )
            if question.status is Status.OPEN:
                uow.questions.set_status(question.id, Status.IN_RELEASE, now)
            answer = uow.answers.get(answer_id)
            assert answer is not None
            uow.events.record(
                "answer_written",
                actor_id=expert.id,
                now=now,
                question_id=question.id,
                version=answer.version,
            )
        return answer

    def endorse_note(self, actor: Actor, ref: str | int) -> Note:
        """The expert vouches for a shared note: it is listed first and marked endorsed."""
        rules.require(actor, Role.EXPERT, "endorse notes")
        with self.uow as uow:
            note = _visible_note(uow, ref)
            expert = rules.officer(uow, actor)
            if note.endorsed:
                raise InvalidInput(f"{note.ref} is endorsed already.")
            uow.notes.endorse(note.id, expert.id, uow.now())
            uow.events.record("note_endorsed", actor_id=expert.id, now=uow.now(), note=note.id)
            endorsed = uow.notes.get(note.id, name_authority=True)
            assert endorsed is not None
        return endorsed

    def hide_note(self, actor: Actor, ref: str | int, reason: str) -> Note:
        """Withdraw a shared note from view (the expert or an admin), with a reason the
        audit trail keeps."""
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert and exchange admins can hide notes.")
        why = texts.clean(reason)
        if len(why) < 3:
            raise InvalidInput("Say why the note is hidden: the audit trail keeps it.")
        with self.uow as uow:
            note = _visible_note(uow, ref)
            who = rules.officer(uow, actor)
            uow.notes.hide(note.id, who.id, why[:500], uow.now())
            author = uow.officers.by_id(note.author_id) if note.author_id else None
            if author is not None:  # told why, as a reply's author is
                owe(uow, MessageKind.NOTE_HIDDEN, None, author.user_key, author.id, note_id=note.id)
            uow.events.record(
                "note_hidden", actor_id=who.id, now=uow.now(), note=note.id, reason=why[:500]
            )
        return note

    def hide_reply(self, actor: Actor, ref: str | int, reason: str) -> Reply:
        """Withdraw a peer reply from view (the expert or an admin), with a reason its author
        is told; its deliveries not yet sent are dropped; the audit trail keeps it all."""
        if not (actor.has(Role.EXPERT) or actor.has(Role.ADMIN)):
            raise NotAllowed("Only the PSN expert and exchange admins can hide replies.")
        why = texts.clean(reason)
        if len(why) < 3:
            raise InvalidInput("Say why the reply is hidden: its author is told.")
        with self.uow as uow:
            now = uow.now()
            who = rules.officer(uow, actor)
            wanted = texts.reply_id(ref)
            reply = uow.replies.get(wanted, name_authority=True)
            if reply is None or uow.replies.hidden(wanted):
                raise NotFound(f"There is no reply R-{wanted} in view.")
            dropped = uow.replies.hide(reply.id, who.id, why[:500], now)
            if reply.author_id is not None:
                author = uow.officers.by_id(reply.author_id)
                if author is not None:
                    owe(
                        uow,
                        MessageKind.REPLY_HIDDEN,
                        reply.question_id,
                        author.user_key,
                        author.id,
                        reply_id=reply.id,
                    )
            uow.events.record(
                "reply_hidden",
                actor_id=who.id,
                now=now,
                question_id=reply.question_id,
                reply=reply.id,
                reason=why[:500],
                undelivered=dropped,
            )
        return reply

    def endorse(self, actor: Actor, ref: str | int, text: str | None = None) -> Answer:
        """Make a peer reply (as it is, or as the expert edits it) the official answer's draft
        for the next release, with its links, credited to the authority that shared it."""
        rules.require(actor, Role.EXPERT, "endorse replies")
        named = self.settings.exchange.name_authorities_in_replies
        wanted = texts.reply_id(ref)
        reply = self.uow.replies.get(wanted, name_authority=named)
        if reply is None or self.uow.replies.hidden(wanted):
            raise NotFound(f"There is no reply R-{wanted}.")
        credit = (
            f"First shared by {reply.authority}."
            if reply.authority
            else ("First shared by another authority on the exchange.")
        )
        body = f"{(text or reply.text).strip()}\n\n{credit}"
        with self.uow as uow:  # one transaction: the draft and the record of its source
            answer = self.answer(actor, reply.question_id, body, reply.links)
            uow.events.record(
                "endorsed",
                actor_id=rules.officer(uow, actor).id,
                now=uow.now(),
                question_id=reply.question_id,
                reply=reply.id,
                version=answer.version,
            )
        return answer

    def mark_sensitive(self, actor: Actor, ref: str | int, *, sensitive: bool = True) -> Answer:
        """Mark the question's latest answer (its draft, or the one published) OFFICIAL-
        SENSITIVE: officers are then sent a pointer to the secure route instead of it, and it
        is never posted in threads, search or exports. `sensitive=False` lifts the marking."""
        rules.require(actor, Role.EXPERT, "mark answers")
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            question = rules.question(uow, ref)
            answer = uow.answers.latest(question.id, published_only=False)
            if answer is None:
                raise NotFound(f"{question.ref} has no answer to mark yet.")
            if answer.sensitive == sensitive:
                state = "already" if sensitive else "not"
                raise InvalidInput(f"The answer to {question.ref} is {state} OFFICIAL-SENSITIVE.")
            uow.answers.mark(answer.id, "OFFICIAL-SENSITIVE" if sensitive else None)
            uow.events.record(
                "answer_marked",
                actor_id=expert.id,
                now=now,
                question_id=question.id,
                version=answer.version,
                marking="OFFICIAL-SENSITIVE" if sensitive else "OFFICIAL",
            )
            marked = uow.answers.get(answer.id)
            assert marked is not None
        return marked

    def draft(self, actor: Actor, ref: str | int) -> Answer | None:
        """The answer to `ref` the next release will publish, if the expert has written one."""
        rules.require(actor, Role.EXPERT, "see draft answers")
        return self.uow.answers.draft(rules.question(self.uow, ref).id)

    def drafts(self, actor: Actor) -> list[DraftAnswer]:
        """Every answer the next release will publish (the newest version of each), with its
        question, in question order: what `publish` is about to send."""
        rules.require(actor, Role.EXPERT, "see draft answers")
        latest = {a.question_id: a for a in self.uow.answers.unpublished()}
        questions = self.uow.questions.many(list(latest))
        return [DraftAnswer(questions[q], a) for q, a in sorted(latest.items())]

    def discard(self, actor: Actor, ref: str | int) -> Question:
        """Drop a question's draft answer: it goes back to waiting (or, if an earlier version
        was published, stays answered with that one)."""
        rules.require(actor, Role.EXPERT, "discard draft answers")
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            question = rules.question(uow, ref)
            draft = uow.answers.draft(question.id)
            if draft is None or question.status not in (Status.IN_RELEASE, Status.ANSWERED):
                raise NotFound(
                    f"{question.ref} has no draft answer to discard (/drafts lists them)."
                )
            uow.answers.discard(draft.id)
            if question.status is Status.IN_RELEASE:
                uow.questions.set_status(question.id, Status.OPEN, now)
            uow.events.record(
                "draft_discarded",
                actor_id=expert.id,
                now=now,
                question_id=question.id,
                version=draft.version,
            )
            kept = uow.questions.get(question.id)
            assert kept is not None
        return kept

    def merge(self, actor: Actor, source_ref: str | int, target_ref: str | int) -> Question:
        """Merge a duplicate the matcher missed: its askers now wait on the target, which is
        found by every wording of both from now on."""
        rules.require(actor, Role.EXPERT, "merge questions")
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            source, target = rules.question(uow, source_ref), rules.question(uow, target_ref)
            if source.id == target.id:
                raise InvalidInput("A question cannot be merged into itself.")
            if source.status is Status.IN_RELEASE:
                raise Conflict(
                    f"{source.ref} already has an answer waiting for the next release; "
                    "publish it (or merge the other way round) instead."
                )
            if source.status is not Status.OPEN:
                raise Conflict(
                    f"{source.ref} is {source.status.value.replace('_', ' ')}; "
                    "only questions still waiting can be merged."
                )
            if target.status not in LIVE_STATUSES:
                raise Conflict(
                    f"{target.ref} is {target.status.value}; merge into a live question instead."
                )
            # What the matcher made of the pair: the live labels `suggestion_report` reads.
            score = rules.score_against(uow, self.settings, source.text, target.id)
            moved = uow.asks.move(source.id, target.id, now)
            uow.questions.set_status(source.id, Status.MERGED, now, merged_into=target.id)
            published = uow.answers.latest(target.id, published_only=True)
            for asker in moved:
                key, officer_id = asker.user_key, asker.officer_id
                owe(uow, MessageKind.MERGED, target.id, key, officer_id, merged_from=source.id)
                if published is not None:
                    owe(uow, MessageKind.ANSWER, target.id, key, officer_id, published.id)
            uow.events.record(
                "merged",
                actor_id=expert.id,
                now=now,
                question_id=source.id,
                into=target.id,
                asks=len(moved),
                score=score,
                scale=uow.matcher.scale,
            )
            merged = uow.questions.get(target.id)
            assert merged is not None
        return merged

    def unmerge(self, actor: Actor, ref: str | int) -> Question:
        """Undo a wrong merge: the merged question waits again with its own askers, at its
        old place in the queue (ranked by their asks), and they are told once."""
        rules.require(actor, Role.EXPERT, "unmerge questions")
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            question = rules.question(uow, ref)
            if question.status is not Status.MERGED or question.merged_into is None:
                raise Conflict(
                    f"{question.ref} is {question.status.value.replace('_', ' ')}, not merged; "
                    "only a merged question can be unmerged."
                )
            target = question.merged_into
            uow.questions.set_status(question.id, Status.OPEN, now)
            back = uow.asks.move_back(question.id)
            for asker in back:
                owe(
                    uow,
                    MessageKind.UNMERGED,
                    question.id,
                    asker.user_key,
                    asker.officer_id,
                    merged_from=target,
                )
            uow.events.record(
                "unmerged",
                actor_id=expert.id,
                now=now,
                question_id=question.id,
                was_in=target,
                asks=len(back),
            )
            reopened = uow.questions.get(question.id)
            assert reopened is not None
        return reopened

    def distinct(self, actor: Actor, ref: str | int, other_ref: str | int) -> None:
        """Say that two questions proposed for merging (by an import) are different: the
        proposal leaves the queue, and the audit trail records who decided."""
        rules.require(actor, Role.EXPERT, "decide proposed merges")
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            one, other = rules.question(uow, ref), rules.question(uow, other_ref)
            if not uow.proposals.dismiss(one.id, other.id, expert.id, now):
                raise NotFound(
                    f"No merge of {one.ref} and {other.ref} is waiting for a decision "
                    '(the queue lists proposed merges as "possibly the same as").'
                )
            uow.events.record(
                "merge_dismissed", actor_id=expert.id, now=now, question_id=one.id, other=other.id
            )

    def publish(
        self, actor: Actor, *, only: Iterable[int] | None = None, expected: str | None = None
    ) -> Release:
        """Publish every answer written since the last release, as the next numbered release.

        `only` restricts the release to those answer ids (an import publishes its own
        answers, never the expert's drafts). `expected` is the `drafts_digest` of the drafts
        the expert confirmed: if they changed since, nothing is published.
        """
        rules.require(actor, Role.EXPERT, "publish a release")
        wanted = None if only is None else set(only)
        with self.uow as uow:
            now = uow.now()
            expert = rules.officer(uow, actor)
            pending = [a for a in uow.answers.unpublished() if wanted is None or a.id in wanted]
            if not pending:
                last = uow.answers.last_release_number()
                since = f" since release {last}" if last else " yet"
                raise Conflict(f"There is nothing to publish: no answers have been written{since}.")
            if expected is not None and drafts_digest(pending) != expected:
                raise Conflict(
                    "The draft answers changed after you looked, so nothing was published. "
                    "Look at them again (/drafts) and confirm that release."
                )
            number = uow.answers.last_release_number() + 1
            release_id = uow.answers.add_release(number, expert.id, now)
            uow.answers.attach([a.id for a in pending], release_id)
            latest: dict[int, Answer] = {a.question_id: a for a in pending}  # highest version wins
            owed = 0
            for question_id, answer in latest.items():
                uow.questions.set_status(question_id, Status.ANSWERED, now)
                owed += owe_answer(uow, question_id, answer.id)
            uow.events.record(
                "published",
                actor_id=expert.id,
                now=now,
                release=number,
                questions=sorted(latest),
                deliveries=owed,
            )
        log.info("release %s published: %s answers, %s deliveries", number, len(latest), owed)
        return Release(number, now, tuple(sorted(latest)), owed)
