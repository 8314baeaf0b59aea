"""Shared fixtures: a real SQLite file per test, a clock the test moves, and people."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from knowledge.config import Settings, load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, Role
from tests.botkit import place  # noqa: F401  (the bot tests' world, as a fixture)

REPO = Path(__file__).resolve().parent.parent

# The tests' behaviour is the lexical matcher's, whether or not the semantic extra is
# installed; tests/test_semantic.py turns it on where it is the subject. (An environment
# variable, so the CLI run in a subprocess by a test sees it too.)
os.environ.setdefault("PSNX_MATCHING__SEMANTIC", "off")


class Clock:
    """A settable clock: every datetime the exchange sees comes from here."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2010, 5, 11, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The shipped config.toml, pointed at a fresh database file."""
    loaded = load_settings(REPO / "config.toml")
    database = loaded.database.model_copy(update={"path": tmp_path / "exchange.db"})
    return loaded.model_copy(update={"database": database})


@pytest.fixture
def exchange(settings: Settings, clock: Clock) -> Iterator[Exchange]:
    opened = Exchange.open(settings, clock)
    yield opened
    opened.close()


def officer(name: str) -> Actor:
    return Actor(f"test:{name.lower()}", name)


EXPERT = Actor("test:geoff", "Geoff", frozenset({Role.OFFICER, Role.EXPERT}))
STEERING = Actor("test:merlin", "Merlin", frozenset({Role.OFFICER, Role.STEERING}))


@pytest.fixture
def alice(exchange: Exchange) -> Actor:
    actor = officer("Alice")
    exchange.set_authority(actor, "Derbyshire County Council")
    return actor


@pytest.fixture
def bob(exchange: Exchange) -> Actor:
    actor = officer("Bob")
    exchange.set_authority(actor, "Nottingham City Council")
    return actor


@pytest.fixture
def carol(exchange: Exchange) -> Actor:
    actor = officer("Carol")
    exchange.set_authority(actor, "Leicestershire County Council")
    return actor


@pytest.fixture
def expert(exchange: Exchange) -> Actor:
    exchange.set_authority(EXPERT, "Cabinet Office")
    return EXPERT
