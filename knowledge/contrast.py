"""Telling apart questions that share almost every word but ask different things.

A high lexical score says two wordings use the same words; it cannot see that "Can we
stop using our GCSx email?" asks the opposite of "Can we use our GCSx email?", or that
"…join the PSN before its district councils do?" swaps the parties of "…before its
county councils do?". Sentence embeddings are no help here either: they score such pairs
higher than most true paraphrases. So the matcher asks this module, for every pair it
would call a duplicate, whether the two differ in one of these ways, and if so calls them
only "similar" (offered to the officer, never joined silently):

* a negation on one side only ("not", "never", "without", "can't");
* opposite words, one on each side (keep / close, join / leave, use / stop …), or a word
  on one side that turns the question round on its own ("stop", "cancel");
* the same key terms with two of them swapped (the parties, or their order);
* a different number;
* one named thing for another: a site, service, authority type, place or system
  ("CCTV network" / "schools network", "county" / "district"), where a named thing is a
  glossary concept, a word written with a capital or in capitals, or a word of `KINDS`;
* one course of action for another ("upgrade our firewall" / "replace our firewall"),
  both words of `ACTIONS`.

Two words that merely mean much the same ("handle" / "deal with", "publish" /
"produce") are not a difference, and nor are spelling variants ("conection").

Spelling variants ("conection" / "connection") are not a difference.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

from rapidfuzz import fuzz

from knowledge.normalise import stem

# How alike two wordings must be, once two swapped terms are exchanged back, for the swap
# to be the only difference between them (difflib's ratio of their words).
_SWAP_ALIKE = 0.85

# Words that deny what follows. "t" is what is left of "can't" and "don't".
NEGATIONS = frozenset({"not", "no", "never", "without", "t", "nor", "cannot", "none", "neither"})

# Words that turn a question round on their own ("stop using", "cancel our …").
TURNING = frozenset(stem(w) for w in ("stop", "cease", "cancel", "revoke", "abandon", "withdraw"))

_OPPOSITE_PAIRS = """
    keep/close keep/stop keep/drop keep/lose join/leave use/stop start/stop start/end
    open/close allow/block allow/ban allow/prevent allow/forbid permit/forbid permit/ban
    enable/disable include/exclude increase/reduce increase/decrease increase/cut buy/sell
    buy/lease add/remove accept/reject approve/reject approve/refuse connect/disconnect
    before/after more/less more/fewer upgrade/downgrade install/uninstall install/remove
    public/private internal/external inbound/outbound upload/download maximum/minimum
    first/last earlier/later early/late import/export encrypt/decrypt online/offline
    send/receive mandatory/optional required/optional compulsory/optional above/below
    over/under gain/lose win/lose pass/fail succeed/fail lend/borrow cheaper/dearer
    cheaper/costlier higher/lower rise/fall new/old new/existing own/share enter/leave
    enter/exit incoming/outgoing ingress/egress arrive/leave
"""
OPPOSITES: frozenset[frozenset[str]] = frozenset(
    frozenset(stem(w) for w in pair.split("/")) for pair in _OPPOSITE_PAIRS.split()
)

# Kinds of named thing officers ask about, written in lower case: authority types,
# sites, services and systems. Two questions that differ by one of these differ.
_KIND_WORDS = """
    county district borough city parish town unitary metropolitan regional national
    school academy college university library depot office hospital surgery police fire
    ambulance health nhs care housing highway waste planning revenue benefit payroll
    cctv email telephony phone telephone mobile wireless wifi broadband internet intranet
    extranet website laptop desktop tablet server firewall router switch printer camera
"""
KINDS = frozenset(stem(w) for w in _KIND_WORDS.split())

# Courses of action an authority chooses between: one in place of another asks another
# question ("should we replace…" / "should we upgrade…").
_ACTION_WORDS = """
    install replace upgrade repair host share buy lease rent build outsource procure
    migrate merge split extend renew terminate retain recruit train audit test
