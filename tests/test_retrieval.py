"""The matcher's retrieval index and its bounds: fast paths that must give exactly the
answers of the slow ones."""

from __future__ import annotations

import math
import random
from pathlib import Path

from benchmarks.dataset import load
from knowledge import retrieval
from knowledge.config import MatchingSettings
from knowledge.matching import WEIGHTS, Matcher, _Scoring
from knowledge.retrieval import TermIndex, idf

PSN_SET = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "psn"


def _bm25_by_hand(docs: dict[int, tuple[str, ...]], terms: tuple[str, ...]) -> dict[int, float]:
    """Plain BM25 (tf = 1) over every wording sharing a term: what `retrieve` must rank by."""
    avg = sum(len(t) for t in docs.values()) / len(docs)
    scores: dict[int, float] = {}
    for term in terms:
        holding = [key for key, doc in docs.items() if term in doc]
        weight = idf(len(holding), len(docs)) if holding else 0.0
        for key in holding:
            length = len(docs[key])
            factor = 2.2 / (1.0 + 1.2 * (0.25 + 0.75 * length / avg))
            scores[key] = scores.get(key, 0.0) + weight * factor
    return scores


def test_top_ranks_as_bm25_with_ties_in_key_order_and_forgets_removed() -> None:
    rng = random.Random(5)
    vocabulary = [f"w{n}" for n in range(30)]
    index = TermIndex()
    docs: dict[int, tuple[str, ...]] = {}
    for key in range(400):
        docs[key] = tuple(rng.sample(vocabulary, rng.randint(1, 6)))
        index.add(key, docs[key])
    for key in range(0, 400, 3):  # enough removals to compact some terms' arrays
        index.remove(key, docs.pop(key))
    assert len(index) == len(docs)
    for _ in range(50):
        terms = tuple(rng.sample(vocabulary, 3))
        weights = {t: idf(index.df(t), len(docs)) for t in terms}
        expected = _bm25_by_hand(docs, terms)
        ranked = sorted(expected, key=lambda key: (-round(expected[key], 9), key))[:10]
        assert index.retrieve(terms, weights, 10).keys == ranked


def _by_hand_with_budget(
    docs: dict[int, tuple[str, ...]], terms: tuple[str, ...], wanted: int, budget: int
) -> list[int]:
    """What `retrieve` must return when common terms only re-weight: the terms in order of
    rarity until `budget` postings are walked rank a pool of `wanted * WIDEN`, which the
    skipped terms then re-weight."""
    df = {t: sum(1 for doc in docs.values() if t in doc) for t in terms}
    walked, ranked_by, skipped = 0, [], []
    for term in sorted((t for t in terms if df[t]), key=lambda t: df[t]):
        if walked and walked + df[term] > budget:
            skipped.append(term)
        else:
            walked += df[term]
            ranked_by.append(term)
    first = _bm25_by_hand(docs, tuple(ranked_by))
    if not skipped:
        return sorted(first, key=lambda key: (-round(first[key], 9), key))[:wanted]
    pool = sorted(first, key=lambda key: (-round(first[key], 9), key))[: wanted * 4]
    full = _bm25_by_hand(docs, tuple(ranked_by) + tuple(skipped))
    return sorted(pool, key=lambda key: (-round(full[key], 9), key))[:wanted]


def test_common_terms_only_re_weight_and_shared_weights_are_exact(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(retrieval, "POSTING_BUDGET", 60)
    rng = random.Random(8)
    vocabulary = [f"w{n}" for n in range(12)]  # few terms: many are common, so skipped
    index = TermIndex()
    docs: dict[int, tuple[str, ...]] = {}
    for key in range(300):
        docs[key] = tuple(rng.sample(vocabulary, rng.randint(1, 5)))
        index.add(key, docs[key])
    for key in range(1, 300, 4):
        index.remove(key, docs.pop(key))
    skipping = 0
    for _ in range(60):
        terms = tuple(rng.sample(vocabulary, 4))
        weights = {t: idf(index.df(t), len(docs)) for t in terms}
        found = index.retrieve(terms, weights, 8)
        assert found.keys == _by_hand_with_budget(docs, terms, 8, 60)
        skipping += sum(index.df(t) for t in terms) > 60
        for key, shared in zip(found.keys, found.shared, strict=True):
            exact = sum(weights[t] for t in terms if t in docs[key])
            assert abs(shared - exact) <= retrieval.SHARED_ROUNDING * exact
    assert skipping > 30


def test_an_unknown_term_finds_nothing() -> None:
    index = TermIndex()
    assert index.retrieve(("vpn",), {"vpn": 1.0}, 5).keys == []
    index.add(0, ("gcsx",))
    assert index.retrieve(("vpn",), {"vpn": 1.0}, 5).keys == []
    assert index.df("vpn") == 0
    assert index.df("gcsx") == 1


def test_replace_re_indexes_only_a_changed_wording() -> None:
    matcher = Matcher(MatchingSettings())
    matcher.replace(1, ["Is MPLS mandatory for PSN?"])
    before = matcher._wordings[1]
    matcher.replace(1, ["Is MPLS mandatory for PSN?"])  # unchanged: kept as it is
    assert matcher._wordings[1] == before
    matcher.replace(1, ["Is MPLS mandatory for PSN?", "Do we have to use MPLS?"])
    assert len(matcher._wordings[1]) == 2
    assert matcher.find("Do we have to use MPLS?", limit=1)[0].question_id == 1
    matcher.add(1, "Must the PSN run over MPLS?")  # a later add is not hidden by replace
    matcher.replace(1, ["Is MPLS mandatory for PSN?", "Do we have to use MPLS?"])
    assert len(matcher._wordings[1]) == 2
    matcher.replace(1, [])
    assert 1 not in matcher
    assert matcher.find("Is MPLS mandatory for PSN?") == []


def test_could_reach_never_rules_out_a_score_that_is_reached() -> None:
    """The staged bounds (from retrieval's shared weights alone, then from each wording's
    terms) may only skip candidates whose full score is below the mark."""
    data = load(PSN_SET, PSN_SET / "reworded.jsonl")
    matcher = Matcher(MatchingSettings())
    matcher.add_many((n, text) for n, (_, text) in enumerate(data.corpus))
    checked = 0
    for query in data.queries:
        wording = matcher.normalise(query.text)
        weights = matcher._idf_table(wording.terms)
        scoring = _Scoring(matcher, wording, weights)
        found = matcher._index.retrieve(wording.terms, weights, matcher.settings.candidates)
        bounds = scoring.reach_from_shared(found.shared)
        q_norm = sum(w * w for w in weights.values())
        for key, bound in zip(found.keys, bounds, strict=True):
            # The bound is never below could_reach's first step, from the wording's terms.
            shared = [weights[t] for t in matcher._terms[key] if t in weights]
            first_step = 100.0 * (
                WEIGHTS["cosine"] * math.sqrt(sum(w * w for w in shared) / q_norm)
                + WEIGHTS["chargram"]
                + WEIGHTS["sort"]
                + WEIGHTS["set"] * sum(shared) / sum(weights.values())
            )
            assert bound >= first_step - 1e-9, (query.text, key)
            score = scoring.features(key)["score"]
            for mark in (30.0, 47.5, 60.0, 81.0, 95.0):
                if score >= mark:
                    assert scoring.could_reach(key, mark), (query.text, key, mark)
                    assert bound >= mark, (query.text, key, mark)
                    checked += 1
    assert checked > 100
