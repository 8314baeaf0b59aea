"""`psn-exchange match`: check a list of questions against a stored list (README.md, CLI).

Same matcher and thresholds as /ask. Input files are JSONL lines `{"id": ..., "text": ...}`;
every line is checked before anything is written, so a bad file produces no output.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TextIO

from knowledge import text as texts
from knowledge.config import MatchingSettings
from knowledge.errors import InvalidInput
from knowledge.matching import Matcher


def read_questions(path: Path) -> list[tuple[str, str]]:
    """(id, text) pairs from a JSONL file; InvalidInput naming the file and line otherwise."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text; save it as UTF-8 JSONL.") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror}).") from None
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            row = texts.json_line(line)
        except ValueError as exc:
            raise InvalidInput(f"{where}: not valid JSON ({exc}).") from None
        if not isinstance(row, dict):
            raise InvalidInput(f'{where}: expected an object like {{"id": "...", "text": "..."}}.')
        ident, text = row.get("id"), row.get("text")
        if isinstance(ident, bool) or not isinstance(ident, str | int) or str(ident) == "":
            raise InvalidInput(f'{where}: "id" must be a non-empty string or number.')
        if not texts.is_text(str(ident)):
            raise InvalidInput(
                f'{where}: "id" is not valid text (a \\ud800-\\udfff escape without its pair).'
            )
        if not isinstance(text, str):
            raise InvalidInput(f'{where}: "text" must be a string.')
        if str(ident) in seen:
            raise InvalidInput(f"{where}: id {str(ident)[:40]!r} appears more than once.")
        seen.add(str(ident))
        rows.append((str(ident), text))
    return rows


def run_batch_match(
    corpus: Path,
    queries: Path,
    top: int,
    settings: MatchingSettings,
    out: TextIO,
    err: TextIO,
) -> None:
    """Write one JSON line per query, in input order, with its best `top` corpus matches."""
    if top < 1:
        raise InvalidInput("--top must be at least 1.")
    stored = read_questions(corpus)
    asked = read_questions(queries)
    started = time.perf_counter()
    matcher = Matcher(settings)
    matcher.add_many((position, text) for position, (_, text) in enumerate(stored))
    built = time.perf_counter() - started
    slowest = 0.0
    checking = time.perf_counter()
    for query_id, text in asked:
        began = time.perf_counter()
        found = matcher.find(text, limit=top)
        slowest = max(slowest, time.perf_counter() - began)
        matches = [
            {
                "id": stored[match.question_id][0],
                "score": round(match.score, 1),
                "duplicate": match.verdict == "duplicate",
            }
            for match in found
        ]
        out.write(json.dumps({"id": query_id, "matches": matches}, ensure_ascii=False) + "\n")
    checked = time.perf_counter() - checking
    per_query = 1000 * checked / len(asked) if asked else 0.0
    err.write(
        f"indexed {len(stored):,} questions in {built:.2f} s; checked {len(asked):,} in "
        f"{checked:.2f} s ({per_query:.2f} ms each, slowest {1000 * slowest:.2f} ms)\n"
    )
