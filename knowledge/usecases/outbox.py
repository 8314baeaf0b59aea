"""Messages owed, from being owed to being sent: this is where an answer, a merge notice,
a digest or a reminder is queued for sending, and where front ends collect what to send
and report back what went out or failed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Literal

from knowledge.addresses import Address, reachable
from knowledge.config import Settings
from knowledge.errors import NotFound
from knowledge.models import (
    SEND_ATTEMPTS,
    Actor,
    Delivery,
    FailingMessage,
    MessageKind,
    Notice,
    Officer,
    OwedMessage,
    Role,
    retry_delay_seconds,
)
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules

AUDIENCES = ("steering", "expert")


def notice_places(settings: Settings, audience: str) -> list[str]:
    """Every place a notice to `audience` is owed at, across channels: each server's Discord
    channel for it and, for the steering group, each `[email] steering_recipients` address.
    Every front end places a notice at all of them, so each channel gets it once."""
    kind: Literal["steering", "expert"] = "steering" if audience == "steering" else "expert"
    places = [str(Address.discord_channel(c)) for c in settings.discord.channel_ids(kind)]
    if kind == "steering" and settings.email.address:
        places += [str(Address.email_user(a)) for a in settings.email.steering_recipients]
    return places


def owe(
    uow: UnitOfWork,
    kind: MessageKind,
    question_id: int | None,
    recipient: str | None,
    officer_id: int | None,
    answer_id: int | None = None,
    merged_from: int | None = None,
    reply_id: int | None = None,
    note_id: int | None = None,
) -> bool:
    """Owe one message (once: the same message to the same recipient is one); nothing is
    owed to imported or erased officers, who cannot be reached."""
    if recipient is None or not reachable(recipient):
        return False
    return uow.outbox.owe(
        kind=kind,
        about=(
            answer_id
            if kind is MessageKind.ANSWER
            else note_id
            if kind is MessageKind.NOTE_HIDDEN
            else reply_id
            if kind is MessageKind.REPLY
            else merged_from
        ),
        question_id=question_id,
        answer_id=answer_id,
        merged_from=merged_from,
        reply_id=reply_id,
        note_id=note_id,
        recipient=recipient,
        recipient_is_place=officer_id is None,
        officer_id=officer_id,
        now=uow.now(),
    )


def owe_answer(uow: UnitOfWork, question_id: int, answer_id: int) -> int:
    """Owe an answer to every asker and follower, and to the question's thread."""
    owed = sum(
        owe(uow, MessageKind.ANSWER, question_id, asker.user_key, asker.officer_id, answer_id)
        for asker in uow.asks.recipients(question_id)
    )
    place = uow.questions.place(question_id)
    answer = uow.answers.get(answer_id)
    # An answer marked OFFICIAL-SENSITIVE is never posted in a thread: askers get the pointer.
    if place and answer is not None and not answer.sensitive:
        owed += owe(uow, MessageKind.ANSWER, question_id, place, None, answer_id)
    return owed


def owe_reply(uow: UnitOfWork, question_id: int, reply_id: int, author_id: int) -> int:
    """Owe a peer reply once to everyone waiting on the question but its author and those
    who turned reply notices off."""
    return sum(
        owe(
            uow,
            MessageKind.REPLY,
            question_id,
            asker.user_key,
            asker.officer_id,
            reply_id=reply_id,
        )
        for asker in uow.asks.recipients(question_id)
        if asker.officer_id != author_id
        and asker.officer_id is not None
        and uow.officers.reply_notices(asker.officer_id)
    )


def owe_replies_so_far(uow: UnitOfWork, question_id: int, follower: Officer) -> int:
    """A new follower is sent the question's peer replies shared before they joined (once
    each; none of their own, none if they turned reply notices off)."""
    if not uow.officers.reply_notices(follower.id):
        return 0
    return sum(
        owe(
            uow,
            MessageKind.REPLY,
            question_id,
            follower.user_key,
            follower.id,
            reply_id=reply.id,
        )
        for reply in uow.replies.of_question(question_id, name_authority=False)
        if reply.author_id != follower.id
    )


