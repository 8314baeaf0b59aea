"""Choose the duplicate and similar thresholds on labelled dev data, the same way every time.

    python -m benchmarks.calibrate --dataset benchmarks/data/psn \
        --dataset ../shared/data/qqp-tech-dev [--semantic]

With --semantic the thresholds are chosen for the semantic matcher (its blended score), and
printed as `semantic_duplicate_threshold` / `semantic_similar_threshold`.

For each dataset the corpus is indexed and every query checked. Candidate thresholds run
from 30 to 100 in steps of 0.5.

- duplicate_threshold: the lowest threshold at which, on every dataset, the top match called
  "duplicate" is right at least 95% of the time (target 90%) and at most 2.5% of
  (query, hard negative) pairs are called duplicate (target 5%) — the margins absorb label
  noise and unseen wording. Lowest = the most true duplicates caught under those limits.
- similar_threshold: the lowest threshold at which, on every dataset, a top match offered as
  "similar" (score at or above it) is right at least 90% of the time, so suggestions stay
  worth reading; capped at the duplicate threshold.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.dataset import Dataset, load
from knowledge.config import load_settings
from knowledge.matching import Matcher
from knowledge.semantic import VectorCache, load_embedder

DUPLICATE_PRECISION = 0.95
HARD_NEGATIVE_RATE = 0.025
SIMILAR_PRECISION = 0.9
GRID = [30 + i / 2 for i in range(141)]


@dataclass(frozen=True, slots=True)
class Observed:
    top: list[tuple[float, bool]]  # per query: best score, whether that match is right
    hard: list[float]  # score given to each (query, hard negative) pair; 0 when not found


def observe(data: Dataset, matcher: Matcher, candidates: int) -> Observed:
    ids = [cid for cid, _ in data.corpus]
    matcher.add_many((i, text) for i, (_, text) in enumerate(data.corpus))
    top: list[tuple[float, bool]] = []
    hard: list[float] = []
    for query in data.queries:
        found = matcher.find(query.text, limit=candidates)
        if found:
            top.append((found[0].score, ids[found[0].question_id] in query.relevant))
        scores = {ids[m.question_id]: m.score for m in found}
        hard.extend(scores.get(neg, 0.0) for neg in query.hard_negatives if neg in ids)
    return Observed(top, hard)


def precision(obs: Observed, threshold: float) -> float:
    called = [right for score, right in obs.top if score >= threshold]
    return sum(called) / len(called) if called else 1.0


def hard_rate(obs: Observed, threshold: float) -> float:
    return sum(s >= threshold for s in obs.hard) / len(obs.hard) if obs.hard else 0.0


def choose(observed: Sequence[Observed]) -> tuple[float, float]:
    duplicate = next(
        t
        for t in GRID
        if all(
            precision(o, t) >= DUPLICATE_PRECISION and hard_rate(o, t) <= HARD_NEGATIVE_RATE
            for o in observed
        )
    )
    similar = next(t for t in GRID if all(precision(o, t) >= SIMILAR_PRECISION for o in observed))
    return duplicate, min(similar, duplicate)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, action="append", required=True)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--semantic", action="store_true", help="calibrate the semantic mode")
    args = parser.parse_args(argv)
    settings = load_settings(args.config).matching
    embedder = load_embedder(settings.model) if args.semantic else None
    observed = []
    for path in args.dataset:
        data = load(path)
        matcher = Matcher(settings, VectorCache(embedder) if embedder else None)
        obs = observe(data, matcher, settings.candidates)
        observed.append(obs)
        print(f"{data.name}: {len(obs.top)} queries, {len(obs.hard)} hard-negative pairs")
    duplicate, similar = choose(observed)
    for path, obs in zip(args.dataset, observed, strict=True):
        recall = sum(right for s, right in obs.top if s >= duplicate) / max(len(obs.top), 1)
        print(
            f"  {path.name}: at {duplicate}: duplicate precision {precision(obs, duplicate):.3f}, "
            f"recall {recall:.3f}, hard negatives called duplicate {hard_rate(obs, duplicate):.3f}"
            f"; at {similar}: similar precision {precision(obs, similar):.3f}"
        )
    prefix = "semantic_" if args.semantic else ""
    print(
        f"\n[matching]\n{prefix}duplicate_threshold = {duplicate}\n"
        f"{prefix}similar_threshold = {similar}"
    )


if __name__ == "__main__":
    main()
