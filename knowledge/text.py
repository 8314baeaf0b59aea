"""Cleaning and checking what people type, before anything is stored or matched."""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from knowledge.errors import InvalidInput

# Zero-width and bidirectional controls: invisible, and able to make text read differently.
_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
)
# Control characters (Unicode category C) an ASCII text can hold, bar tab and newline.
_ASCII_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HAS_WORD = re.compile(r"[^\W_]{2,}")
_HAS_LETTER = re.compile(r"[^\W_]")
_QUESTION_REF = re.compile(r"^\s*#?\s*q?\s*-?\s*(\d{1,9})\s*$", re.IGNORECASE)
# Dates people give must fall in these years, so that any offset or timezone converts to
# UTC, and compares, without leaving datetime's years 1 to 9999.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def clean(text: str) -> str:
    """NFKC-normalise, drop invisible and control characters, tidy white space."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii():  # most text: one regex pass rather than a look-up per character
        text = _ASCII_CONTROLS.sub("", text)
    else:
        text = "".join(
            ch for ch in text if ch == "\n" or ch == "\t" or unicodedata.category(ch)[0] != "C"
        )
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def question_text(raw: str, *, min_chars: int, max_chars: int) -> str:
    """The cleaned question, or InvalidInput saying kindly what is wrong with it."""
    if not isinstance(raw, str):
        raise InvalidInput("Please type your question as text.")
    if "\x00" in raw:
        raise InvalidInput(
            "Your question contains a null character, which usually means it was pasted "
            "from a binary file. Please retype it as plain text."
        )
    text = clean(raw)
    if not text:
        raise InvalidInput("Your question is empty. Please type the question you want answered.")
    if len(text) > max_chars:
        raise InvalidInput(
            f"Your question is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Please shorten it, or split it into separate questions."
        )
    if not _HAS_LETTER.search(text):
        raise InvalidInput(
            "Your question has no words we can read (only symbols or emoji). "
            "Please write it out in words."
        )
    if len(text) < min_chars or not _HAS_WORD.search(text):
        raise InvalidInput(
            f"Your question is very short ({len(text)} characters). Please write it as a "
            f"full question of at least {min_chars} characters, so others can recognise it."
        )
    return text


def answer_text(raw: str, *, max_chars: int) -> str:
    """The cleaned answer body, or InvalidInput."""
    if "\x00" in raw:
        raise InvalidInput("The answer contains a null character; please retype it as text.")
    text = clean(raw)
    if not _HAS_LETTER.search(text):
        raise InvalidInput("The answer is empty. Please write the answer text.")
    if len(text) > max_chars:
        raise InvalidInput(
            f"The answer is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Link to a longer document instead."
        )
    return text


# What may stand between the words of a marking: "OFFICIAL-SENSITIVE", "OFFICIAL SENSITIVE",
# "OFFICIAL – SENSITIVE", "official_sensitive".
_MARKING_GAP = r"[\s\-_\u2010-\u2015/]*"
# A marking is carried as a label: where a line starts (after bullets or a "Classification:"),
# ending the line or followed by ":", a dash, "/", "," or "|"; in brackets anywhere; or
# after a "Classification:" or "Protective marking:" anywhere.
_MARK_LABEL = r"(?i:(?:security\s+)?classification|protective\s+marking|marking)\s*[:\-\u2013]\s*"
_MARK_LINE_START = rf"(?:^|\n)[ \t>*#_\-\u2022]*(?:{_MARK_LABEL})?[\[(]?[ \t]*"
_MARK_END = r"[ \t]*[\])]?[ \t]*(?:$|\n|[:/,|\-\u2013\u2014])"


@lru_cache(maxsize=8)
def _marking_pattern(markings: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = []
    for marking in markings:
        words = re.findall(r"[^\W_]+", marking)
        if len(words) > 1:  # any case, any dash or space between the words
            alternatives.append("(?i:" + _MARKING_GAP.join(re.escape(w) for w in words) + ")")
        elif words:  # one word: only in capitals, as markings are written
            alternatives.append(re.escape(words[0].upper()))
    marking = "|".join(alternatives) or "(?!x)x"
    # After "Classification:", a marking is meant whatever its case.
    named = "|".join(
        _MARKING_GAP.join(re.escape(w) for w in re.findall(r"[^\W_]+", m)) for m in markings
    )
    return re.compile(
        rf"{_MARK_LINE_START}(?P<marking>{marking}){_MARK_END}"
        rf"|[\[(][ \t]*(?P<bracketed>{marking})[ \t]*[\])]"
        rf"|{_MARK_LABEL}(?P<labelled>(?i:{named or '(?!x)x'}))(?![^\W_])"
    )


def protective_marking(text: str, markings: tuple[str, ...]) -> str | None:
    """The protective marking `text` carries, if any, as it is written there.

    A text carries a marking when the marking stands as a label — at the head of a line (or
    as a line of its own, as in a header or footer), in brackets, or after "Classification:"
    — not when a sentence speaks of it: "OFFICIAL-SENSITIVE: our firewall rules" is marked,
    "Can we send RESTRICTED data over the PSN?" is a question about handling such data. A
    marking of several words counts in any case and with any dash or space between its
    words; a single word (SECRET, PROTECT) only in capitals."""
    found = _marking_pattern(markings).search(text)
    if found is None:
        return None
    return found.group("marking") or found.group("bracketed") or found.group("labelled")


def refuse_marked(text: str, markings: tuple[str, ...], where_instead: str, what: str) -> None:
    """InvalidInput, saying where such text goes instead, if `text` carries a marking."""
    marking = protective_marking(text, markings)
    if marking is not None:
        raise InvalidInput(
            f"This {what} carries the protective marking {marking.upper()!r}, so it cannot "
            f"go on the exchange, and nothing of it was kept. {where_instead}"
        )


# Characters a web link never holds as typed: they end a link early in Markdown and HTML.
_NOT_IN_LINKS = {"<": "'<'", ">": "'>'", '"': "a double quote", "\\": "a backslash", "`": "'`'"}
_HOST_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_HOST = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")


def _link_problem(link: str) -> str | None:
    """What stops `link` being a plain http(s) address, in the expert's words; None if
    nothing does."""
    shown = repr(link[:80])
    try:
        parts = urlsplit(link)
    except ValueError:  # e.g. an unclosed "[" around an IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or "://" not in link[:8]:
        return (
            f"{shown} is not a web link. Resource links must start with https:// (or http://)."
        )
    if "@" in parts.netloc:
        return (
            f"{shown} has a name or password before the site's name (the part before '@'), "
            "which can hide where the link really goes. Please give the plain address "
            "(for example https://www.gov.uk)."
        )
    for ch in link:
        what = _unlinkable(ch)
        if what is not None:
            hint = " (a space in an address is written %20)" if what == "a space" else ""
            return (
                f"{shown} contains {what}, which a web link cannot hold. Please copy the "
                f"address from your browser's address bar{hint}."
            )
    host = parts.hostname or ""
    if not _HOST.fullmatch(host) and not _ip_address(host):
        return (
            f"{shown} has no site name we can read after {parts.scheme}://. Please give the "
            "full address (for example https://www.gov.uk)."
        )
    if lookalike_letters(host):
        return (
            f"{shown} mixes letters from another alphabet that look like Latin ones into the "
            "site's name, so it may not go where it seems to. Please copy the address from "
            "your browser's address bar."
        )
    try:
        parts.port  # noqa: B018  (reading it checks it)
    except ValueError:
        return (
            f"{shown} has a port that is not a number from 0 to 65535 (after the ':' that "
            "follows the site's name). Please check the address, or leave the port out."
        )
    return None


def _unlinkable(ch: str) -> str | None:
    """What `ch` is, if a web link cannot hold it as typed."""
    if ch in _NOT_IN_LINKS:
        return _NOT_IN_LINKS[ch]
    if ch == "\n":
        return "a line break"
    if ch.isspace():
        return "a space"
    if unicodedata.category(ch)[0] == "C":
        return "a control character"
    return None


def _ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_web_link(link: str) -> bool:
    """Whether `link` is a plain http(s) address, as resource_links accepts."""
    return _link_problem(link) is None


def resource_links(raw: list[str] | tuple[str, ...], *, max_links: int) -> tuple[str, ...]:
    """Validated http(s) links, in order, without repeats; InvalidInput naming a bad one."""
    links: list[str] = []
    for item in raw:
        link = clean(item)
        if not link:
            continue
        problem = _link_problem(link)
        if problem is not None:
            raise InvalidInput(problem)
        if link not in links:
            links.append(link)
    if len(links) > max_links:
        raise InvalidInput(f"An answer can carry at most {max_links} resource links.")
    return tuple(links)


def authority_name(raw: str) -> str:
    """A cleaned authority name, or InvalidInput."""
    name = clean(raw).replace("\n", " ")
    if not _HAS_WORD.search(name) or len(name) > 120:
        raise InvalidInput(
            "Please give your authority's name in words, up to 120 characters "
            "(for example 'Derbyshire County Council')."
        )
    return name


# Letters of other alphabets that read as Latin ones, and typographic marks that read as the
# plain ones, each with the character people read it as. Drawn from Unicode's confusables.txt
# (UTS #39, https://www.unicode.org/Public/security/latest/confusables.txt), kept to what a UK
# authority's name could carry; matched after NFD, so accented forms (ё, Ё) fold too.
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y",
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "У": "Y", "Ү": "Y",
        "Ԛ": "Q", "Ԝ": "W", "Ӏ": "l",
        # Greek
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        "α": "a", "ι": "i", "ο": "o", "ν": "v", "ρ": "p", "υ": "u", "γ": "y",
        # Latin dotless i; dashes and apostrophes as typed by phones and word processors
        "ı": "i",
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-",
        "\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2032": "'",
    }
)


def authority_key(name: str) -> str:
    """What two spellings of an authority's name share when people read them as the same.

    NFKC, look-alike letters of other alphabets folded to the Latin ones they pass for,
    Unicode case folding, and single spaces: "YNYS MÔN" and "Ynys Môn" have one key, and so
    do "Derby" and "Dеrby" with a Cyrillic "е".
    """
    read_as = unicodedata.normalize("NFD", clean(name)).translate(_LOOKALIKES)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", read_as).casefold())
    return " ".join(folded.split())


def _latin(letter: str) -> bool:
    return unicodedata.name(letter, "").startswith("LATIN ")


def lookalike_letters(name: str) -> str:
    """The letters of other alphabets in `name` that pass for Latin ones, if it has Latin
    letters too (each once, in order); "" for a name in one alphabet."""
    letters = [ch for ch in unicodedata.normalize("NFD", name) if ch.isalpha()]
    if not any(_latin(ch) for ch in letters):
        return ""
    passing = (ch for ch in letters if not _latin(ch) and ch.translate(_LOOKALIKES) != ch)
    return "".join(dict.fromkeys(passing))


def one_alphabet(name: str) -> str:
    """`name`, or InvalidInput if it hides letters of another alphabet among Latin ones."""
    hidden = lookalike_letters(name)
    if hidden:
        shown = ", ".join(f"{ch!r} ({unicodedata.name(ch).capitalize()})" for ch in hidden)
        raise InvalidInput(
            f"{name!r} mixes in letters from another alphabet that look like Latin ones: "
            f"{shown}. Others could not find your authority under that spelling. Please type "
            "the name again with ordinary letters; nothing was saved."
        )
    return name


def display_name(raw: str) -> str:
    """A cleaned display name for an officer (never empty)."""
    name = clean(raw).replace("\n", " ")[:80]
    return name or "anonymous officer"


# Mid-line, only these can format: emphasis, code, links, tables, strike, HTML-ish tags and
# entities ("&lt;" would show as "<", not as typed).
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>|~&])")
# At the start of a line, these would make a heading, a list, a quote or a rule.
_LINE_START = re.compile(r"^(?:[#\-+>=]|\d+(?=[.)]))")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def inert(text: str) -> str:
    """User text made safe to place inside Markdown we write: one line, no formatting.

    A question must not be able to add a heading, a fake link or a table cell to a digest.
    """
    line = _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.split()))
    found = _LINE_START.match(line)
    if found is None:
        return line
    if line[:1].isdigit():  # "1." or "1)" would start a numbered list
        return line[: found.end()] + "\\" + line[found.end() :]
    return "\\" + line


def inert_lines(text: str) -> str:
    """Several lines of user text (an answer) made safe to place in Markdown we write: its
    paragraphs and line breaks kept, and nothing in it formatting, linking or making HTML."""
    paragraphs = (
        "  \n".join(inert(line) for line in paragraph.split("\n") if line.strip())
        for paragraph in _PARAGRAPH_BREAK.split(text)
    )
    return "\n\n".join(p for p in paragraphs if p)


def moment(raw: str) -> datetime:
    """The ISO 8601 date or date-time `raw` gives (naive if it names no offset).

    ValueError, as from `datetime.fromisoformat`, if it is not a date at all (the caller
    says which date it wanted); InvalidInput if it is outside the years 1900 to 2200.
    """
    parsed = datetime.fromisoformat(raw)
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidInput(f"{raw[:40]!r} is not between the years {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


def is_text(value: str) -> bool:
    """Whether `value` is Unicode text that can be stored and printed: not when it holds
    lone surrogates, as bytes that are not UTF-8 become in a command line's arguments, or
    as a JSON escape like \\ud800 gives."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_line(line: str) -> Any:
    """The value one line of a JSONL file holds.

    ValueError if it is not JSON, with the reason alone as its message (the caller names
    the file and line): JSON's own reason, or that it is nested too deeply or has a number
    of more than 4,300 digits, which Python refuses to read.
    """
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(exc.msg) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError:  # int()'s limit on digits, met inside json.loads
        raise ValueError("a number with too many digits") from None


