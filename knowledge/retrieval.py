"""The matcher's first stage: an inverted index from key terms to wordings, ranked BM25-style.

Each term keeps its wordings twice: a set (membership, document frequency, removal) and an
append-only NumPy array of the same keys, so a check adds a term's weight to all of its
wordings in one vectorised step instead of a Python loop per wording (an import checks
thousands of rows in a row; most of a check's time used to be that loop). A removed
wording's key stays in the arrays until its term is compacted, with a length of -1 that
weighs it 0, so it is never returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# BM25 length normalisation.
_K1 = 1.2
_B = 0.75
# Postings walked per check before common terms stop adding new candidates: they only
# re-weight the candidates the rarer terms found.
POSTING_BUDGET = 6000
# With common terms skipped, this many times `wanted` are kept for their re-weighting.
WIDEN = 4

_Keys = npt.NDArray[np.int64]


class _Grow:
    """An append-only array of wording keys (amortised O(1) appends), in ascending order:
    keys are added in ascending order, and a compaction sorts them."""

    __slots__ = ("keys", "size")

    def __init__(self, first: int) -> None:
        self.keys: _Keys = np.empty(4, dtype=np.int64)
        self.keys[0] = first
        self.size = 1

    def append(self, key: int) -> None:
        if self.size == len(self.keys):
            self.keys = np.resize(self.keys, 2 * self.size)
        self.keys[self.size] = key
        self.size += 1

    def view(self) -> _Keys:
        return self.keys[: self.size]

    def reset(self, keys: Iterable[int]) -> None:
        self.keys = np.fromiter(keys, dtype=np.int64)
        self.size = len(self.keys)

    def extend(self, keys: list[int]) -> None:
        if self.size + len(keys) > len(self.keys):
            self.keys = np.resize(self.keys, max(2 * len(self.keys), self.size + len(keys)))
        self.keys[self.size : self.size + len(keys)] = keys
        self.size += len(keys)


class TermIndex:
    """Wordings (numbered by the caller, never reused) by the terms they contain."""

    def __init__(self) -> None:
        self._members: dict[str, set[int]] = {}
        self._arrays: dict[str, _Grow] = {}
        # key -> its number of terms (-1: removed)
        self._lengths: _Keys = np.full(1024, -1, dtype=np.int64)
        self._next = 0  # one past the highest key seen
        self._live = 0
        self._total_terms = 0
        self._longest = 0
        # Inside `bulk`: each term's new keys, put in its array in one step at the end.
        self._pending: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        """How many wordings are indexed."""
        return self._live

    def df(self, term: str) -> int:
        """How many indexed wordings contain `term`."""
        found = self._members.get(term)
        return len(found) if found else 0

    def __contains__(self, term: object) -> bool:
        return term in self._members

    def add(self, key: int, terms: Sequence[str]) -> None:
        """Index wording `key` (higher than any key before it) under its distinct terms."""
        if key >= len(self._lengths):
            grown = np.full(max(2 * len(self._lengths), key + 1), -1, dtype=np.int64)
            grown[: len(self._lengths)] = self._lengths
            self._lengths = grown
        self._lengths[key] = len(terms)
        self._next = max(self._next, key + 1)
        self._live += 1
        self._total_terms += len(terms)
        self._longest = max(self._longest, len(terms))
        pending = self._pending
        for term in terms:
            found = self._members.get(term)
            if found is None:
                self._members[term] = {key}
                self._arrays[term] = _Grow(key)
            else:
                found.add(key)
                if pending is None:
                    self._arrays[term].append(key)
                else:
                    pending.setdefault(term, []).append(key)

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Inside, `add` appends to each term's array once, at the end (start-up adds
        hundreds of thousands of keys); `remove` and `retrieve` must wait until it ends."""
        self._pending = {}
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            for term, keys in pending.items():
                self._arrays[term].extend(keys)

    def remove(self, key: int, terms: Sequence[str]) -> None:
        """Forget wording `key`, indexed under `terms`."""
        self._lengths[key] = -1
        self._live -= 1
        self._total_terms -= len(terms)
        for term in terms:
            found = self._members[term]
            found.discard(key)
            if not found:
                del self._members[term]
                del self._arrays[term]
            elif self._arrays[term].size > 2 * len(found) + 32:
                self._arrays[term].reset(sorted(found))  # mostly dead keys: compact

    def retrieve(self, terms: Sequence[str], idf: dict[str, float], wanted: int) -> Retrieved:
        """The `wanted` best wordings for `terms` by BM25 (tf = 1: questions rarely repeat a
        key word), best first, equal scores in key order; with how much of the query's
        weight each shares (see `Retrieved`).

        Only the postings walked are touched, never an array of every key: the candidates
        are the distinct keys among them, so a check costs the same however many wordings
        have come and gone (an import indexes and forgets thousands)."""
        members = self._members
        present = sorted((t for t in terms if t in members), key=lambda t: len(members[t]))
        if not present or not self._live:
            return Retrieved([], [])
        avg = self._total_terms / self._live
        sizes = np.arange(self._longest + 2)
        factor = (_K1 + 1.0) / (1.0 + _K1 * (1.0 - _B + _B * sizes / avg))
        factor[-1] = 0.0  # a removed wording's length, -1, weighs nothing
        lengths = self._lengths
        walked = 0
        touched: list[_Keys] = []
        weights: list[float] = []
        skipped: list[str] = []
        for term in present:
            if walked and walked + len(members[term]) > POSTING_BUDGET:
                skipped.append(term)
                continue
            walked += len(members[term])
            touched.append(self._arrays[term].view())
            weights.append(idf[term])
        # Every walked posting at once: its term's weight times its wording's length factor,
        # summed per wording in term order (as adding term by term would, to the last bit).
        keys = np.concatenate(touched) if len(touched) > 1 else touched[0]
        weight = np.repeat(weights, [len(found) for found in touched]) * factor[lengths[keys]]
        scores = np.bincount(keys, weights=weight, minlength=self._next)
        found = _distinct(keys, self._next, single=len(touched) == 1)
        found = found[scores[found] != 0]  # removed wordings weigh 0
        pool = _best(found, scores[found], wanted * WIDEN if skipped else wanted)
        weighted = scores[pool]
        pool_factor = factor[lengths[pool]]
        if skipped and len(pool):
            for term in skipped:
                # A term's keys are in ascending order (see `_Grow`), and the pool's are
                # live, so a pool key is in the array exactly when it holds the term.
                holding = self._arrays[term].view()
                at = np.minimum(np.searchsorted(holding, pool), len(holding) - 1)
                weighted += (idf[term] * pool_factor) * (holding[at] == pool)
            order = np.lexsort((pool, -weighted))[:wanted]
            pool, weighted, pool_factor = pool[order], weighted[order], pool_factor[order]
        # Every term of a wording is weighed by the same length factor, so the score over
        # it is the shared weight itself (to rounding: `Retrieved` says how much).
        return Retrieved(pool.tolist(), (weighted / pool_factor).tolist())


