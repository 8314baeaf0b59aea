"""Questions from the 2010 workshop and small helpers the exchange's tests share."""

from __future__ import annotations

from datetime import datetime

from knowledge.exchange import Exchange
from knowledge.models import Link, NewQuestion
from knowledge.store import Store
from knowledge.unit_of_work import UnitOfWork

COCO = (
    "Will the investment we made in GCSx Code of Connection compliance be carried "
    "forward into the Public Sector Network?"
)
COCO_AGAIN = "Does our existing GCSx CoCo compliance carry forward into PSN?"
QOS = "How is quality of service handled in the PSN?"
IDS = "How will PSN avoid officers needing multiple employee IDs across agencies?"


def new(outcome: object) -> NewQuestion:
    """The outcome of an ask that must have made a new question."""
    assert isinstance(outcome, NewQuestion), outcome
    return outcome


def count(exchange: Exchange, table: str) -> int:
    return int(exchange.store.db[table].count)


def store_question(uow: UnitOfWork | Store, text: str, when: datetime, user_key: str) -> int:
    """A question and its first ask written straight through the store's gateways, as
    another process (an import, a script) might: no matcher, no use case."""
    authority = uow.officers.authority_id("Rutland County Council", when)
    asker = uow.officers.save(user_key, "Ruth", when)
    question = uow.questions.add(text, "technical", None, when)
    uow.asks.add(
        question_id=question,
        officer_id=asker.id,
        authority_id=authority,
        text=text,
        link=Link.IMPORTED,
        score=None,
        place=None,
        now=when,
    )
    return question
