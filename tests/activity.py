"""A realistic, seeded year of exchange activity, driven through the public use cases."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from datetime import timedelta

from knowledge.errors import ExchangeError
from knowledge.exchange import Exchange
from knowledge.models import Actor, AnsweredMatch, NewQuestion, OpenMatch
from tests.conftest import EXPERT, Clock

AUTHORITIES = [
    "Derby City Council",
    "Derbyshire County Council",
    "Leicester City Council",
    "Leicestershire County Council",
    "Lincolnshire County Council",
    "Northamptonshire County Council",
    "Nottingham City Council",
    "Nottinghamshire County Council",
    "Rutland County Council",
    "East Midlands Broadband Consortium",
    "Derby City PCT",
    "Derbyshire Constabulary",
]
SUBJECTS = [
    "GCSx Code of Connection compliance",
    "quality of service for VoIP",
    "ID brokering",
    "IP addressing and naming",
    "choosing a DNSP or GCN provider",
    "the PSN timetable",
    "transition from GCSx",
    "funding for PSN connections",
    "sharing services with health",
    "regional procurement through ESPO",
    "governance models like Hampshire",
    "schools traffic and BECTA",
    "emergency services admin traffic",
    "state aid rules",
    "a PSN transition guide",
    "licensing costs",
]
FORMS = [
    "What should we know about {s} when joining PSN?",
    "How does PSN handle {s} for a {kind} authority?",
    "Is there guidance on {s} for {kind} councils moving to the Public Sector Network?",
    "Who decides on {s}, and what does it mean for our {thing}?",
]
KINDS = ["district", "county", "unitary", "small", "rural"]
THINGS = ["contracts", "budget", "network team", "data centre", "schools network"]


@dataclass
class Year:
    officers: list[Actor] = field(default_factory=list)
    expert: Actor = field(default_factory=lambda: EXPERT)
    asked: int = 0
    refused: int = 0


def fill_year(exchange: Exchange, clock: Clock, *, seed: int = 2010, weeks: int = 52) -> Year:
    """Officers ask, follow and withdraw; the expert answers and publishes weekly."""
    rng = random.Random(seed)
    year = Year()
    for n, authority in enumerate(AUTHORITIES * 3):
        officer = Actor(f"test:officer{n}", f"Officer {n}")
        exchange.set_authority(officer, authority)
        year.officers.append(officer)
    exchange.set_authority(year.expert, "Cabinet Office")
    for _week in range(weeks):
        week_start = clock.now
        for _ in range(rng.randint(6, 15)):
            clock.advance(hours=rng.randint(1, 9))
            officer = rng.choice(year.officers)
            subject = rng.choice(SUBJECTS)
            text = rng.choice(FORMS).format(
                s=subject, kind=rng.choice(KINDS), thing=rng.choice(THINGS)
            )
            try:
                outcome = exchange.ask(
                    officer,
                    text,
                    topic=rng.choice(["technical", "procurement", "governance", "other"]),
                )
                year.asked += 1
                # Like a person, the officer reads the suggestion: same subject, same question.
                same = not isinstance(outcome, NewQuestion) and subject in outcome.question.text
                if isinstance(outcome, OpenMatch) and same:
                    exchange.follow(officer, outcome.question.ref, outcome.draft_id)
                elif isinstance(outcome, AnsweredMatch) and same:
                    if rng.random() < 0.7:
                        exchange.accept_answer(officer, outcome.draft_id)
                    else:
                        exchange.ask_anyway(officer, outcome.draft_id)
                elif not isinstance(outcome, NewQuestion):
                    exchange.ask_anyway(officer, outcome.draft_id)
                elif rng.random() < 0.04:
                    exchange.withdraw(officer, outcome.question.ref)
            except ExchangeError:
                year.refused += 1
        if rng.random() < 0.12:  # the expert is away this week
            clock.now = max(clock.now, week_start + timedelta(days=7))
            continue
        queue = exchange.queue(year.expert)
        for entry in queue[: rng.randint(3, 8)]:
            exchange.answer(
                year.expert,
                entry.question.ref,
                f"Our answer on {entry.question.ref}: see the PSN guidance.",
            )
        clock.advance(hours=rng.randint(1, 6))
        with contextlib.suppress(ExchangeError):  # nothing answered this week
            exchange.publish(year.expert)
        clock.now = max(clock.now, week_start + timedelta(days=7))
    return year
