"""Questions from the 2010 workshop and small helpers the exchange's tests share."""

from __future__ import annotations

from knowledge.exchange import Exchange
from knowledge.models import NewQuestion

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