"""
ACTIONS = frozenset(stem(w) for w in _ACTION_WORDS.split())


@dataclass(frozen=True, slots=True)
class Wording:
    """What the contrast check needs of one normalised wording."""

    text: str  # lower-case words, concepts written as the concept
    terms: tuple[str, ...]  # distinct key terms in order of first use
    names: Collection[str]  # terms written with a capital, or in capitals


def contrast(a: Wording, b: Wording, named: Collection[str]) -> str | None:
    """Why `a` and `b` ask different things despite their shared words ("one says 'not'",
    "keep / close", …), or None if nothing sets them apart."""
    words_a, words_b = _stems(a.text), _stems(b.text)
    for reason in (
        _negation(words_a, words_b),
        _opposites(words_a, words_b),
        _swapped(a, b),
        _numbers(a.terms, b.terms),
        _substituted(a, b, named),
    ):
        if reason is not None:
            # Say it in the words as written ("leave", not the stem "leav").
            written = {stem(w): w for w in f"{b.text} {a.text}".split()}
            return " ".join(written.get(part, part) for part in reason.split(" "))
    return None


def _stems(text: str) -> list[str]:
    return [stem(word) for word in text.split()]


def _negation(a: Sequence[str], b: Sequence[str]) -> str | None:
    denied_a = sum(w in NEGATIONS for w in a)
    denied_b = sum(w in NEGATIONS for w in b)
    if denied_a != denied_b:
        side = a if denied_a > denied_b else b
        word = next(w for w in side if w in NEGATIONS)
        return f"one says {'not' if word == 't' else word}"
    turning = (set(a) & TURNING) ^ (set(b) & TURNING)
    if turning:
        return f"one says {min(turning)}"
    return None


def _opposites(a: Sequence[str], b: Sequence[str]) -> str | None:
    only_a, only_b = set(a) - set(b), set(b) - set(a)
    for x in sorted(only_a):
        for y in sorted(only_b):
            if frozenset((x, y)) in OPPOSITES:
                return f"{x} / {y}"
    return None


def _swapped(a: Wording, b: Wording) -> str | None:
    """The same key terms with exactly two of them exchanged, and the wordings all but the
    same once they are exchanged back (so "How does the PSN handle QoS?" and "How is QoS
    handled in the PSN?" do not count: the words around them changed too)."""
    if len(a.terms) != len(b.terms) or set(a.terms) != set(b.terms):
        return None
    differ = [i for i, (x, y) in enumerate(zip(a.terms, b.terms, strict=True)) if x != y]
    if len(differ) != 2:
        return None
    x, y = a.terms[differ[0]], a.terms[differ[1]]
    if b.terms[differ[0]] != y or b.terms[differ[1]] != x:
        return None
    units_a, units_b = _units(a.text, a.terms), _units(b.text, b.terms)
    exchanged = [{x: y, y: x}.get(unit, unit) for unit in units_a]
    if SequenceMatcher(None, exchanged, units_b, autojunk=False).ratio() < _SWAP_ALIKE:
        return None
    return f"{x} and {y} swapped"


def _units(text: str, terms: Sequence[str]) -> list[str]:
    """A wording's stemmed words, with each concept of several words as one unit."""
    for concept in terms:
        if " " in concept:
            text = text.replace(concept, concept.replace(" ", "\0"))
    return [unit.replace("\0", " ") if "\0" in unit else stem(unit) for unit in text.split()]


def _numbers(a: Sequence[str], b: Sequence[str]) -> str | None:
    numbers_a = {t for t in a if any(c.isdigit() for c in t)}
    numbers_b = {t for t in b if any(c.isdigit() for c in t)}
    if numbers_a and numbers_b and numbers_a != numbers_b:
        shown_a = min(numbers_a - numbers_b or numbers_a)
        shown_b = min(numbers_b - numbers_a or numbers_b)
        return f"{shown_a} / {shown_b}"
    return None


def _substituted(a: Wording, b: Wording, named: Collection[str]) -> str | None:
    """One named thing, or one course of action, in place of another (not a spelling
    variant of it)."""
    only_a = [t for t in a.terms if t not in b.terms]
    only_b = [t for t in b.terms if t not in a.terms]
    if fuzz.ratio(" ".join(only_a), " ".join(only_b)) >= 75:
        return None  # all one spelling variant ("code of conection" / the glossary's form)

    def is_named(term: str, wording: Wording) -> bool:
        return term in named or term in wording.names or term in KINDS

    for x in only_a:
        for y in only_b:
            if fuzz.ratio(x, y) >= 75 or x in y.split() or y in x.split():
                continue  # a spelling variant, or a word of the other's phrase
            if is_named(x, a) or is_named(y, b) or (x in ACTIONS and y in ACTIONS):
                return f"{x} / {y}"
    return None