def question_id(raw: str | int) -> int:
    """Parse 'Q-42', 'q42', '#42' or '42' into 42; InvalidInput otherwise."""
    if isinstance(raw, int):
        if raw > 0:
            return raw
    else:
        found = _QUESTION_REF.match(clean(raw))
        if found and int(found.group(1)) > 0:
            return int(found.group(1))
    shown = str(raw)[:40]
    raise InvalidInput(f"{shown!r} is not a question id. Question ids look like Q-42.")


def question_ref(question_id: int) -> str:
    """The short human id of a question."""
    return f"Q-{question_id}"


def plural(count: int, noun: str) -> str:
    """'1 authority', '2 authorities', '3 asks'."""
    if count == 1:
        return f"1 {noun}"
    consonant_y = noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u")
    return f"{count} {noun[:-1] + 'ies' if consonant_y else noun + 's'}"


def release_due(moment: datetime | None) -> str:
    """When the next release of answers is due, as an officer reads it, in the schedule's
    zone (which `next_release` gives it: UK time)."""
    if moment is None:
        return "No release of answers is scheduled yet."
    local = moment
    return (
        f"The next release of answers is due {local:%A} {local.day} {local:%B} "
        f"at {local:%H:%M} (UK time)."
    )


def status_phrase(status: str, position: int | None) -> str:
    """A question's status as an officer reads it: where it is in the queue, or that the
    expert has written its answer (a draft) and it goes out with the next release."""
    if status == "in_release":
        return "answered by the expert, going out with the next release"
    text = status.replace("_", " ")
    return f"{text}, number {position} in the queue" if position else text


