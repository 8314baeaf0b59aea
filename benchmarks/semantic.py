"""Semantic matching at scale: start-up and check latency, semantic on and off, in one run.

    python -m benchmarks.semantic                    # 100,000 stored questions
    python -m benchmarks.semantic --stored 20000
    python -m benchmarks.semantic --recall 40000    # the coarse pass against the exact one

A store of `--stored` questions (the PSN corpus padded with generated wordings) is seeded,
and every wording is given a stored vector, as a running exchange would have: random unit
vectors, since encoding 100,000 wordings would take minutes and the timings do not depend
on the numbers (the quality figures are benchmarks.matching's, on real vectors). Printed,
for each mode: how long `Exchange.open` takes (reading the vectors back), and the latency
of one check (`find`) for the PSN queries, whose vectors are computed by the real model as
an officer's new question's would be. The baseline, in the same run: brute-force rapidfuzz
(token_set_ratio over every stored question) on a sample of the queries.

`--recall N` measures instead what the coarse pass of `VectorIndex.nearest` (used past
EXACT_UP_TO vectors) keeps of the exact nearest neighbours, on N real vectors: the PSN
corpus padded to N and encoded by the model (minutes), queried with the PSN queries.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.dataset import load
from benchmarks.load import REPO, percentile, seed_store, settings_for
from benchmarks.matching import brute_force, pad
from knowledge.exchange import Exchange
from knowledge.semantic import DIMENSIONS, VectorIndex, load_embedder
from knowledge.store import Store


def store_random_vectors(db: Path, model: str) -> int:
    store = Store.open(db)
    rng = np.random.default_rng(5)
    try:
        texts = [text for _, text in store.questions.all_wordings()]
        with store.transaction():
            for start in range(0, len(texts), 5_000):
                chunk = texts[start : start + 5_000]
                vectors = rng.standard_normal((len(chunk), DIMENSIONS)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                store.vectors.save(model, dict(zip(chunk, vectors, strict=True)))
        return len(texts)
    finally:
        store.close()


def coarse_recall(size: int) -> None:
    data = load(REPO / "benchmarks" / "data" / "psn")
    originals = [text for _, text in data.corpus]
    texts = originals + pad(originals, size - len(originals), seed=3)
    embedder = load_embedder()
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    print(f"encoded {len(texts):,} wordings in {time.perf_counter() - started:.0f} s")
    index = VectorIndex()
    for key, vector in enumerate(vectors):
        index.add(key, vector)
    kept = same_first = 0
    wanted = 20
    fast_ms: list[float] = []
    exact_ms: list[float] = []
    for query in embedder.encode([q.text for q in data.queries]):
        began = time.perf_counter()
        fast = index.nearest(query, wanted)
        fast_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        exact = index.nearest(query, wanted, exact=True)
        exact_ms.append((time.perf_counter() - began) * 1000)
        kept += len(set(fast) & set(exact))
        same_first += fast[0] == exact[0]
    n = len(data.queries)
    print(
        f"coarse pass at {len(texts):,} vectors: keeps {kept / (n * wanted):.3f} of the exact "
        f"{wanted} nearest, the same nearest for {same_first / n:.3f} of {n} queries; "
        f"{statistics.mean(fast_ms):.2f} ms against {statistics.mean(exact_ms):.2f} ms exact"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=20, help="queries for the brute force")
    parser.add_argument("--recall", type=int, help="measure the coarse pass on N real vectors")
    args = parser.parse_args()
    if args.recall:
        coarse_recall(args.recall)
        return
    data = load(REPO / "benchmarks" / "data" / "psn")
    originals = [text for _, text in data.corpus]
    texts = originals + pad(originals, args.stored - len(originals), seed=3)
    queries = [q.text for q in data.queries]
    model = load_embedder().model_id
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "semantic.db"
        seed_store(db, texts, authorities=60)
        stored = store_random_vectors(db, model)
        print(f"store: {len(texts):,} questions, {stored:,} stored vectors ({model})")
        for mode in ("off", "on"):
            started = time.perf_counter()
            exchange = Exchange.open(settings_for(db, mode))
            opened = time.perf_counter() - started
            try:
                timings = []
                for text in queries:
                    began = time.perf_counter()
                    exchange.matcher.find(text, limit=5)
                    timings.append((time.perf_counter() - began) * 1000)
                label = "semantic" if mode == "on" else "lexical"
                print(
                    f"{label:8}  start-up {opened:5.1f} s   check: mean "
                    f"{statistics.mean(timings):6.2f} ms  p50 {percentile(timings, 50):6.2f} ms  "
                    f"p95 {percentile(timings, 95):6.2f} ms  ({len(timings)} checks)"
                )
            finally:
                exchange.close()
        rank = brute_force(texts)
        timings = []
        for text in queries[: args.sample]:
            began = time.perf_counter()
            rank(text)
            timings.append((time.perf_counter() - began) * 1000)
        print(
            f"baseline  brute-force rapidfuzz token_set_ratio over all {len(texts):,}: mean "
            f"{statistics.mean(timings):6.2f} ms  p95 {percentile(timings, 95):6.2f} ms  "
            f"({len(timings)} checks)"
        )


if __name__ == "__main__":
    main()
