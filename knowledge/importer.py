"""Importing question lists (CSV or JSONL) through the same de-duplication as /ask.

A file is checked whole before anything is written: a bad row stops the import with
its line number, unless the caller chose to skip bad rows.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from knowledge import text as texts
from knowledge.errors import InvalidInput
from knowledge.exchange import Exchange
from knowledge.models import Actor
from knowledge.usecases.imports import DecisionHelper, ImportedRow, RowOutcome

REQUIRED = ("text", "authority", "officer")
OPTIONAL = ("topic", "asked_at", "answer", "links")
COLUMNS = REQUIRED + OPTIONAL
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FIELD_CHARS = 20_000


@dataclass
class ImportReport:
    new: int = 0
    joined: int = 0
    present: int = 0  # already in the exchange (the same file imported again)
    proposed: int = 0  # new, and a merge proposed to the expert (likely the same as another)
    rows: list[RowOutcome] = field(default_factory=list)  # each row's, when asked for
    answered: int = 0
    skipped: list[str] = field(default_factory=list)
    release: int | None = None


def _field(name: str) -> str:
    """A field or column name as a message shows it: quoted and escaped if it is long or
    not plain printable text (a terminal would act on an escape sequence)."""
    return name if name.isprintable() and len(name) <= 40 else repr(name[:40])


def _columns(names: list[str]) -> str:
    return ("column " if len(names) == 1 else "columns ") + ", ".join(map(_field, names))


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record or an error message) for every data line of the file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror}.") from None
    if size > MAX_FILE_BYTES:
        raise InvalidInput(f"{path} is {size // 1_048_576} MB; the largest import is 50 MB.")
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{path} line {bad_line}: the file is not UTF-8 text. Save it as UTF-8 (in Excel: "
            "'CSV UTF-8') and import again. Nothing was imported."
        ) from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = texts.json_line(line)
            except ValueError as exc:
                yield number, f"not valid JSON ({exc})"
                continue
            yield number, record if isinstance(record, dict) else "not a JSON object"
    elif path.suffix.lower() == ".csv":
        # Read any field whole (the file is at most 50 MB); _row refuses over-long ones.
        csv.field_size_limit(MAX_FILE_BYTES)
        reader = csv.DictReader(io.StringIO(content, newline=""))
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        unknown = [c for c in header if c not in COLUMNS]
        if missing or unknown:
            problems = []
            if missing:
                problems.append("missing " + _columns(missing))
            if unknown:
                problems.append("unknown " + _columns(unknown))
            raise InvalidInput(
                f"{path} line 1: {'; '.join(problems)}. The columns are: "
                + ", ".join(COLUMNS)
                + f" ({', '.join(REQUIRED)} required). Nothing was imported."
            )
        try:
            for record in reader:
                if None in record:
                    yield reader.line_num, "more values than there are columns"
                    continue
                yield reader.line_num, dict(record)
        except csv.Error as exc:
            # The reader cannot go on past this point, so no row after it can be trusted.
            raise InvalidInput(
                f"{path} line {reader.line_num}: not valid CSV ({exc}); the rest of the file "
                "cannot be read. Nothing was imported."
            ) from None
    else:
        raise InvalidInput(f"{path}: import reads .csv or .jsonl files.")


def _row(
    number: int,
    record: dict[str, Any],
    exchange: Exchange,
    authority: Callable[[str], str] | None = None,
) -> ImportedRow:
    """One checked row, or InvalidInput saying what is wrong with it (checked as /ask and
    the expert's answers are, so nothing fails later, inside the import)."""
    unknown = sorted(set(record) - set(COLUMNS))
    if unknown:
        raise InvalidInput(f"unknown field {', '.join(_field(name) for name in unknown)}")
    for name in REQUIRED:
        if not isinstance(record.get(name), str) or not record[name].strip():
            raise InvalidInput(f"'{name}' is missing or empty")
    for name, value in record.items():
        if name in ("topic", "asked_at", "answer") and not isinstance(value, str | None):
            raise InvalidInput(f"'{name}' must be text")
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            raise InvalidInput(f"'{name}' is longer than {MAX_FIELD_CHARS:,} characters")
    limits = exchange.settings.exchange
    now = exchange.clock()
    asked_at = now
    if record.get("asked_at"):
        try:
            asked_at = texts.moment(record["asked_at"])
        except ValueError:
            raise InvalidInput(
                f"asked_at {record['asked_at'][:40]!r} is not a date like 2010-05-11T14:05:00+01:00"
            ) from None
        except InvalidInput as error:
            raise InvalidInput(f"asked_at {error}") from None
        if asked_at.tzinfo is None:  # a local date, as the council wrote it
            asked_at = asked_at.replace(tzinfo=exchange.settings.schedule.zone)
        if asked_at > now + timedelta(minutes=1):
            raise InvalidInput(f"asked_at {record['asked_at'][:40]!r} is in the future")
    links = record.get("links") or ()
    if isinstance(links, str):
        links = links.split()
    if not isinstance(links, list | tuple) or not all(isinstance(x, str) for x in links):
        raise InvalidInput("'links' must be a list of web links")
    marking = exchange.settings.marking
    for name, what in (("text", "question"), ("answer", "answer")):
        if isinstance(record.get(name), str):  # a marked row is refused, like any bad row
            texts.refuse_marked(record[name], marking.refused, marking.where_instead, what)
    answer = record.get("answer") or None
    if answer is not None:
        answer = texts.answer_text(answer, max_chars=limits.max_answer_chars)
    topic = record.get("topic") or None
    if topic is not None:
        exchange.resolve_topic(topic)
    return ImportedRow(
        line=number,
        text=texts.question_text(
            record["text"],
            min_chars=limits.min_question_chars,
            max_chars=limits.max_question_chars,
        ),
        authority=(authority or exchange.check_authority)(record["authority"]),
        officer=record["officer"],
        topic=topic,
        asked_at=asked_at,
        answer=answer,
        links=texts.resource_links(list(links), max_links=limits.max_links),
    )


def read_rows(
    path: Path, exchange: Exchange, *, skip_bad: bool
) -> tuple[list[ImportedRow], list[str]]:
    """Every good row of the file, and a message for each bad one.

    Without `skip_bad`, any bad row raises InvalidInput listing the bad lines.
    """
    rows: list[ImportedRow] = []
    bad: list[str] = []
    # A file names a few authorities many times: each good one is checked once.
    authority = functools.lru_cache(maxsize=4096)(exchange.check_authority)
    for number, record in _records(path):
        if isinstance(record, str):
            bad.append(f"line {number}: {record}")
            continue
        try:
            rows.append(_row(number, record, exchange, authority))
        except InvalidInput as error:
            bad.append(f"line {number}: {error}")
    if bad and not skip_bad:
        shown = "\n  ".join(bad[:20])
        more = f"\n  … and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise InvalidInput(
            f"{path} has {texts.plural(len(bad), 'bad row')}; nothing was imported:\n"
            f"  {shown}{more}\n"
            "Fix them, or import the good rows with --skip-bad."
        )
    if not rows and not bad:
        raise InvalidInput(f"{path} has no rows to import.")
    return rows, bad


