"""Matching benchmark: the matcher against standard baselines, in one run, on one machine.

    python -m benchmarks.matching --dataset benchmarks/data/psn
    python -m benchmarks.matching --dataset ../shared/data/qqp-tech-dev
    python -m benchmarks.matching --queries benchmarks/data/psn/holdout.jsonl
    python -m benchmarks.matching --side-by-side     # each matcher mode, every query file

Quality at the dataset's size (recall@1, recall@5, MRR@10, the duplicate verdict's precision
and recall, false duplicates on hard negatives), then latency with the store padded to
`--pad` questions (default 100,000) by deterministic synthetic questions (see `pad`).
Baselines: brute-force rapidfuzz token_set_ratio over every question, SQLite FTS5 bm25()
(porter, OR of the query's non-stop-words) and TF-IDF cosine over character 3-5-grams
(needs the `bench` extra: scikit-learn).

`--side-by-side` compares the matcher's modes (lexical; semantic, when the extra and its
model are installed) on every query file of the dataset, and on the contrast set for PSN:
the same quality figures, no latency (benchmarks.semantic times the semantic mode at scale).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import sqlite3
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process, utils

from benchmarks.dataset import Dataset, Query, load
from knowledge.config import MatchingSettings, load_settings
from knowledge.matching import Matcher
from knowledge.normalise import STOP_WORDS
from knowledge.semantic import SemanticUnavailable, VectorCache, load_embedder

DEFAULT_DATASET = Path(__file__).parent / "data" / "psn"
_WORD = re.compile(r"[^\W_]+")

Ranker = Callable[[str], list[int]]  # query text -> corpus positions, best first


@dataclass
class Result:
    name: str
    ranked: dict[str, list[int]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    padded: list[float] = field(default_factory=list)
    build_s: float = 0.0
    padded_build_s: float = 0.0
    peak_mb: float = 0.0
    dup_precision: float | None = None
    dup_recall: float | None = None
    false_dup_rate: float | None = None
    offered: float | None = None
    hard_pairs: int = 0


# -- padding ------------------------------------------------------------------------------


def pad(corpus: Sequence[str], size: int, seed: int = 20100) -> list[str]:
    """`size` synthetic questions shaped like `corpus`, the same on every run.

    Each takes a real question and replaces about half its words: with words drawn by
    frequency from the corpus, or with made-up words, so term frequencies keep a long tail.
    """
    rng = random.Random(seed)
    words = [w for text in corpus for w in text.split()]
    syllables = ["ka", "lo", "mi", "tre", "sun", "por", "vel", "dex", "an", "qua", "ri", "zo"]
    made_up = [
        "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(20_000)
    ]
    out = []
    for _ in range(size):
        base = rng.choice(corpus).split()
        for i in range(len(base)):
            roll = rng.random()
            if roll < 0.35:
                base[i] = rng.choice(words)
            elif roll < 0.5:
                base[i] = rng.choice(made_up)
        if len(base) > 3 and rng.random() < 0.5:
            rng.shuffle(base)
        out.append(" ".join(base))
    return out


# -- baselines ------------------------------------------------------------------------------


def brute_force(corpus: Sequence[str]) -> Ranker:
    choices = [utils.default_process(text) for text in corpus]

    def rank(text: str) -> list[int]:
        found = process.extract(
            utils.default_process(text),
            choices,
            scorer=fuzz.token_set_ratio,
            processor=None,
            limit=10,
        )
        return [position for _, _, position in found]

    return rank


def fts5(corpus: Sequence[str]) -> Ranker:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE questions USING fts5(text, tokenize='porter')")
    db.executemany("INSERT INTO questions(rowid, text) VALUES (?, ?)", enumerate(corpus))

    def rank(text: str) -> list[int]:
        words = {w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS}
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in sorted(words))
        rows = db.execute(
            "SELECT rowid FROM questions WHERE questions MATCH ? ORDER BY bm25(questions) LIMIT 10",
            (match,),
        )
        return [row[0] for row in rows]

    return rank


def tfidf_char(corpus: Sequence[str]) -> Ranker | None:
    try:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    except ImportError:
        return None
    vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    matrix = vectoriser.fit_transform(corpus)

    def rank(text: str) -> list[int]:
        scores = (matrix @ vectoriser.transform([text]).T).toarray().ravel()
        top = np.argpartition(-scores, min(10, len(scores) - 1))[:10]
        return [int(i) for i in top[np.argsort(-scores[top])] if scores[i] > 0]

    return rank


# -- measuring ------------------------------------------------------------------------------


def timed_ranking(result: Result, queries: Sequence[Query], rank: Ranker) -> None:
    for query in queries:
        start = time.perf_counter()
        result.ranked[query.id] = rank(query.text)
        result.latencies.append(time.perf_counter() - start)


def timed(rank: Ranker, texts: Sequence[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        rank(text)
        out.append(time.perf_counter() - start)
    return out


def build(make: Callable[[], Ranker | None]) -> tuple[Ranker | None, float]:
    gc.collect()
    start = time.perf_counter()
    rank = make()
    return rank, time.perf_counter() - start


def matcher_ranker(matcher: Matcher) -> Ranker:
    return lambda text: [m.question_id for m in matcher.find(text, limit=10)]


def verdicts(result: Result, data: Dataset, matcher: Matcher, settings: MatchingSettings) -> None:
    """Duplicate-verdict precision/recall on the top match; false duplicates on hard negatives;
    and how often the right question is among the suggestions an officer is shown (the top
    `suggestions` matches scoring at least `similar_threshold`)."""
    ids = [cid for cid, _ in data.corpus]
    position = {cid: i for i, cid in enumerate(ids)}
    called = right = answerable = pairs = false = offered = 0
    for query in data.queries:
        found = matcher.find(query.text, limit=settings.candidates)
        answerable += bool(query.relevant)
        if found and found[0].verdict == "duplicate":
            called += 1
            right += ids[found[0].question_id] in query.relevant
        shown = [m for m in found[: settings.suggestions] if m.verdict != "none"]
        offered += any(ids[m.question_id] in query.relevant for m in shown)
        duplicates = {m.question_id for m in found if m.verdict == "duplicate"}
        for negative in query.hard_negatives:
            if negative in position:
                pairs += 1
                false += position[negative] in duplicates
    result.dup_precision = right / called if called else None
    result.dup_recall = right / answerable if answerable else 0.0
    result.false_dup_rate = false / pairs if pairs else 0.0
    result.offered = offered / answerable if answerable else 0.0
    result.hard_pairs = pairs


def evaluate(
    data: Dataset, settings: MatchingSettings, semantic: VectorCache | None = None
) -> Result:
    """The matcher's quality on `data` at the dataset's size (no timing that matters), in
    the lexical mode or, given a vector cache, the semantic one."""
    result = Result("matcher" if semantic is None else "matcher (semantic)")
    matcher = Matcher(settings, semantic)
    matcher.add_many(enumerate(text for _, text in data.corpus))
    timed_ranking(result, data.queries, matcher_ranker(matcher))
    verdicts(result, data, matcher, settings)
    return result


def quality(result: Result, data: Dataset) -> tuple[float, float, float]:
    ids = [cid for cid, _ in data.corpus]
    scored = [q for q in data.queries if q.relevant]
    r1 = r5 = mrr = 0.0
    for query in scored:
        got = [ids[i] for i in result.ranked.get(query.id, [])]
        r1 += bool(got[:1]) and got[0] in query.relevant
        r5 += bool(query.relevant.intersection(got[:5]))
        for rank, cid in enumerate(got[:10], start=1):
            if cid in query.relevant:
                mrr += 1.0 / rank
                break
    n = max(len(scored), 1)
    return r1 / n, r5 / n, mrr / n


def ms(values: Sequence[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000.0 * ordered[min(len(ordered) - 1, int(pct * len(ordered)))]


def peak_memory_mb(make: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    kept = make()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return peak / 1e6


# -- report ---------------------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def report(data: Dataset, results: list[Result], pad_size: int) -> None:
    scored = sum(bool(q.relevant) for q in data.queries)
    print(
        f"\nDataset {data.name}: {len(data.corpus):,} stored questions, {len(data.queries)} "
        f"queries ({scored} with a labelled duplicate), padded store {pad_size:,}"
    )
    head = (
        f"{'method':<24}{'r@1':>7}{'r@5':>7}{'MRR10':>7}{'dupP':>7}{'dupR':>7}{'falseDup':>9}"
        f"{'offer':>7}"
        f"{'p50ms':>8}{'p95ms':>8}{'p50@pad':>9}{'p95@pad':>9}{'build_s':>9}{'bld@pad':>9}"
        f"{'peakMB':>8}"
    )
    print(head)
    print("-" * len(head))
    for res in results:
        r1, r5, mrr = quality(res, data)
        print(
            f"{res.name:<24}{fmt(r1):>7}{fmt(r5):>7}{fmt(mrr):>7}{fmt(res.dup_precision):>7}"
            f"{fmt(res.dup_recall):>7}{fmt(res.false_dup_rate):>9}{fmt(res.offered):>7}"
            f"{fmt(ms(res.latencies, 0.5), '.2f'):>8}{fmt(ms(res.latencies, 0.95), '.2f'):>8}"
            f"{fmt(ms(res.padded, 0.5), '.2f'):>9}{fmt(ms(res.padded, 0.95), '.2f'):>9}"
            f"{fmt(res.build_s, '.2f'):>9}{fmt(res.padded_build_s or None, '.2f'):>9}"
            f"{fmt(res.peak_mb or None, '.0f'):>8}"
        )
    mine = results[0]
    m1, m5, _ = quality(mine, data)
    print(
        "\nRatios: recall = matcher / baseline (>1: matcher finds more); "
        "speed = baseline p95 / matcher p95 (>1: matcher faster)"
    )
    for res in results[1:]:
        b1, b5, _ = quality(res, data)
        speed = ms(res.padded, 0.95) / ms(mine.padded, 0.95) if res.padded else float("nan")
        print(
            f"  vs {res.name:<22} r@1 x{m1 / b1 if b1 else float('inf'):.3f}  "
            f"r@5 x{m5 / b5 if b5 else float('inf'):.3f}  "
            f"speed at dataset size x{ms(res.latencies, 0.95) / ms(mine.latencies, 0.95):.2f}"
            + (f", at {pad_size:,} x{speed:.1f}" if res.padded else "")
        )
    print(
        f"\nfalseDup = share of {mine.hard_pairs} (query, hard negative) pairs called duplicate; "
        "dupP/dupR = the top match's duplicate verdict, right / all queries with a duplicate\n"
        "(dupP '-' when nothing was called a duplicate); offer = the right question is among "
        "the suggestions an officer is shown (top matches at or above similar_threshold)."
    )


CONTRAST_SET = Path(__file__).resolve().parent / "data" / "psn" / "contrast.jsonl"


@dataclass
class ContrastResult:
    """Pairs sharing almost every word but asking different things (contrast.jsonl): one
    is stored among the PSN questions, the other asked, both ways round."""

    pairs: int = 0
    false_duplicates: list[str] = field(default_factory=list)  # "x001: a -> b"
    set_apart: int = 0  # scored as duplicates but told apart by the contrast check
    by_kind: dict[str, int] = field(default_factory=dict)  # kind -> pairs

    @property
    def rate(self) -> float:
        return len(self.false_duplicates) / self.pairs if self.pairs else 0.0


def evaluate_contrast(
    settings: MatchingSettings,
    corpus: Sequence[str],
    path: Path = CONTRAST_SET,
    semantic: VectorCache | None = None,
) -> ContrastResult:
    result = ContrastResult()
    for line in path.read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)
        for stored, asked in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):
            matcher = Matcher(settings, semantic)
            matcher.add_many(enumerate(corpus))
            matcher.add(-1, stored)
            found = matcher.find(asked, limit=settings.candidates)
            found = [match for match in found if match.question_id == -1]
            result.pairs += 1
            result.by_kind[pair["kind"]] = result.by_kind.get(pair["kind"], 0) + 1
            if found and found[0].verdict == "duplicate":
                result.false_duplicates.append(f"{pair['id']}: {asked!r} -> {stored!r}")
            elif found and found[0].differs:
                result.set_apart += 1
    return result


def report_contrast(result: ContrastResult) -> None:
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(result.by_kind.items()))
    print(
        f"\nContrast set: {result.pairs} (stored, asked) pairs ({kinds}); called duplicate: "
        f"{len(result.false_duplicates)} (rate {result.rate:.3f}); scored as duplicates but "
        f"set apart by the contrast check: {result.set_apart}"
    )
    for case in result.false_duplicates:
        print(f"  false duplicate {case}")


def run(data: Dataset, settings: MatchingSettings, pad_size: int, sample: int) -> list[Result]:
    texts = [text for _, text in data.corpus]
    padding = pad(texts, max(pad_size - len(texts), 0))
    padded_texts = texts + padding
    queries = data.queries
    timing_queries = [q.text for q in queries][: max(sample, 1)]

    def make_matcher(corpus: Sequence[str]) -> Matcher:
        matcher = Matcher(settings)
        matcher.add_many(enumerate(corpus))
        return matcher

    results = []
    _, build_s = build(lambda: matcher_ranker(make_matcher(texts)))
    mine = evaluate(data, settings)
    mine.build_s = build_s
    gc.collect()
    start = time.perf_counter()
    big = make_matcher(padded_texts)
    mine.padded_build_s = time.perf_counter() - start
    mine.padded = timed(matcher_ranker(big), [q.text for q in queries])
    del big
    mine.peak_mb = peak_memory_mb(lambda: make_matcher(padded_texts))
    results.append(mine)

    for name, make in (
        ("rapidfuzz token_set", brute_force),
        ("sqlite fts5 bm25", fts5),
        ("tf-idf char 3-5", tfidf_char),
    ):
        res = Result(name)
        rank, res.build_s = build(lambda make=make: make(texts))  # type: ignore[misc]
        if rank is None:
            print(f"(skipped {name}: install the bench extra, pip install -e '.[bench]')")
            continue
        timed_ranking(res, queries, rank)
        if name != "tf-idf char 3-5":
            big_rank, res.padded_build_s = build(lambda make=make: make(padded_texts))  # type: ignore[misc]
            assert big_rank is not None
            res.padded = timed(big_rank, timing_queries)
        results.append(res)
    return results


def modes() -> dict[str, VectorCache | None]:
    """The matcher modes this installation can run: lexical, and semantic if installed."""
    found: dict[str, VectorCache | None] = {"lexical": None}
    try:
        # One cache for the whole run: each wording is encoded once across query files.
        found["semantic"] = VectorCache(load_embedder(""), size=1_000_000)
    except SemanticUnavailable as why:
        print(f"(semantic mode skipped: {why})")
    return found


def side_by_side(dataset: Path, settings: MatchingSettings) -> None:
    """Each mode's quality on every query file of `dataset`, and on the contrast set."""
    running = modes()
    files = sorted(dataset.glob("*.jsonl"))
    files = [f for f in files if f.name not in ("corpus.jsonl", CONTRAST_SET.name)]
    head = (
        f"{'queries':<16}{'mode':<10}{'r@1':>7}{'r@5':>7}{'MRR10':>7}{'dupP':>7}{'dupR':>7}"
        f"{'falseDup':>9}{'offer':>7}"
    )
    print(f"\nDataset {dataset.name}: the matcher's modes side by side")
    print(f"{head}\n{'-' * len(head)}")
    corpus: list[str] = []
    for queries in files:
        data = load(dataset, queries)
        corpus = [text for _, text in data.corpus]
        for mode, semantic in running.items():
            res = evaluate(data, settings, semantic)
            r1, r5, mrr = quality(res, data)
            print(
                f"{queries.stem:<16}{mode:<10}{fmt(r1):>7}{fmt(r5):>7}{fmt(mrr):>7}"
                f"{fmt(res.dup_precision):>7}{fmt(res.dup_recall):>7}"
                f"{fmt(res.false_dup_rate):>9}{fmt(res.offered):>7}"
            )
    if (dataset / CONTRAST_SET.name).exists():
        for mode, semantic in running.items():
            print(f"\n[{mode}]", end="")
            report_contrast(
                evaluate_contrast(settings, corpus, dataset / CONTRAST_SET.name, semantic)
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument(
        "--queries",
        type=Path,
        default=None,
        help="queries file (default: the dataset's queries.jsonl; e.g. the PSN holdout.jsonl)",
    )
    parser.add_argument("--config", type=Path, default=None, help="config.toml for thresholds")
    parser.add_argument("--pad", type=int, default=100_000, help="store size for the latency run")
    parser.add_argument(
        "--sample",
        type=int,
        default=100,
        help="queries timed per baseline at the padded size (brute force is slow)",
    )
    parser.add_argument(
        "--side-by-side",
        action="store_true",
        help="each matcher mode's quality on every query file of --dataset (no latency)",
    )
    args = parser.parse_args(argv)
    settings = load_settings(args.config).matching
    if args.side_by_side:
        side_by_side(args.dataset, settings)
        return
    data = load(args.dataset, args.queries)
    results = run(data, settings, args.pad, args.sample)
    report(data, results, args.pad)
    if data.name == "psn":
        report_contrast(evaluate_contrast(settings, [text for _, text in data.corpus]))


if __name__ == "__main__":
    main()
