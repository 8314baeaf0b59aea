"""The matcher in the workshop's own vocabulary: what an officer would notice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.config import MatchingSettings
from knowledge.matching import Match, Matcher

PSN_SET = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "psn"

STORED = {
    1: "Will our GCSx Code of Connection work count towards PSN accreditation?",
    2: "How much will it cost a council to join the Public Sector Network?",
    3: "Does the PSN carry quality of service markings for VoIP traffic end to end?",
    4: "Who owns the intellectual property rights in a shared regional network design?",
    5: "Can schools connect to the regional network through the broadband consortium?",
    6: "When will the Cabinet Office publish the PSN compliance timetable?",
}


@pytest.fixture
def settings() -> MatchingSettings:
    return MatchingSettings()


@pytest.fixture
def matcher(settings: MatchingSettings) -> Matcher:
    m = Matcher(settings)
    m.add_many(STORED.items())
    return m


def best(matcher: Matcher, text: str) -> Match:
    found = matcher.find(text)
    assert found, f"nothing found for {text!r}"
    return found[0]


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        # acronym for long form, and long form for acronym
        ("Does our GCSx CoCo work count towards Public Sector Network accreditation?", 1),
        ("Does the Public Sector Network carry QoS markings for voice over IP end to end?", 3),
        ("How much does joining PSN cost a council?", 2),
        # other word order
        ("end to end QoS markings for VoIP traffic: does the PSN carry them?", 3),
        # typos
        ("Will our GCSx code of conection work count towards PSN acreditation?", 1),
        # paraphrase
        ("Who holds the IPR for a regional network design we share?", 4),
        ("Can a school get connected to the regional network via the broadband consortium?", 5),
    ],
)
def test_finds_the_same_question_in_other_words(
    matcher: Matcher, asked: str, expected: int
) -> None:
    assert best(matcher, asked).question_id == expected


def test_the_same_words_are_a_duplicate(matcher: Matcher) -> None:
    found = best(matcher, "will our gcsx code of connection work count towards PSN accreditation")
    assert found.question_id == 1
    assert found.verdict == "duplicate"
    assert found.score >= 95


def test_glossary_works_in_both_directions(settings: MatchingSettings) -> None:
    short = Matcher(settings)
    short.add(1, "QoS on the PSN")
    long = Matcher(settings)
    long.add(1, "quality of service on the public sector network")
    assert best(short, "quality of service on the public sector network").verdict == "duplicate"
    assert best(long, "QoS on the PSN").verdict == "duplicate"


def test_different_questions_sharing_many_words_are_not_duplicates(matcher: Matcher) -> None:
    found = matcher.find("How much will it cost a council to leave the Public Sector Network?")
    assert all(m.verdict != "duplicate" or m.question_id == 2 for m in found)
    found = matcher.find("When will the Cabinet Office publish the PSN cost figures for councils?")
    assert all(m.verdict != "duplicate" for m in found)


def test_a_one_word_subset_is_not_a_duplicate(settings: MatchingSettings) -> None:
    m = Matcher(settings)
    m.add(1, "accreditation")
    m.add(2, "How long does PSN accreditation take for a district council?")
    for found in m.find("accreditation"):
        if found.question_id == 2:
            assert found.verdict != "duplicate"
    assert all(f.verdict != "duplicate" for f in m.find("PSN accreditation"))


def test_add_and_remove_update_the_index_in_place(settings: MatchingSettings) -> None:
    m = Matcher(settings)
    m.add(7, "Can we reuse our GCSx Code of Connection for PSN?")
    assert 7 in m
    assert len(m) == 1
    m.add(7, "Does CoCo compliance carry over from GCSx to PSN?")
    assert len(m) == 1
    assert best(m, "does coco compliance carry over from gcsx to psn").verdict == "duplicate"
    m.add(8, "How do we mark VoIP traffic with DSCP values?")
    assert [f.question_id for f in m.find("CoCo reuse for PSN")].count(7) == 1
    m.remove(7)
    assert 7 not in m
    assert all(f.question_id != 7 for f in m.find("GCSx Code of Connection"))
    m.remove(7)  # absent: no error
    m.remove(12345)
    assert len(m) == 1


def test_explain_shows_score_and_shared_words(matcher: Matcher) -> None:
    found = best(matcher, "CoCo accreditation under PSN")
    text = found.explain()
    assert text.startswith(f"{round(found.score)}% alike — both mention: ")
    assert "code of connection" in found.shared_words
    assert "accreditation" in found.shared_words
    assert "code of connection" in text
    assert Match(1, 12.4, "none", ()).explain() == "12% alike — no key words in common"


def test_results_are_best_first_one_per_question_and_limited(matcher: Matcher) -> None:
    found = matcher.find("PSN network council", limit=3)
    assert len(found) <= 3
    assert [f.score for f in found] == sorted((f.score for f in found), reverse=True)
    assert len({f.question_id for f in found}) == len(found)
    assert all(0 <= f.score <= 100 for f in found)


@pytest.mark.parametrize(
    "odd",
    ["", "   ", "!!! ??? ...", "🙂🙂🙂", "\u200b\u200d\u202e", "the of and to", "\x00\x01"],
)
def test_odd_input_finds_nothing_and_does_not_fail(matcher: Matcher, odd: str) -> None:
    assert matcher.find(odd) == []


def test_hidden_characters_and_case_do_not_matter(matcher: Matcher) -> None:
    found = best(
        matcher, "WHEN WILL THE CABINET\u200b OFFICE PUBLISH THE ＰＳＮ COMPLIANCE TIMETABLE"
    )
    assert found.question_id == 6
    assert found.verdict == "duplicate"


def test_empty_index_and_unknown_words(settings: MatchingSettings) -> None:
    m = Matcher(settings)
    assert m.find("anything at all") == []
    m.add(1, "PSN accreditation")
    assert m.find("zebra crossing") == []
    m.add(2, "?!")  # no words: stored, never found
    assert 2 in m


def _rows(name: str) -> list[dict[str, object]]:
    with (PSN_SET / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.skipif(not PSN_SET.exists(), reason="PSN benchmark set not present")
def test_quality_floor_on_the_psn_set(settings: MatchingSettings) -> None:
    """CI quality floor (no timing): the figures `python -m benchmarks.matching` reports."""
    corpus = _rows("corpus.jsonl")
    queries = _rows("queries.jsonl")
    ids = [str(row["id"]) for row in corpus]
    m = Matcher(settings)
    m.add_many((i, str(row["text"])) for i, row in enumerate(corpus))
    r1 = r5 = labelled = called = right = pairs = false = 0
    for query in queries:
        relevant = {str(i) for i in query.get("relevant_ids", [])}  # type: ignore[attr-defined]
        found = m.find(str(query["text"]), limit=settings.candidates)
        got = [ids[f.question_id] for f in found]
        if relevant:
            labelled += 1
            r1 += bool(got) and got[0] in relevant
            r5 += bool(relevant.intersection(got[:5]))
        if found and found[0].verdict == "duplicate":
            called += 1
            right += got[0] in relevant
        duplicates = {ids[f.question_id] for f in found if f.verdict == "duplicate"}
        for negative in query.get("hard_negative_ids", []):  # type: ignore[attr-defined]
            pairs += 1
            false += negative in duplicates
    assert r1 / labelled >= 0.92
    assert r5 / labelled >= 0.97
    assert called
    assert right / called >= 0.9
    assert pairs
    assert false / pairs <= 0.05
