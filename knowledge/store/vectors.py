"""Wording vectors (knowledge/semantic.py): computed once, stored with the questions.

Keyed to the model that made them and a digest of the wording's text, so the same words
share one vector wherever they appear, and a new model finds none of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from knowledge.store.database import Database

Vector = npt.NDArray[np.float32]
_DIGESTS_PER_QUERY = 500


def digest(text: str) -> bytes:
    """The key of a wording's vector: blake2b of its text, 16 bytes."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class WordingVectors:
    """Read and write stored wording vectors (float16 on disk, float32 in memory)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, model: str, texts: Iterable[str]) -> dict[str, Vector]:
        """The stored vectors of those `texts` that have one."""
        by_digest = {digest(text): text for text in texts}
        keys = list(by_digest)
        found: dict[str, Vector] = {}
        for start in range(0, len(keys), _DIGESTS_PER_QUERY):
            chunk = keys[start : start + _DIGESTS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            sql = "SELECT digest, vector FROM wording_vectors WHERE model = ? AND digest IN"
            for row in self._db.rows(f"{sql} ({marks})", [model, *chunk]):
                vector = np.frombuffer(row["vector"], dtype=np.float16).astype(np.float32)
                found[by_digest[row["digest"]]] = vector
        return found

    def missing(self, model: str, texts: Iterable[str]) -> list[str]:
        """Those of `texts` with no stored vector."""
        by_digest = {digest(text): text for text in texts}
        keys = list(by_digest)
        for start in range(0, len(keys), _DIGESTS_PER_QUERY):
            chunk = keys[start : start + _DIGESTS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            sql = "SELECT digest FROM wording_vectors WHERE model = ? AND digest IN"
            for row in self._db.rows(f"{sql} ({marks})", [model, *chunk]):
                by_digest.pop(row["digest"], None)
        return list(by_digest.values())

    def save(self, model: str, vectors: Mapping[str, Vector]) -> None:
        for text, vector in vectors.items():
            self._db.write(
                "INSERT OR IGNORE INTO wording_vectors (model, digest, vector) VALUES (?, ?, ?)",
                [model, digest(text), np.asarray(vector, dtype=np.float16).tobytes()],
            )

    def count(self, model: str) -> int:
        row = self._db.one("SELECT COUNT(*) AS n FROM wording_vectors WHERE model = ?", [model])
        return int(row["n"]) if row else 0

    def remove_other_models(self, model: str) -> int:
        """Forget vectors made by any other model (after the model changed)."""
        return self._db.write("DELETE FROM wording_vectors WHERE model != ?", [model])
