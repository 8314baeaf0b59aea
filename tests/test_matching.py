"""The matcher in the workshop's own vocabulary: what an officer would notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.dataset import load
from benchmarks.matching import Result, brute_force, evaluate, fts5, quality, timed_ranking
from knowledge.config import MatchingSettings, load_settings
from knowledge.matching import Match, Matcher
from knowledge.normalise import Normaliser

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


def test_thesaurus_words_are_the_same_word_in_either_direction(
    settings: MatchingSettings,
) -> None:
    stored = Matcher(settings)
    stored.add(1, "Is there a short summary of PSN for our chief executive and councillors?")
    stored.add(2, "Is there any help with a business case for PSN?")
    found = best(stored, "one-page overview of PSN for the CEX and elected members")
    assert found.question_id == 1
    assert {"summary", "chief executive", "councillor"} <= set(found.shared_words)
    other_way = Matcher(settings)
    other_way.add(1, "one-page overview of PSN for the CEX and elected members")
    assert best(other_way, "PSN summary for the chief executive and councillors").question_id == 1


def test_the_longest_thesaurus_form_wins(settings: MatchingSettings) -> None:
    normalise = Matcher(settings).normalise
    assert "councillor" in normalise("Do elected members need to approve it?").terms
    public = normalise("Can members of the public use the PSN ID broker?").terms
    assert "member of the public" in public
    assert "public" not in public  # the phrase is one term, not its words
    # Words with other meanings in PSN questions are not in the thesaurus on their own.
    assert "councillor" not in normalise("Do members of staff need GCSx email?").terms
    assert "council" not in normalise("Which certificate authority signs them?").terms
    # A glossary acronym whose long form is in the thesaurus joins that line.
    assert normalise("CEX").terms == normalise("chief exec").terms == ("chief executive",)


def test_an_operator_can_add_a_thesaurus_line(settings: MatchingSettings) -> None:
    plain = Matcher(settings)
    plain.add(1, "Can our firewall appliance be reused?")
    before = best(plain, "Can our boxes be reused?")
    assert "appliance" not in before.shared_words
    own = Matcher(
        settings.model_copy(update={"synonyms": {**settings.synonyms, "appliance": ("box",)}})
    )
    own.add(1, "Can our firewall appliance be reused?")
    after = best(own, "Can our boxes be reused?")
    assert "appliance" in after.shared_words
    assert after.score > before.score


def test_plural_variants_are_only_plurals(settings: MatchingSettings) -> None:
    # "roi" + "es" would stem to "roy", "kit" + "es" to "kite": real words, not plurals.
    normalise = Matcher(settings).normalise
    assert "return on investment" not in normalise("Roy in finance asked").terms
    assert "equipment" not in normalise("a kite mark").terms
    assert "equipment" in normalise("new kits").terms


def test_a_plural_variant_never_takes_a_written_form(settings: MatchingSettings) -> None:
    # The stemmer does not join "boxes" to "box": a line with "box" makes "boxes" a variant
    # of it, unless another line writes "boxes" itself, which then wins.
    assert Normaliser({}, {"equipment": ("box",)})("boxes").terms == ("equipment",)
    normalise = Normaliser({}, {"equipment": ("box",), "crate": ("boxes",)})
    assert normalise("boxes").terms == ("crate",)
    assert normalise("box").terms == ("equipment",)


def test_search_forms_cover_the_thesaurus(settings: MatchingSettings) -> None:
    forms = Matcher(settings).normalise.forms("briefing for elected members on the VPN")
    assert {"councillor", "elected member", "ward member", "cllr"} <= set(forms)
    assert {"virtual private network", "vpn"} <= set(forms)


@pytest.mark.parametrize(
    ("glossary", "synonyms", "named"),
    [
        ({}, {"councillor": ("member",), "associate": ("member",)}, "'member'"),
        ({}, {"councillor": ("member",), "member": ("cllr",)}, "'member'"),
        ({"cex": "chief executive"}, {"leader": ("cex",)}, "'cex'"),
        ({}, {"councillor": ("!!!",)}, "empty"),
        ({"it": "information technology"}, {}, "common English word"),
        ({}, {"information technology": ("ict", "it")}, "common English word"),
    ],
)
def test_a_form_with_two_meanings_is_refused(
    glossary: dict[str, str], synonyms: dict[str, tuple[str, ...]], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Normaliser(glossary, synonyms)


# Floors a change must not fall below (the benchmark prints the current figures; these sit a
# little under them). queries.jsonl tuned the weights and thresholds; reworded.jsonl was
# written blind but its misses have since been studied; holdout.jsonl was written blind,
# by someone who never saw the matcher, and has tuned nothing.
FLOORS = {
    # dup_recall: questions called a duplicate of the right one (none on reworded.jsonl,
    # whose rewordings all score under duplicate_threshold).
    "queries.jsonl": {"r@1": 0.93, "r@5": 0.98, "offered": 0.80, "dup_recall": 0.25},
    "reworded.jsonl": {"r@1": 0.82, "r@5": 0.95, "offered": 0.50, "dup_recall": 0.0},
    "holdout.jsonl": {"r@1": 0.93, "r@5": 0.98, "offered": 0.70, "dup_recall": 0.05},
}


@pytest.mark.parametrize("queries", sorted(FLOORS))
def test_quality_floor_on_the_psn_set(settings: MatchingSettings, queries: str) -> None:
    """CI quality floor (no timing): the figures `python -m benchmarks.matching` reports,
    and the two baselines that need no extra packages beaten on recall@1 and recall@5."""
    data = load(PSN_SET, PSN_SET / queries)
    mine = evaluate(data, settings)
    r1, r5, _ = quality(mine, data)
    floor = FLOORS[queries]
    assert r1 >= floor["r@1"]
    assert r5 >= floor["r@5"]
    assert mine.offered is not None
    assert mine.offered >= floor["offered"]
    assert mine.dup_recall is not None
    assert mine.dup_recall >= floor["dup_recall"]
    assert mine.dup_precision is None or mine.dup_precision >= 0.9
    assert mine.hard_pairs
    assert mine.false_dup_rate is not None
    assert mine.false_dup_rate <= 0.05
    for make in (brute_force, fts5):
        baseline = Result(make.__name__)
        timed_ranking(baseline, data.queries, make([text for _, text in data.corpus]))
        b1, b5, _ = quality(baseline, data)
        assert r1 > b1, make.__name__
        # Beaten on the tuning set; on the blind sets a baseline may tie at the ceiling.
        assert r5 > b5 or (queries != "queries.jsonl" and r5 == b5 == 1.0), make.__name__


@pytest.mark.parametrize("queries", ["queries.jsonl", "reworded.jsonl", "holdout.jsonl"])
def test_the_bulk_duplicate_check_gives_the_verdict_find_gives(queries: str) -> None:
    """An import uses find_duplicate (faster: it skips scores that cannot reach the
    threshold); it must name exactly the question find's best duplicate names."""
    data = load(PSN_SET, PSN_SET / queries)
    matcher = Matcher(load_settings(PSN_SET.parent.parent.parent / "config.toml").matching)
    matcher.add_many((n, text) for n, (_, text) in enumerate(data.corpus))
    texts = [text for _, text in data.corpus] + [q.text for q in data.queries]
    found = 0
    for text in texts:
        best = matcher.find(text, limit=1)
        expected = best[0] if best and best[0].verdict == "duplicate" else None
        assert matcher.find_duplicate(text) == expected, text
        found += expected is not None
    assert found >= len(data.corpus)  # every stored question duplicates itself at least
