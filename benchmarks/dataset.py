"""Loading a labelled duplicate-question set: corpus.jsonl and queries.jsonl."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Query:
    id: str
    text: str
    relevant: frozenset[str]
    hard_negatives: frozenset[str]


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    corpus: list[tuple[str, str]]  # (id, text)
    queries: list[Query]


def load(path: Path, queries: Path | None = None) -> Dataset:
    """Read `path`/corpus.jsonl and `queries` (default `path`/queries.jsonl)."""
    queries_file = queries or path / "queries.jsonl"
    corpus = [(str(row["id"]), str(row["text"])) for row in _rows(path / "corpus.jsonl")]
    queries_ = [
        Query(
            id=str(row["id"]),
            text=str(row["text"]),
            relevant=frozenset(str(i) for i in row.get("relevant_ids", [])),
            hard_negatives=frozenset(str(i) for i in row.get("hard_negative_ids", [])),
        )
        for row in _rows(queries_file)
    ]
    name = path.name if queries is None else f"{path.name} ({queries_file.name})"
    return Dataset(name, corpus, queries_)


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]
