"""Turning a question into the words the matcher compares: cleaned, lower-case, stemmed,
without stop words, with glossary acronyms and their long forms, and thesaurus synonyms,
made one and the same term."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from knowledge.text import clean

_WORD = re.compile(r"[^\W_]+")

_STOP_LIST = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each else
    etc ever few for from further get gets getting got had has have having he her here hers
    him his how i if in into is it its itself just let ll me might more most must my
    myself no nor not now of off on once one only or other ought our ours out over own please
    re s same shall she should so some such t than that the their theirs them then there
    these they this those through to too under until up us ve very was we were what when
    where which while who whom why will with would yes yet you your yours
"""
STOP_WORDS = frozenset(_STOP_LIST.split())
# How many recent wordings a Normaliser remembers.
_RECENT = 4096


@functools.lru_cache(maxsize=65536)  # words repeat: most of a start-up's stems are known
def stem(word: str) -> str:
    """A light English suffix stripper: plural, -ing, -ed, -ation; enough to join word forms."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    elif word.endswith("ation") and len(word) > 7:
        word = word[:-5]
    elif word.endswith(("tion", "sion")) and len(word) > 6:
        word = word[:-3]
    if len(word) > 4 and word[-1] == "e":
        word = word[:-1]
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class Normalised:
    """One wording, ready to compare."""

    text: str  # lower-case words, glossary and thesaurus forms written as their concept
    terms: tuple[str, ...]  # distinct key terms, stemmed; a glossary or thesaurus concept is one
    shown: Mapping[str, str]  # term -> how to show it to a person
    # Terms written as names: in capitals ("CCTV"), or with a capital after the first word.
    names: frozenset[str] = frozenset()


def _words(text: str) -> list[str]:
    return _WORD.findall(clean(text).lower())


class Normaliser:
    """Applies one glossary and one thesaurus, so every form of a concept is the same term.

    The glossary joins an acronym and its long form ("coco" = "code of connection"); the
    thesaurus joins words officers use for the same thing ("councillor" = "member", "elected
    member"). A glossary long form that is also in the thesaurus joins its group, so "CEX",
    "chief exec" and "chief executive" are one term. The longest form wins: "directly
    connected network service provider" is DNSP, not SP.

    Raises ValueError, naming both, if one form is given two different meanings.
    """

    def __init__(
        self, glossary: Mapping[str, str], synonyms: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        group_of: dict[str, str] = {}  # a thesaurus form -> its group's head
        for head, alternatives in (synonyms or {}).items():
            concept = " ".join(_words(head))
            for form in (head, *alternatives):
                self._claim(group_of, " ".join(_words(form)), concept, "thesaurus")
        self._phrases: dict[tuple[str, ...], str] = {}
        self._forms: dict[str, list[str]] = {}  # concept -> every way of writing it
        plurals: list[tuple[tuple[str, ...], str]] = []
        named: set[str] = set()
        for short, long in glossary.items():
            concept = " ".join(_words(long))
            plurals += self._add_forms(group_of.get(concept, concept), [short, long])
            if concept not in group_of:  # a thesaurus group is a common word's, not a name
                named.add(concept)
        for form, concept in group_of.items():
            plurals += self._add_forms(concept, [form])
        # Plurals the light stemmer does not join to a form ("boxes" and "box"), after every
        # written form, so that they never take a form's place or count as a second meaning.
        for key, concept in plurals:
            self._phrases.setdefault(key, concept)
        self._longest = max((len(p) for p in self._phrases), default=1)
        # For each first stem of a form, the longest form it starts: most words start none.
        self._starts: dict[str, int] = {}
        for phrase in self._phrases:
            self._starts[phrase[0]] = max(self._starts.get(phrase[0], 0), len(phrase))
        self._named = frozenset(named)
        # The same wording is often normalised several times in a row (checked, indexed
        # provisionally, then indexed for good by an import), so recent ones are kept.
        self._recent = functools.lru_cache(maxsize=_RECENT)(self._normalise)

    @staticmethod
    def _claim(owners: dict[str, str], form: str, concept: str, where: str) -> None:
        if not form or not concept:
            raise ValueError(f"the {where} entry for {concept!r} has an empty form")
        if owners.setdefault(form, concept) != concept:
            raise ValueError(
                f"{form!r} is in two {where} entries, {owners[form]!r} and {concept!r}; "
                "keep it in one"
            )

    def _add_forms(self, concept: str, forms: Sequence[str]) -> list[tuple[tuple[str, ...], str]]:
        """Register each form as `concept`; returns the plural variants to add last."""
        known = self._forms.setdefault(concept, [concept])
        stems_of = {tuple(stem(w) for w in concept.split()): concept}
        for form in forms:
            words = _words(form)
            if not words:
                raise ValueError(f"the entry for {concept!r} has an empty form")
            if len(words) == 1 and words[0] in STOP_WORDS:
                raise ValueError(
                    f"{words[0]!r} (in the entry for {concept!r}) is a common English word, "
                    "so it would match almost every question; use a longer form"
                )
            stems_of[tuple(stem(w) for w in words)] = " ".join(words)
        plurals = []
        for key, written in stems_of.items():
            owner = self._phrases.setdefault(key, concept)
            if owner != concept:
                raise ValueError(
                    f"{written!r} would mean both {owner!r} and {concept!r}; "
                    "keep it in one glossary or thesaurus entry"
                )
            if written not in known:
                known.append(written)
            last = written.split()[-1]
            ends = ("s", "es") if last.endswith(("s", "x", "z", "ch", "sh")) else ("s",)
            plurals += [
                (variant, concept)
                for end in ends
                if (variant := (*key[:-1], stem(last + end))) != key
            ]
        return plurals

    def __call__(self, raw: str) -> Normalised:
        return self._recent(raw)

    @property
    def named(self) -> frozenset[str]:
        """The glossary's concepts: named things (networks, bodies, roles), each a term that
        stands for its acronym and its long form."""
        return self._named

    def _normalise(self, raw: str) -> Normalised:
        cleaned = clean(raw)
        words = _WORD.findall(cleaned.lower())
        written = _WORD.findall(cleaned)  # as written, case kept, to tell names
        if len(written) != len(words):  # lower-casing split a word ("İ"): no names, then
            written = words
        stems = [stem(w) for w in words]
        text: list[str] = []
        terms: dict[str, None] = {}
        shown: dict[str, str] = {}
        names: set[str] = set()
        starts = self._starts
        i = 0
        while i < len(words):
            longest = starts.get(stems[i], 0)
            for size in range(min(longest, len(words) - i), 0, -1):
                concept = self._phrases.get(tuple(stems[i : i + size]))
                if concept is not None:
                    text.append(concept)
                    terms[concept] = None
                    shown[concept] = concept
                    i += size
                    break
            else:
                word = words[i]
                text.append(word)
                if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
                    terms[stems[i]] = None
                    shown.setdefault(stems[i], word)
                    as_written = written[i]
                    if (len(as_written) > 1 and as_written.isupper()) or (
                        i > 0 and as_written[0].isupper()
                    ):
                        names.add(stems[i])
                i += 1
        return Normalised(
            text=" ".join(text), terms=tuple(terms), shown=shown, names=frozenset(names)
        )

    def forms(self, raw: str) -> list[str]:
        """Every way of writing each glossary or thesaurus concept in `raw`, for search:
        "vpn" gives "virtual private network" and "vpn"; "members" gives "councillor",
        "member", "elected member" …"""
        return [form for t in self(raw).terms for form in self._forms.get(t, ())]