def wait_on(count: int, noun: str, *, already: bool = False, still: bool = False) -> str:
    """'1 authority waits', '2 authorities already wait', '1 other officer still waits'."""
    verb = "waits" if count == 1 else "wait"
    adverb = "already " if already else "still " if still else ""
    return f"{plural(count, noun)} {adverb}{verb}"


def unmerged_message(ref: str, authorities: int) -> str:
    """What the expert is told after an unmerge, in every channel."""
    return (
        f"Unmerged {ref}: it waits in the queue again on its own "
        f"({wait_on(authorities, 'authority')} on it), and its askers are told."
    )


def discarded_message(ref: str, status: str) -> str:
    """What the expert is told after dropping a draft, in every channel."""
    after = (
        "it still has its published answer"
        if status == "answered"
        else "it waits in the queue again"
    )
    return f"Draft answer to {ref} discarded; {after}."


def peer_reply_heading(ref: str, reply_ref: str, authority: str | None) -> str:
    """How a peer reply is introduced wherever it is shown: a peer's experience, never to be
    taken for the Cabinet Office's answer."""
    by = f"from {authority}" if authority else "from another authority"
    return f"A peer's experience on {ref} ({reply_ref}, {by}) — not the Cabinet Office answer"


def reply_marks(helpful: int, solved: int) -> str:
    """'2 found it helpful; it answered 1 asker's question', or '' for none."""
    said = []
    if helpful:
        said.append(f"{helpful} found it helpful")
    if solved:
        whose = "1 asker's question" if solved == 1 else f"{solved} askers' questions"
        said.append(f"it answered {whose}")
    return "; ".join(said)