class OutboxUseCases:
    """What front ends send and report back, under one retry policy; plus the admin's view
    of failures, and small facts front ends keep."""

    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def owed_messages(
        self,
        recipient_prefix: str | None = None,
        audiences: Iterable[str] = (),
        limit: int = 100,
        max_attempts: int | None = SEND_ATTEMPTS,
    ) -> list[Delivery | Notice]:
        """Everything due to be sent now: deliveries to addresses starting with
        `recipient_prefix` (e.g. `Channel.DISCORD.prefix`; None for none) and notices to
        `audiences`, fewest attempts first, then places before officers, then oldest.

        A message backing off after a failure is left out until its time comes, and one
        that has failed `max_attempts` times until an admin retries it, so neither holds
        up newer ones.
        """
        rows = self.uow.outbox.owed(
            recipient_prefix=recipient_prefix,
            audiences=audiences,
            limit=limit,
            max_attempts=max_attempts,
            due_by=self.uow.now(),
        )
        return [self._delivery(row) if row.recipient else _notice(row) for row in rows]

    def owed_deliveries(
        self, recipient_prefix: str = "", limit: int = 100, max_attempts: int | None = None
    ) -> list[Delivery]:
        """The deliveries among `owed_messages` (answers and merge notices)."""
        owed = self.owed_messages(recipient_prefix, (), limit, max_attempts)
        return [m for m in owed if isinstance(m, Delivery)]

    def owed_notices(
        self,
        audiences: str | Iterable[str] | None = None,
        limit: int = 20,
        max_attempts: int | None = None,
    ) -> list[Notice]:
        """The notices among `owed_messages`, to an audience ("steering", "expert"), to
        several, or (None) to both."""
        wanted = [audiences] if isinstance(audiences, str) else audiences
        owed = self.owed_messages(
            None, AUDIENCES if wanted is None else wanted, limit, max_attempts
        )
        return [m for m in owed if isinstance(m, Notice)]

    def _delivery(self, row: OwedMessage) -> Delivery:
        store = self.uow
        assert row.recipient is not None
        if row.kind is MessageKind.NOTE_HIDDEN:  # about a note, not a question
            assert row.note_id is not None
            return Delivery(
                id=row.id,
                kind=row.kind.value,
                recipient=row.recipient,
                recipient_is_place=False,
                question=None,
                note=store.notes.get(row.note_id, name_authority=True, visible=False),
                recipient_name=store.officers.display_name(row.officer_id),
                attempts=row.attempts,
            )
        assert row.question_id is not None
        question = store.questions.get(row.question_id)
        assert question is not None
        names: tuple[str, ...] = ()
        if self.settings.exchange.name_authorities_in_answers:
            names = store.asks.authorities_behind([question.id]).get(question.id, ())
        return Delivery(
            id=row.id,
            kind=row.kind.value,
            recipient=row.recipient,
            recipient_is_place=row.recipient_is_place,
            question=question,
            answer=rules.as_published(
                self.settings, store.answers.get(row.answer_id) if row.answer_id else None
            ),
            merged_from=row.merged_from,
            reply=(
                store.replies.get(
                    row.reply_id, name_authority=self.settings.exchange.name_authorities_in_replies
                )
                if row.reply_id
                else None
            ),
            authority_names=names,
            recipient_name=store.officers.display_name(row.officer_id),
            place=store.questions.place(question.id),
            attempts=row.attempts,
        )

    def place_notice(self, notice_id: int, places: Sequence[str]) -> list[Notice]:
        """Owe notice `notice_id` at each of `places` (a front end's addresses, e.g. the
        steering channel of every server), each posted and retried on its own: the notice
        takes the first place, a copy each of the rest. Returns the notices now owed there
        (the notice alone if it was placed already; none if it is no longer owed)."""
        with self.uow as uow:
            ids = uow.outbox.place_notice(notice_id, places)
            rows = [uow.outbox.get(i) for i in ids]
        return [_notice(row) for row in rows if row is not None]

    def mark_sent(self, message_id: int) -> bool:
        """Record that a message went out; False (and no change) if it already had."""
        with self.uow as uow:
            if uow.outbox.get(message_id) is None:
                raise NotFound(f"There is no delivery {message_id}.")
            return uow.outbox.mark_sent(message_id, uow.now())

    def mark_part_sent(self, message_id: int, parts_sent: int) -> None:
        """Record that the first `parts_sent` messages of a long notice went out."""
        with self.uow as uow:
            uow.outbox.mark_part_sent(message_id, parts_sent)

    def mark_failed(self, message_id: int, error: str) -> int:
        """Record a failed attempt; the message stays owed and is not tried again until its
        backoff has passed (kept in the database, so a restart keeps it). Returns the
        attempts made so far."""
        with self.uow as uow:
            found = uow.outbox.get(message_id)
            if found is None:
                raise NotFound(f"There is no delivery {message_id}.")
            retry_at = uow.now() + timedelta(seconds=retry_delay_seconds(found.attempts))
            return uow.outbox.mark_failed(message_id, error, retry_at)

    def mark_undeliverable(self, message_id: int, reason: str) -> None:
        """Record a failure that no retry can mend (e.g. the recipient or the channel is gone,
        or the bot may not post there): the message is given up on at once, not retried,
        and stays owed, with `reason`, until an admin fixes the cause and retries it."""
        with self.uow as uow:
            if uow.outbox.get(message_id) is None:
                raise NotFound(f"There is no delivery {message_id}.")
            uow.outbox.mark_given_up(message_id, reason, SEND_ATTEMPTS)

    def place_has_answer(self, delivery: Delivery) -> bool:
        """Whether the answer `delivery` carries is already posted at its question's place
        (so a fallback there can point to it instead of repeating it)."""
        return (
            delivery.kind == MessageKind.ANSWER
            and delivery.answer is not None
            and delivery.place is not None
            and self.uow.outbox.answer_sent_to_place(delivery.answer.id, delivery.place)
        )

    def set_place(self, question_id: int, place: str) -> None:
        """Record where a question was posted publicly; its answer is delivered there too."""
        with self.uow as uow:
            rules.question(uow, question_id)
            uow.questions.set_place(question_id, place, uow.now())

    # -- for an admin --------------------------------------------------------------------

    def failing_messages(self, actor: Actor) -> list[FailingMessage]:
        """Owed messages that have failed at least once, for an admin: after SEND_ATTEMPTS
        failures the bot stops trying them until `retry_given_up`."""
        rules.require(actor, Role.ADMIN, "see failing deliveries")
        return self.uow.outbox.failing()

    def retry_given_up(self, actor: Actor) -> int:
        """Give the messages the bot gave up on a fresh round of attempts, now (after fixing
        what stopped them, e.g. a channel permission); returns how many."""
        rules.require(actor, Role.ADMIN, "retry deliveries")
        with self.uow as uow:
            retried = uow.outbox.retry_given_up(SEND_ATTEMPTS)
            if retried:
                uow.events.record("deliveries_retried", actor_id=None, now=uow.now(), count=retried)
        return retried

    # -- front-end state -----------------------------------------------------------------

    def front_end_fact(self, key: str) -> str | None:
        """A small fact a front end keeps between runs (e.g. the synced command hash)."""
        return self.uow.facts.get(key)

    def remember_front_end_fact(self, key: str, value: str) -> None:
        with self.uow as uow:
            uow.facts.set(key, value, uow.now())


def _notice(row: OwedMessage) -> Notice:
    assert row.audience is not None
    assert row.body is not None
    return Notice(
        row.id,
        row.kind.value,
        row.audience,
        row.body,
        row.attempts,
        row.parts_sent,
        failed_before=row.failed_before,
        place=row.place,
    )
