"""Questions that share almost every word but ask different things are never called the
same question (knowledge/contrast.py): the workshop's kinds of question, turned round."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dataset import load
from benchmarks.matching import evaluate_contrast
from knowledge.config import MatchingSettings, load_settings
from knowledge.matching import Matcher

PSN_SET = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "psn"
CONFIG = PSN_SET.parent.parent.parent / "config.toml"


@pytest.fixture(scope="module")
def settings() -> MatchingSettings:
    return load_settings(CONFIG).matching


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return [text for _, text in load(PSN_SET).corpus]


def verdict(settings: MatchingSettings, corpus: list[str], stored: str, asked: str) -> tuple:
    matcher = Matcher(settings)
    matcher.add_many(enumerate(corpus))
    matcher.add(-1, stored)
    found = [m for m in matcher.find(asked, limit=40) if m.question_id == -1]
    assert found, f"{stored!r} not even retrieved for {asked!r}"
    return found[0].verdict, found[0].differs


@pytest.mark.parametrize(
    ("stored", "asked", "reason"),
    [
        (
            "Can a county council join the PSN before its district councils do?",
            "Can a district council join the PSN before its county council does?",
            "district and county swapped",
        ),
        (
            "Can we use our GCSx email once we are on the PSN?",
            "Can we stop using our GCSx email once we are on the PSN?",
            "one says stop",
        ),
        ("Is MPLS mandatory for the PSN?", "Is MPLS not mandatory for the PSN?", "one says not"),
        (
            "Can we join the PSN with a GCSx Code of Connection?",
            "Can we join the PSN without a GCSx Code of Connection?",
            "one says without",
        ),
        (
            "Should schools connect to the PSN before the council does?",
            "Should schools connect to the PSN after the council does?",
            "after / before",
        ),
        (
            "Will the PSN be available in the East Midlands by 2011?",
            "Will the PSN be available in the East Midlands by 2013?",
            "2013 / 2011",
        ),
        (
            "Does the PSN Code of Connection cover laptops used for home working?",
            "Does the PSN Code of Connection cover tablets used for home working?",
            "tablets / laptops",
        ),
        (
            "Should we replace our firewall before the PSN compliance check?",
            "Should we upgrade our firewall before the PSN compliance check?",
            "upgrade / replace",
        ),
    ],
)
def test_a_turned_round_question_is_only_similar_and_says_why(
    settings: MatchingSettings, corpus: list[str], stored: str, asked: str, reason: str
) -> None:
    assert verdict(settings, corpus, stored, asked) == ("similar", reason)


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        # the words around the two terms changed too: a passive, not a swap
        (
            "How is quality of service handled in PSN?",
            "How does the Public Sector Network handle QoS?",
        ),
        # words that mean much the same are not opposites or other courses of action
        (
            "How did NY Net deal with state aid when it grew from community networks into a "
            "regional network?",
            "NY Net grew from community networks into a regional network - how did it handle "
            "state aid?",
        ),
        # a spelling variant is not another thing
        (
            "Will our GCSx Code of Connection work count towards PSN accreditation?",
            "Will our GCSx code of conection work count towards PSN acreditation?",
        ),
    ],
)
def test_the_same_question_in_other_words_is_still_a_duplicate(
    settings: MatchingSettings, corpus: list[str], stored: str, asked: str
) -> None:
    assert verdict(settings, corpus, stored, asked) == ("duplicate", None)


def test_the_contrast_set_has_no_false_duplicates(
    settings: MatchingSettings, corpus: list[str]
) -> None:
    result = evaluate_contrast(settings, corpus)
    assert result.pairs == 60
    assert result.false_duplicates == []
    assert result.set_apart == 35  # the check, not a low score, keeps these apart


@pytest.mark.parametrize("queries", ["queries.jsonl", "reworded.jsonl", "holdout.jsonl"])
def test_no_labelled_duplicate_is_set_apart(settings: MatchingSettings, queries: str) -> None:
    """The check costs the labelled rewordings nothing: none is set apart from its match."""
    data = load(PSN_SET, PSN_SET / queries)
    matcher = Matcher(settings)
    matcher.add_many(enumerate(text for _, text in data.corpus))
    ids = [ident for ident, _ in data.corpus]
    for query in data.queries:
        for match in matcher.find(query.text, limit=5):
            if ids[match.question_id] in query.relevant:
                assert match.differs is None, (query.text, match.differs)