def listed_line(ref: str, topic: str, status: str, authorities: int, replies: int) -> str:
    """One question as /questions lists it, inviting a peer reply while it waits."""
    waiting = status != "answered"
    peers = ""
    if replies:
        peers = ", 1 peer reply" if replies == 1 else f", {replies} peer replies"
    invite = f" — /reply {ref} if your authority has been through this" if waiting else ""
    state = "waiting" if waiting else "answered"
    return f"{ref} [{topic}, {state}] {plural(authorities, 'authority')}{peers}{invite}"


def reply_hidden_message(ref: str, reply_ref: str, reason: str | None) -> str:
    """What a reply's author is told when the expert or an admin withdraws it."""
    why = f": {reason}" if reason else "."
    return (
        f"Your reply {reply_ref} on {ref} was withdrawn from view by the PSN team{why} "
        "It is kept in the audit trail; ask an exchange admin if you think this is wrong."
    )


def note_line(ref: str, title: str, topic: str, authority: str | None, endorsed: bool) -> str:
    """A shared note's heading wherever it is listed."""
    by = authority or "another authority"
    mark = " · endorsed by the PSN expert" if endorsed else ""
    return f"{ref} [{topic}] {title} — shared by {by}{mark}"


def reworded_message(ref: str, wording: str) -> str:
    """What the one who reworded a question is told, in every channel."""
    return (
        f'{ref} now reads: "{wording}". Its askers\' own words are kept, and search still '
        "finds it by them."
    )


