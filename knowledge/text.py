"""Cleaning and checking what people type, before anything is stored or matched."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime
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


def resource_links(raw: list[str] | tuple[str, ...], *, max_links: int) -> tuple[str, ...]:
    """Validated http(s) links, in order, without repeats."""
    links: list[str] = []
    for item in raw:
        link = clean(item)
        if not link:
            continue
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in link:
            raise InvalidInput(
                f"{link[:80]!r} is not a web link. Resource links must start with https:// "
                "(or http://)."
            )
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


def display_name(raw: str) -> str:
    """A cleaned display name for an officer (never empty)."""
    name = clean(raw).replace("\n", " ")[:80]
    return name or "anonymous officer"


# Mid-line, only these can format: emphasis, code, links, tables, strike, HTML-ish tags.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]<>|~])")


def inert(text: str) -> str:
    """User text made safe to place inside Markdown we write: one line, no formatting.

    A question must not be able to add a heading, a fake link or a table cell to a digest.
    """
    line = _MARKDOWN_SPECIALS.sub(r"\\\1", " ".join(text.split()))
    # At the start of a line, these would make a heading, a list, a quote or a rule.
    return "\\" + line if line[:1] in ("#", "-", "+", ">", "=") else line


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
    return f"{count} {noun[:-1] + 'ies' if noun.endswith('y') else noun + 's'}"