@dataclass(frozen=True, slots=True)
class Retrieved:
    """The best wordings for a query, best first, and for each, the summed weight (`idf`)
    of the query's terms it contains: exact but for float rounding, within a relative
    `SHARED_ROUNDING` (a bound built on it must allow that much)."""

    keys: list[int]
    shared: list[float]


SHARED_ROUNDING = 1e-9


def _distinct(keys: _Keys, size: int, *, single: bool) -> _Keys:
    """The distinct keys (all below `size`) of `keys`, the postings of one or more terms
    (`single`: of one, so distinct already), in no particular order, in time proportional
    to their number. Each key's slot in a scratch array is stamped with a position the
    key holds (whichever write wins); exactly one position per key then finds its stamp."""
    if single:
        return keys
    positions = np.arange(len(keys))
    stamp = np.empty(size, dtype=np.int64)
    stamp[keys] = positions
    distinct: _Keys = keys[stamp[keys] == positions]
    return distinct


def idf(df: int, n: int) -> float:
    """BM25's inverse document frequency of a term in `df` of `n` wordings."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _best(keys: _Keys, scores: npt.NDArray[np.float64], wanted: int) -> _Keys:
    """The `wanted` keys of highest score, best first, equal scores in key order."""
    if len(keys) > wanted:
        cut = np.argpartition(-scores, wanted - 1)[:wanted]
        threshold = scores[cut].min()
        # Every key tied with the lowest kept score competes for the last places by key.
        chosen = np.flatnonzero(scores >= threshold)
        keys, scores = keys[chosen], scores[chosen]
    order = np.lexsort((keys, -scores))[:wanted]
    result: _Keys = keys[order]
    return result
