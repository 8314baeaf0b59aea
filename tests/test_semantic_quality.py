"""CI quality floor for matching by meaning (no timing): the figures
`python -m benchmarks.matching --side-by-side` reports for the semantic mode, with the
done-when of issue 13 on the blind holdout set, and the contrast set's false duplicates 0.

Skipped where the semantic extra or its model is not installed, except under CI
(CI_REQUIRE_SEMANTIC=1, set by .ci/run), where a missing model is a failure."""

from __future__ import annotations

import os

import pytest

from benchmarks.dataset import load
from benchmarks.matching import evaluate, evaluate_contrast, quality
from knowledge import semantic
from knowledge.config import MatchingSettings, load_settings
from knowledge.semantic import VectorCache, load_embedder
from tests.conftest import REPO
from tests.test_matching import PSN_SET

if os.environ.get("CI_REQUIRE_SEMANTIC") != "1":
    pytest.importorskip("tokenizers")
    if semantic.packaged_model() is None:
        pytest.skip("the model package is not installed", allow_module_level=True)

# A little under the figures the benchmark prints (lexical floors: tests/test_matching.py).
FLOORS = {
    "queries.jsonl": {"r@1": 0.96, "r@5": 0.98, "offered": 0.85},
    "reworded.jsonl": {"r@1": 0.93, "r@5": 0.97, "offered": 0.72},
    # issue 13, done when: offer rate at least 0.85 and recall@1 at least 0.90
    "holdout.jsonl": {"r@1": 0.96, "r@5": 0.98, "offered": 0.85},
}


@pytest.fixture(scope="module")
def settings() -> MatchingSettings:
    return load_settings(REPO / "config.toml").matching


@pytest.fixture(scope="module")
def cache() -> VectorCache:
    return VectorCache(load_embedder(), size=100_000)  # shared: each wording encoded once


@pytest.mark.parametrize("queries", sorted(FLOORS))
def test_semantic_quality_floor_on_the_psn_set(
    settings: MatchingSettings, cache: VectorCache, queries: str
) -> None:
    data = load(PSN_SET, PSN_SET / queries)
    mine = evaluate(data, settings, cache)
    lexical = evaluate(data, settings)
    r1, r5, _ = quality(mine, data)
    floor = FLOORS[queries]
    assert r1 >= floor["r@1"]
    assert r5 >= floor["r@5"]
    assert mine.offered is not None
    assert mine.offered >= floor["offered"]
    assert lexical.offered is not None
    assert mine.offered >= lexical.offered
    assert mine.dup_precision is None or mine.dup_precision >= 0.95
    assert mine.false_dup_rate is not None
    assert lexical.false_dup_rate is not None
    assert mine.false_dup_rate <= lexical.false_dup_rate  # no rise in false duplicates


def test_the_contrast_set_has_no_false_duplicates_by_meaning_either(
    settings: MatchingSettings, cache: VectorCache
) -> None:
    corpus = [text for _, text in load(PSN_SET).corpus]
    result = evaluate_contrast(settings, corpus, semantic=cache)
    assert result.pairs == 60
    assert result.false_duplicates == []
