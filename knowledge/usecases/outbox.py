"""Messages owed, from being owed to being sent: this is where an answer, a merge notice,
a digest or a reminder is queued for sending, and where front ends collect what to send
and report back what went out or failed."""

from __future__ import annotations

from collections.abc import Iterable

from knowledge.addresses import reachable
from knowledge.config import Settings
from knowledge.errors import NotFound
from knowledge.models import (
    SEND_ATTEMPTS,
    Actor,
    Delivery,
    FailingMessage,
    MessageKind,
    Notice,
    OwedDelivery,
    Role,
)
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules


def owe(
    uow: UnitOfWork,
    kind: MessageKind,
    question_id: int,
    recipient: str | None,
    officer_id: int | None,
    answer_id: int | None = None,
    merged_from: int | None = None,
) -> bool:
    """Owe one message (once: the same message to the same recipient is one); nothing is
    owed to imported or erased officers, who cannot be reached."""
    if recipient is None or not reachable(recipient):
        return False
    return uow.outbox.owe(
        kind=kind,
        about=answer_id if kind is MessageKind.ANSWER else merged_from,
        question_id=question_id,
        answer_id=answer_id,
        merged_from=merged_from,
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
    if place:
        owed += owe(uow, MessageKind.ANSWER, question_id, place, None, answer_id)
    return owed


class OutboxUseCases:
    """What front ends send, and what they report back; plus the admin's view of failures."""

    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    def owed_deliveries(
        self, recipient_prefix: str = "", limit: int = 100, max_attempts: int | None = None
    ) -> list[Delivery]:
        """Messages owed to recipients whose address starts with `recipient_prefix` (e.g.
        `Channel.DISCORD.prefix`), oldest first.

        With `max_attempts`, deliveries that have failed that often are left out, so they
        cannot hold up newer ones.
        """
        rows = self.uow.outbox.owed_deliveries(recipient_prefix, limit, max_attempts)
        return [self._delivery(row) for row in rows]

    def _delivery(self, row: OwedDelivery) -> Delivery:
        store = self.uow
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
            answer=store.answers.get(row.answer_id) if row.answer_id else None,
            merged_from=row.merged_from,
            authority_names=names,
            recipient_name=store.officers.display_name(row.officer_id),
            place=store.questions.place(question.id),
            attempts=row.attempts,
        )

    def mark_sent(self, delivery_id: int) -> bool:
        """Record that a delivery went out; False (and no change) if it already had."""
        with self.uow as uow:
            if uow.outbox.delivery(delivery_id) is None:
                raise NotFound(f"There is no delivery {delivery_id}.")
            return uow.outbox.mark_sent(delivery_id, uow.now())

    def mark_failed(self, delivery_id: int, error: str) -> None:
        """Record a failed attempt; the delivery stays owed."""
        with self.uow as uow:
            uow.outbox.mark_failed(delivery_id, error)

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

    # -- notices (digests and reminders) -------------------------------------------------

    def owed_notices(
        self,
        audiences: str | Iterable[str] | None = None,
        limit: int = 20,
        max_attempts: int | None = None,
    ) -> list[Notice]:
        """Digests and reminders owed to an audience ("steering", "expert"), or to several."""
        wanted = [audiences] if isinstance(audiences, str) else audiences
        return self.uow.outbox.owed_notices(wanted, limit, max_attempts)

    def mark_notice_sent(self, notice_id: int) -> bool:
        with self.uow as uow:
            return uow.outbox.mark_notice_sent(notice_id, uow.now())

    def mark_notice_part_sent(self, notice_id: int, parts_sent: int) -> None:
        """Record that the first `parts_sent` messages of a notice went out."""
        with self.uow as uow:
            uow.outbox.mark_notice_part_sent(notice_id, parts_sent)

    def mark_notice_failed(self, notice_id: int, error: str) -> None:
        with self.uow as uow:
            uow.outbox.mark_notice_failed(notice_id, error)

    # -- for an admin --------------------------------------------------------------------

    def failing_messages(self, actor: Actor) -> list[FailingMessage]:
        """Owed deliveries and notices that have failed at least once, for an admin: after
        SEND_ATTEMPTS failures the bot stops trying them until `retry_given_up`."""
        rules.require(actor, Role.ADMIN, "see failing deliveries")
        return self.uow.outbox.failing()

    def retry_given_up(self, actor: Actor) -> int:
        """Give the deliveries and notices the bot gave up on a fresh round of attempts
        (after fixing what stopped them, e.g. a channel permission); returns how many."""
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
