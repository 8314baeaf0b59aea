"""Turning a question into the words the matcher compares: cleaned, lower-case, stemmed,
without stop words, with glossary acronyms and their long forms made one and the same term."""

from __future__ import annotations

import re
from collections.abc import Mapping
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

    text: str  # lower-case words with acronyms written out, for character-level scorers
    terms: tuple[str, ...]  # distinct key terms, stemmed; a glossary entry is one term
    shown: dict[str, str]  # term -> how to show it to a person


class Normaliser:
    """Applies one glossary: acronym and long form become the same term, either way round."""

    def __init__(self, glossary: Mapping[str, str]) -> None:
        self._expand: dict[str, str] = {}
        self._phrases: dict[tuple[str, ...], str] = {}
        self._short_forms: dict[str, list[str]] = {}
        for short, long in glossary.items():
            long_words = _WORD.findall(clean(long).lower())
            short_words = _WORD.findall(clean(short).lower())
            if not long_words or not short_words:
                continue
            concept = " ".join(long_words)
            self._short_forms.setdefault(concept, []).append(" ".join(short_words))
            if len(short_words) == 1:
                self._expand[short_words[0]] = concept
            for words in (long_words, short_words):
                self._phrases[tuple(stem(w) for w in words)] = concept
        self._longest = max((len(p) for p in self._phrases), default=1)

    def __call__(self, raw: str) -> Normalised:
        words = _WORD.findall(clean(raw).lower())
        text = " ".join(self._expand.get(w, w) for w in words)
        stems = [stem(w) for w in words]
        terms: dict[str, None] = {}
        shown: dict[str, str] = {}
        i = 0
        while i < len(words):
            for size in range(min(self._longest, len(words) - i), 0, -1):
                concept = self._phrases.get(tuple(stems[i : i + size]))
                if concept is not None:
                    terms[concept] = None
                    shown[concept] = concept
                    i += size
                    break
            else:
                word = words[i]
                if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
                    terms[stems[i]] = None
                    shown.setdefault(stems[i], word)
                i += 1
        return Normalised(text=text, terms=tuple(terms), shown=shown)

    def glossary_forms(self, raw: str) -> list[str]:
        """Both forms of every glossary term in `raw` (for search: "vpn" gives
        "virtual private network" and "vpn")."""
        found = [t for t in self(raw).terms if t in self._short_forms]
        return [form for concept in found for form in (concept, *self._short_forms[concept])]