def marked_message(ref: str, version: int, sensitive: bool) -> str:
    """What the expert is told after marking an answer, in every channel."""
    if sensitive:
        return (
            f"The answer to {ref} (version {version}) is marked OFFICIAL-SENSITIVE: its askers "
            "are sent a pointer to the secure route instead, and it is never posted in threads, "
            "search or exports."
        )
    return f"The answer to {ref} (version {version}) is OFFICIAL again."


_REPLY_REF = re.compile(r"^(?:r-?|#)?\s*(\d{1,12})$", re.IGNORECASE)


def reply_id(raw: str | int) -> int:
    """Parse 'R-12', 'r12', '#12' or '12' into 12; InvalidInput otherwise."""
    found = _REPLY_REF.match(clean(str(raw)))
    if found and int(found.group(1)) > 0:
        return int(found.group(1))
    raise InvalidInput(f"{str(raw)[:40]!r} is not a reply id. Reply ids look like R-12.")


def note_hidden_message(note_ref: str, title: str, reason: str | None) -> str:
    """What a shared note's author is told when the expert or an admin withdraws it."""
    why = f": {reason}" if reason else "."
    return (
        f'Your shared note {note_ref} "{title}" was withdrawn from view by the PSN team{why} '
        "It is kept in the audit trail; ask an exchange admin if you think this is wrong."
    )
