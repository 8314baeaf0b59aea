"""Finding stored questions that mean the same as a new one.

Two stages, so a check stays fast with a whole country's questions stored:

1. Retrieval (`knowledge/retrieval.py`): an in-memory inverted index from key terms
   (stemmed, stop words dropped; glossary acronyms and long forms, and thesaurus synonyms,
   joined) to wordings, scored BM25-style. Rare terms are walked first; very common terms
   only re-weight the candidates the rare ones found.
2. Scoring: the best `candidates` wordings get one 0-100 score that blends an IDF-weighted
   term cosine, character trigram overlap and two rapidfuzz scorers. `token_set_ratio` is
   damped by term coverage, since alone it calls any one-word subset a perfect match.

The index updates in place on `add`/`remove`; nothing is rebuilt per question.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz

from knowledge import retrieval
from knowledge.config import MatchingSettings
from knowledge.contrast import Wording, contrast
from knowledge.normalise import Normalised, Normaliser
from knowledge.semantic import Vector, VectorCache, VectorIndex

Verdict = Literal["duplicate", "similar", "none"]
# The scale a score is on: lexical alone, or blended with meaning (other thresholds).
Scale = Literal["lexical", "semantic"]

# Weights of the blended score (they sum to 1): a 0.1-step grid search over recall@1 and
# recall@5 on benchmarks/data/psn and qqp-tech-dev, using `Matcher.features`.
WEIGHTS = {"cosine": 0.2, "chargram": 0.3, "sort": 0.3, "set": 0.2}
# How alike (rapidfuzz ratio, 0-100) two normalised wordings must be to count as the same
# wording: lower case, no punctuation, glossary forms as one, so what is left to differ is
# spelling ("conection", "acreditation") and the odd small word.
SAME_WORDING = 92.0


@dataclass(frozen=True, slots=True)
class Match:
    """A stored question that may be the same as the one asked."""

    question_id: int
    score: float  # 0..100, higher = more alike; comparable against the thresholds
    verdict: Verdict
    shared_words: tuple[str, ...]  # key words both questions use, after glossary expansion
    # Why a pair scoring as a duplicate is only "similar": what sets them apart
    # ("one says 'not'", "cctv / school"); see knowledge/contrast.py.
    differs: str | None = None

    def explain(self) -> str:
        """What the officer is told about this match, e.g. "91% alike — both mention: qos"."""
        alike = f"{round(self.score)}% alike"
        if not self.shared_words:
            return f"{alike} — no key words in common"
        said = f"{alike} — both mention: {', '.join(self.shared_words)}"
        return f"{said} (but {self.differs})" if self.differs else said


@dataclass(frozen=True, slots=True)
class Likely:
    """A stored question that is likely the same as the one asked (`Matcher.likely`)."""

    match: Match
    # The same wording in all but case, punctuation, spelling and glossary forms: safe to
    # join without a person looking (an import does); otherwise a person decides.
    same_wording: bool


def _tie(owner: int) -> tuple[bool, int]:
    """How equal scores are ordered: the lower question id first, and a wording indexed
    provisionally by an import (id -1, -2 … for its rows, in order) after every question,
    as the question it becomes will be (so a tie is broken alike before and after it is
    written)."""
    return owner < 0, abs(owner)


def _trigrams(text: str) -> tuple[str, ...]:
    """The distinct character trigrams of `text`, in the order they occur: the scores summed
    over them then come out the same, to the last bit, in every process (a set's order, and
    so a float sum's, would change with each process's string hashing)."""
    padded = f" {text} "
    return tuple(dict.fromkeys([padded[i : i + 3] for i in range(len(padded) - 2)]))


class Matcher:
    """An index of stored questions (each with one or more wordings) that answers `find`."""

    def __init__(self, settings: MatchingSettings, semantic: VectorCache | None = None) -> None:
        self._settings = settings
        self.normalise = Normaliser(settings.glossary, settings.synonyms)
        # The meaning-aware layer (knowledge/semantic.py), when on: each wording's vector,
        # the nearest of which join the lexical candidates and whose cosine is blended in.
        self._semantic = semantic
        self._vectors = VectorIndex() if semantic is not None else None
        # Which score scale the thresholds (and the scores recorded for calibration) are on.
        self.scale: Scale = "lexical" if semantic is None else "semantic"
        prefix = "" if semantic is None else "semantic_"
        self.duplicate_threshold: float = getattr(settings, f"{prefix}duplicate_threshold")
        self.similar_threshold: float = getattr(settings, f"{prefix}similar_threshold")
        self.related_threshold: float = getattr(settings, f"{prefix}related_threshold")
        self._index = retrieval.TermIndex()
        self._next_key = 0
        self._terms: dict[int, tuple[str, ...]] = {}  # wording -> its distinct terms
        self._texts: dict[int, str] = {}  # wording -> normalised text
        self._names: dict[int, frozenset[str]] = {}  # wording -> its terms written as names
        self._owner: dict[int, int] = {}  # wording -> question id
        self._wordings: dict[int, list[int]] = {}  # question id -> its wordings
        self._sources: dict[int, bytes] = {}  # question id -> digest of its `replace` texts
        # character trigram -> wordings containing it (a Counter: counted in C at start-up)
        self._gram_df: Counter[str] = Counter()
        # Wordings set aside (`set_aside`), by their text, for a question given that text to
        # take over (`replace`): an import's rows, indexed while deciding them, are then
        # not indexed twice once written.
        self._spare: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self._wordings)

    @property
    def settings(self) -> MatchingSettings:
        return self._settings

    @property
    def semantic(self) -> VectorCache | None:
        return self._semantic

    def emptied(self) -> Matcher:
        """A new, empty matcher like this one (for a rebuild)."""
        return Matcher(self._settings, self._semantic)

    @property
    def mode(self) -> str:
        """Which matcher this is, for logs and `db check`: lexical, or semantic and its model."""
        if self._semantic is None:
            return "lexical (rapidfuzz and BM25)"
        return f"semantic ({self._semantic.embedder.model_id}, blended with lexical)"

    def prepare(self, texts: Sequence[str]) -> None:
        """Compute, in one batch, what checking or indexing `texts` will need (their
        vectors, when semantic matching is on), so a bulk check does not do it one by one."""
        if self._semantic is not None:
            self._semantic.get(texts)

    def _vectors_of(self, texts: Sequence[str]) -> Sequence[Vector | None]:
        if self._semantic is None:
            return [None] * len(texts)
        return list(self._semantic.get(texts))
    def __contains__(self, question_id: object) -> bool:
        return question_id in self._wordings

    def add(self, question_id: int, text: str) -> None:
        """Index one wording of a question; another wording of a known id adds to it."""
        self._sources.pop(question_id, None)
        self._add(question_id, self.normalise(text), self._vectors_of([text])[0])

    def replace(self, question_id: int, texts: Sequence[str]) -> None:
        """Make `texts` the wordings of a question (none: forget it). Nothing is done if
        they are the ones it was last given, which is most of a re-index after a change
        that left the wording alone (a status, an import completing)."""
        if not texts:
            self.remove(question_id)
            return
        framed = "".join(f"{len(text)}:{text}" for text in texts)  # unambiguous
        digest = hashlib.blake2b(framed.encode(), digest_size=16).digest()
        if self._sources.get(question_id) == digest:
            return
        self.remove(question_id)
        fresh = [text for text in texts if not self._take_spare(text, question_id)]
        for text, vector in zip(fresh, self._vectors_of(fresh), strict=True):
            self._add(question_id, self.normalise(text), vector)
        self._sources[question_id] = digest

    def set_aside(self, question_id: int, text: str) -> None:
        """Keep the wording of `question_id`, indexed from `text` alone (an import row's,
        under a provisional id), for the next `replace` that gives a question that same
        text, which takes it over as it stands instead of indexing it afresh. Until then
        it is still found under `question_id`: `drop_spares` must come before anything is
        matched again."""
        if self._wordings.get(question_id):
            self._spare.setdefault(text, []).extend(self._wordings[question_id])
        else:
            self.remove(question_id)  # no terms: nothing indexed to keep

    def drop_spares(self) -> None:
        """Forget the wordings set aside that no question took over."""
        spare, self._spare = self._spare, {}
        for keys in spare.values():
            for key in keys:
                if key in self._owner:  # not forgotten meanwhile
                    self.remove(self._owner[key])

    @property
    def has_spares(self) -> bool:
        return bool(self._spare)

    def _take_spare(self, text: str, question_id: int) -> bool:
        """Give `question_id` a wording set aside with `text`, if there is one."""
        keys = self._spare.get(text)
        while keys:
            key = keys.pop(0)
            if not keys:
                del self._spare[text]
            provisional = self._owner.get(key)
            if provisional is None:
                continue  # forgotten meanwhile (keys are never reused)
            self._sources.pop(provisional, None)
            held = self._wordings[provisional]
            held.remove(key)
            if not held:
                del self._wordings[provisional]
            self._owner[key] = question_id
            self._wordings.setdefault(question_id, []).append(key)
            return True
        return False

    def add_many(
        self, items: Iterable[tuple[int, str]], progress: Callable[[int], None] | None = None
    ) -> None:
        """Index many wordings at once (start-up); `progress` hears how many are done after
        each chunk."""
        chunk: list[tuple[int, str]] = []
        done = 0
        with self._index.bulk():
            for item in items:
                chunk.append(item)
                if len(chunk) == 1000:
                    self._add_chunk(chunk)
                    done += len(chunk)
                    chunk = []
                    if progress is not None:
                        progress(done)
            self._add_chunk(chunk)
        if progress is not None:
            progress(done + len(chunk))

    def _add_chunk(self, chunk: list[tuple[int, str]]) -> None:
        normalise = self.normalise
        vectors = self._vectors_of([text for _, text in chunk])
        for (question_id, text), vector in zip(chunk, vectors, strict=True):
            self._sources.pop(question_id, None)
            self._add(question_id, normalise(text), vector)

    def _add(self, question_id: int, wording: Normalised, vector: Vector | None = None) -> None:
        if not wording.terms:
            # Nothing to retrieve it by; still counts as stored so `in` is honest.
            self._wordings.setdefault(question_id, [])
            return
        key = self._next_key
        self._next_key += 1
        self._index.add(key, wording.terms)
        self._gram_df.update(_trigrams(wording.text))
        self._terms[key] = wording.terms
        self._texts[key] = wording.text
        if wording.names:
            self._names[key] = wording.names
        self._owner[key] = question_id
        self._wordings.setdefault(question_id, []).append(key)
        if self._vectors is not None and vector is not None:
            self._vectors.add(key, vector)

    def remove(self, question_id: int) -> None:
        """Forget a question and every wording of it (no error if it is not indexed)."""
        self._sources.pop(question_id, None)
        for key in self._wordings.pop(question_id, []):
            terms = self._terms.pop(key)
            text = self._texts.pop(key)
            self._names.pop(key, None)
            del self._owner[key]
            self._index.remove(key, terms)
            if self._vectors is not None:
                self._vectors.remove(key)
            gram_df = self._gram_df
            for gram in _trigrams(text):
                left = gram_df[gram] - 1
                if left:
                    gram_df[gram] = left
                else:
                    del gram_df[gram]

    def find(self, text: str, limit: int = 5) -> list[Match]:
        """Stored questions most like `text`, best first, one per question, at most `limit`."""
        query = self.normalise(text)
        if not query.terms or not self._terms or limit <= 0:
            return []
        idf = self._idf_table(query.terms)
        _, keys, meaning = self._candidates(text, query, idf)
        scoring = _Scoring(self, query, idf)
        best: dict[int, tuple[float, int]] = {}
        for key in keys:
            score = self._blend(scoring.features(key)["score"], meaning.get(key))
            owner = self._owner[key]
            if owner not in best or score > best[owner][0]:
                best[owner] = (score, key)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], _tie(item[0])))[:limit]
        return [self._match(query, owner, score, key) for owner, (score, key) in ranked]

    def find_duplicate(self, text: str) -> Match | None:
        """The stored question `text` duplicates, if any: the same verdict as the best of
        `find(text, limit=1)` when that is "duplicate", found faster for bulk checks (an
        import) by skipping the costly character score wherever even a perfect one could
        not lift a candidate to the duplicate threshold."""
        likely = self.likely(text)
        return likely.match if likely and likely.match.verdict == "duplicate" else None

    def likely(self, text: str) -> Likely | None:
        """The best stored question scoring at least the duplicate threshold, if any (as
        `find(text, limit=1)` would rank it, but faster), and whether its wording is the
        same as `text` in all but case, punctuation, spelling and glossary forms. Its
        verdict is "similar" where a contrast sets the two apart."""
        query = self.normalise(text)
        if not query.terms or not self._terms:
            return None
        idf = self._idf_table(query.terms)
        scoring = _Scoring(self, query, idf)
        threshold = self.duplicate_threshold
        best: tuple[float, tuple[bool, int], int] | None = None  # (score, tie, key): as find()
        retrieved, keys, meaning = self._candidates(text, query, idf)
        # First, from retrieval's own sums, the candidates that share too little of the
        # query's weight to reach the mark, in one vectorised step: most of them.
        reach = dict(zip(retrieved.keys, scoring.reach_from_shared(retrieved.shared), strict=True))
        for key in keys:
            # The lexical score the candidate would need for its blend to reach the mark.
            needed = self._lexical_needed(threshold, meaning.get(key)) - 1e-6  # rounding
            if reach.get(key, math.inf) < needed or not scoring.could_reach(key, needed):
                continue
            score = self._blend(scoring.features(key)["score"], meaning.get(key))
            owner = self._owner[key]
            tie = _tie(owner)
            if score >= threshold and (
                best is None or score > best[0] or (score == best[0] and tie < best[1])
            ):
                best = (score, tie, key)
        if best is None:
            return None
        score, _, key = best
        match = self._match(query, self._owner[key], score, key)
        same = (
            match.verdict == "duplicate"
            and fuzz.ratio(query.text, self._texts[key]) >= SAME_WORDING
        )
        return Likely(match, same)

    # -- retrieval -------------------------------------------------------------------------

    def _idf(self, df: int) -> float:
        return retrieval.idf(df, len(self._terms))

    def _idf_table(self, terms: Iterable[str]) -> dict[str, float]:
        index = self._index
        return {t: self._idf(index.df(t)) if t in index else 0.0 for t in terms}

    def _candidates(
        self, text: str, query: Normalised, idf: dict[str, float]
    ) -> tuple[retrieval.Retrieved, list[int], dict[int, float]]:
        """What retrieval found; the wordings to score (the lexical best, and with semantic
        matching on, the nearest by meaning too); and each one's cosine with `text`
        (semantic only)."""
        retrieved = self._index.retrieve(query.terms, idf, self._settings.candidates)
        if self._semantic is None or self._vectors is None:
            return retrieved, retrieved.keys, {}
        vector = self._semantic.get([text])[0]
        near = self._vectors.nearest(vector, self._settings.semantic_candidates)
        keys = list(dict.fromkeys([*retrieved.keys, *(k for k in near if k in self._terms)]))
        return retrieved, keys, self._vectors.cosine(vector, keys)

    def _blend(self, lexical: float, cosine: float | None) -> float:
        """The score compared with the thresholds: lexical alone, or blended with meaning."""
        if self._semantic is None:
            return lexical
        weight = self._settings.semantic_weight
        return (1.0 - weight) * lexical + weight * 100.0 * max(cosine or 0.0, 0.0)

    def _lexical_needed(self, mark: float, cosine: float | None) -> float:
        """The lexical score at which `_blend` reaches `mark`."""
        if self._semantic is None:
            return mark
        weight = self._settings.semantic_weight
        if weight >= 1.0:
            return 0.0 if 100.0 * max(cosine or 0.0, 0.0) >= mark else 101.0
        return (mark - weight * 100.0 * max(cosine or 0.0, 0.0)) / (1.0 - weight)

    # -- scoring ---------------------------------------------------------------------------

    def features(self, query: Normalised, idf: dict[str, float], key: int) -> dict[str, float]:
        """Every signal for one query/wording pair (the benchmarks tune the blend with these)."""
        return _Scoring(self, query, idf).features(key)

    def _match(self, query: Normalised, owner: int, score: float, key: int) -> Match:
        differs: str | None = None
        if score >= self.duplicate_threshold:
            verdict: Verdict = "duplicate"
            differs = self.contrast(query, key)
            if differs is not None:
                verdict = "similar"  # the same words, a different question
        elif score >= self.similar_threshold:
            verdict = "similar"
        else:
            verdict = "none"
        doc = set(self._terms[key])
        shared = tuple(query.shown[t] for t in query.terms if t in doc)
        return Match(owner, round(score, 2), verdict, shared, differs)

    def contrast(self, query: Normalised, key: int) -> str | None:
        """What sets wording `key` apart from `query` despite their shared words, if
        anything (knowledge/contrast.py)."""
        stored = Wording(self._texts[key], self._terms[key], self._names.get(key, frozenset()))
        asked = Wording(query.text, query.terms, query.names)
        return contrast(asked, stored, self.normalise.named)


class _Scoring:
    """One query's side of the scoring, with IDF weights cached across its candidates."""

    def __init__(self, matcher: Matcher, query: Normalised, idf: dict[str, float]) -> None:
        self._matcher = matcher
        self._query = query
        self._idf = idf
        self._term_weight = dict(idf)
        self._query_terms = frozenset(query.terms)
        self._q_norm = sum(w * w for w in idf.values())
        self._q_idf = sum(idf.values())
        self._heaviest = max(idf.values(), default=0.0)
        self._n = len(matcher._terms) + 1  # smoothed IDF, as scikit-learn's TfidfVectorizer
        self._gram_weight: dict[str, float] = {}
        # The query's weighted trigrams: made when a candidate first needs them (a bulk
        # check rules most candidates out before that).
        self._q_grams: dict[str, float] | None = None
        self._q_gram_norm = 0.0

    def reach_from_shared(self, shared: Sequence[float]) -> list[float]:
        """For wordings holding `shared` summed weight of the query's terms each (see
        `retrieval.Retrieved`), the most each could score: as the first step of
        `could_reach`, whose bound this never undercuts, but with no wording's terms looked
        at. The coverage is at most the shared part of the query's weight; the shared terms'
        squared weights sum to at most the query's heaviest weight times their sum (and to
        at most the query's own), which bounds the cosine."""
        q_norm, q_idf = self._q_norm, self._q_idf
        if not shared or not q_norm or not q_idf:
            return [math.inf] * len(shared)
        weight = np.asarray(shared) * (1.0 + retrieval.SHARED_ROUNDING)
        squares = np.minimum(q_norm, self._heaviest * weight)
        reach = 100.0 * (
            WEIGHTS["cosine"] * np.sqrt(squares / q_norm)
            + WEIGHTS["chargram"]
            + WEIGHTS["sort"]
            + WEIGHTS["set"] * weight / q_idf
        )
        bounds: list[float] = reach.tolist()
        return bounds

    def could_reach(self, key: int, score: float) -> bool:
        """Whether `key` could score `score` or more. The signals are computed cheapest
        first, each taken as perfect until it is known, and the check stops as soon as even
        that could not reach `score` (the character trigrams, the costliest, never are)."""
        # First from the shared terms alone: the cosine is at most sqrt(shared / query) in
        # squared weights (the wording's own norm is at least its shared part), and the
        # coverage at most the share of the query's weight.
        idf = self._idf
        doc_terms = self._matcher._terms[key]
        query_terms = self._query_terms
        shared = [idf[t] for t in doc_terms if t in query_terms]
        q_norm, q_idf = self._q_norm, self._q_idf
        reach = 100.0 * (
            WEIGHTS["cosine"] * (math.sqrt(sum([w * w for w in shared]) / q_norm) if q_norm else 0)
            + WEIGHTS["chargram"]
            + WEIGHTS["sort"]
            + WEIGHTS["set"] * (sum(shared) / q_idf if q_idf else 0.0)
        )
        if reach < score:
            return False
        cosine, coverage = self._term_signals(key)
        reach = 100.0 * (
            WEIGHTS["cosine"] * cosine
            + WEIGHTS["chargram"]
            + WEIGHTS["sort"]
            + WEIGHTS["set"] * coverage
        )
        if reach < score:
            return False
        doc_text = self._matcher._texts[key]
        sort = fuzz.token_sort_ratio(self._query.text, doc_text) / 100.0
        reach -= 100.0 * WEIGHTS["sort"] * (1.0 - sort)
        if reach < score:
            return False
        token_set = fuzz.token_set_ratio(self._query.text, doc_text) / 100.0
        return reach - 100.0 * WEIGHTS["set"] * coverage * (1.0 - token_set) >= score

    def _cheap(self, key: int) -> tuple[float, float, float, float]:
        """(cosine, coverage, token sort ratio, token set ratio) for one wording."""
        cosine, coverage = self._term_signals(key)
        doc_text = self._matcher._texts[key]
        query_text = self._query.text
        sort = fuzz.token_sort_ratio(query_text, doc_text) / 100.0
        token_set = fuzz.token_set_ratio(query_text, doc_text) / 100.0
        return cosine, coverage, sort, token_set

    def _term_signals(self, key: int) -> tuple[float, float]:
        """(IDF-weighted term cosine, term coverage) for one wording."""
        matcher = self._matcher
        term_weight = self._term_weight
        terms = matcher._terms[key]
        try:
            weights = [term_weight[term] for term in terms]
        except KeyError:  # terms the query lacks, first met: weighed as Matcher._idf does
            df, stored = matcher._index.df, len(matcher._terms)
            for term in terms:
                if term not in term_weight:
                    term_weight[term] = retrieval.idf(df(term), stored)
            weights = [term_weight[term] for term in terms]
        doc_weights = dict(zip(terms, weights, strict=True))
        # A shared term weighs the same in both (the query's weights seed term_weight).
        shared = [doc_weights[t] for t in self._query.terms if t in doc_weights]
        d_norm = sum([w * w for w in weights])
        dot = sum([w * w for w in shared])
        cosine = dot / math.sqrt(self._q_norm * d_norm) if self._q_norm and d_norm else 0.0
        d_idf = sum(weights)
        shared_idf = sum(shared)
        coverage = min(
            shared_idf / self._q_idf if self._q_idf else 0.0,
            shared_idf / d_idf if d_idf else 0.0,
        )
        return cosine, coverage

    def features(self, key: int) -> dict[str, float]:
        cosine, coverage, sort, token_set = self._cheap(key)
        chargram = self._chargram(self._matcher._texts[key])
        score = 100.0 * (
            WEIGHTS["cosine"] * cosine
            + WEIGHTS["chargram"] * chargram
            + WEIGHTS["sort"] * sort
            + WEIGHTS["set"] * token_set * coverage
        )
        return {
            "cosine": cosine,
            "coverage": coverage,
            "chargram": chargram,
            "sort": sort,
            "set": token_set,
            "score": score,
        }

    def _chargram(self, doc_text: str) -> float:
        """Cosine of IDF-weighted character trigrams (catches typos and word forms)."""
        gram_df = self._matcher._gram_df
        cache = self._gram_weight
        q_grams = self._q_grams
        if q_grams is None:
            n = self._n
            q_grams = self._q_grams = {
                g: math.log(n / (gram_df.get(g, 0) + 1)) + 1.0 for g in _trigrams(self._query.text)
            }
            self._q_gram_norm = math.sqrt(sum(w * w for w in q_grams.values()))
        dot = norm = 0.0
        for gram in _trigrams(doc_text):
            weight = cache.get(gram)
            if weight is None:
                weight = cache[gram] = math.log(self._n / (gram_df[gram] + 1)) + 1.0
            norm += weight * weight
            other = q_grams.get(gram)
            if other is not None:
                dot += weight * other
        if not norm or not self._q_gram_norm:
            return 0.0
        return dot / (math.sqrt(norm) * self._q_gram_norm)