# Rows written per short transaction: small enough that nobody else waits long for the
# write lock, large enough that the commits do not dominate.
BATCH = 200
# How many batches ahead a helper process is given its share of, so that it never runs
# out of work when one batch takes it longer than the importer.
AHEAD = 2


def import_file(
    exchange: Exchange,
    actor: Actor,
    path: Path,
    *,
    skip_bad: bool = False,
    progress: Callable[[int, int], None] | None = None,
    each_row: bool = False,
    helper: DecisionHelper | None = None,
) -> ImportReport:
    """Import a question list; its answers are published as one release.

    All or nothing: the rows are written in short batches beside the running exchange but
    stay hidden until the last one is in, then appear at once. Only the answers in the file
    are published — never answers the expert is still working on. If anything fails
    part-way, nothing of the file is kept. With `each_row`, the report keeps what became of
    every row, with its best match (`import --report`). A `helper` process
    (knowledge/helper.py) decides a share of each batch, starting on the next batch's
    while this one is written.
    """
    rows, bad = read_rows(path, exchange, skip_bad=skip_bad)
    report = ImportReport(skipped=bad)
    session = exchange.begin_import(actor)
    try:
        for start in range(0, len(rows), BATCH):
            batch = rows[start : start + BATCH]
            outcomes = exchange.import_rows(
                actor,
                session,
                batch,
                best_matches=each_row,
                helper=helper,
                upcoming=[
                    rows[later : later + BATCH]
                    for later in range(
                        start + BATCH, min(len(rows), start + (AHEAD + 1) * BATCH), BATCH
                    )
                ],
            )
            for outcome in outcomes:
                setattr(report, outcome.outcome, getattr(report, outcome.outcome) + 1)
                if each_row:
                    report.rows.append(outcome)
            if progress is not None:
                progress(start + len(batch), len(rows))
        result = exchange.finish_import(actor, session)
    except BaseException:
        exchange.abandon_import(session)
        raise
    report.answered = result.answered
    report.release = result.release
    report.skipped.extend(result.skipped)
    return report
