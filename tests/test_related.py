"""Below the suggestion mark, still useful: a new question's confirmation lists related
questions, and whether the officer then follows one is kept for `calibrate`."""

from __future__ import annotations

import io

import pytest

from knowledge.config import MatchingSettings
from knowledge.console import Console
from knowledge.exchange import Exchange
from knowledge.models import Actor, NewQuestion

# Workshop wordings: the second scores under similar_threshold against the first, but over
# related_threshold (lexical 38.9).
GRANTS = "Are there grants for PSN network procurement?"
FUNDING = "Is there any funding available to help authorities build PSN compliant networks?"
NAMING = "Who decides how PSN addressing and naming will work?"


def new(exchange: Exchange, officer: Actor, text: str) -> NewQuestion:
    outcome = exchange.ask(officer, text)
    assert isinstance(outcome, NewQuestion), outcome
    return outcome


def test_a_new_question_lists_related_ones_and_a_follow_of_one_is_recorded(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    grants = new(exchange, alice, GRANTS).question
    new(exchange, alice, NAMING)

    funding = new(exchange, bob, FUNDING)

    assert [r.question.id for r in funding.related] == [grants.id]
    (related,) = funding.related
    threshold = exchange.settings.matching
    assert threshold.related_threshold <= related.score < threshold.similar_threshold
    assert not related.answered

    exchange.follow(bob, grants.ref)

    followed = exchange.store.events.all("followed")[-1]
    assert f'"related_to": {funding.question.id}' in followed["detail"]
    report = exchange.suggestion_report(expert)
    assert (report.related_listed, report.related_followed) == (1, (round(related.score, 1),))
    assert any("followed 1 of the 1 related questions" in line for line in report.advice)


def test_the_officer_s_own_and_dead_questions_are_never_listed(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    grants = new(exchange, alice, GRANTS).question
    assert new(exchange, alice, FUNDING).related == ()  # her own question is not "related"
    exchange.withdraw(alice, grants.ref)
    exchange.withdraw(alice, "Q-2")
    assert new(exchange, bob, FUNDING).related == ()  # withdrawn: not listed


def test_a_related_question_not_followed_counts_as_not_taken(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    new(exchange, alice, GRANTS)
    new(exchange, bob, FUNDING)  # Q-1 listed; Bob does not follow it

    report = exchange.suggestion_report(expert)
    assert (report.related_listed, report.related_followed) == (1, ())
    assert any("followed none of the 1 related" in line for line in report.advice)


def test_calibrate_reports_each_mode_on_its_own_scale(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    new(exchange, alice, GRANTS)
    new(exchange, bob, FUNDING)  # listed on the lexical scale (these tests run lexical)

    semantic = exchange.suggestion_report(expert, scale="semantic")

    assert semantic.scale == "semantic"
    assert semantic.similar_threshold == exchange.settings.matching.semantic_similar_threshold
    assert semantic.related_listed == 0
    assert all("semantic_similar_threshold" in line for line in semantic.advice)


def test_the_console_lists_related_questions_with_how_to_follow(
    exchange: Exchange, alice: Actor
) -> None:
    new(exchange, alice, GRANTS)
    out = io.StringIO()
    Console(exchange, out, echo=True).run(["/as Bob @ Derby City Council", f"/ask {FUNDING}"])

    said = out.getvalue()
    assert "Related questions, in case one of them is yours after all:" in said
    assert f'Q-1 "{GRANTS}" (waiting) — /follow Q-1, then /withdraw Q-2' in said


def test_a_related_threshold_above_the_similar_one_is_refused() -> None:
    with pytest.raises(ValueError, match="related_threshold"):
        MatchingSettings(related_threshold=60.0, similar_threshold=47.5)
    with pytest.raises(ValueError, match="semantic_related_threshold"):
        MatchingSettings(semantic_related_threshold=60.0)
