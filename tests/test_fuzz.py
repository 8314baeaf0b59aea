"""No traceback for any input: every command-line option and every import column, fed
boundary and random values, ends in success or a short message, and a refusal changes
nothing in the database.

The options are found by walking the command line's argparse parser, so a new option is
fuzzed without editing this file (a new required argument needs a valid value in valid()).
Each test collects all its failures, so one run lists every input that crashes. Plain
`random` with a fixed seed: the same values every run, and no new dependency.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import sqlite3
import string
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from knowledge.cli import OPERATOR, main, parser
from knowledge.config import load_settings
from knowledge.errors import ExchangeError
from knowledge.exchange import Exchange
from knowledge.importer import COLUMNS, import_file
from tests.conftest import REPO

CONFIG = REPO / "config.toml"
WORKSHOP = REPO / "examples" / "workshop-questions.jsonl"
SEED = 20_100_511
RANDOM_VALUES = 8  # per option or column, besides the boundary values
MAX_LINES = 8  # the longest refusal is `run` without DISCORD_TOKEN: the setup steps

DEEP = "[" * 100_000 + "]" * 100_000
DATES = [
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31",
    "9999-12-31T23:59:59.999999-14:00",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59+14:00",
    "1899-12-31T23:59:59",
    "1900-01-01T00:00:00+23:59",
    "2200-12-31T23:59:59-23:59",
    "2201-01-01",
    "2010-02-30",
    "2010-05-11",
    "2010-05-11T14:05:00+01:00",
    "2010-05-11T14:05:00Z",
]
NUMBERS = [
    "0",
    "-0",
    "1",
    "-1",
    "2",
    str(2**63 - 1),
    str(2**63),
    str(-(2**63) - 1),
    "99999999999999999999",
    "9" * 5_000,
    "1e309",
    "-1e309",
    "1.5",
    "0x10",
    "1_000",
    " 7 ",
    "٣",  # an Arabic-Indic three: int() reads it
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
]
TEXTS = [
    "",
    " ",
    "\t\n \r",
    "x" * 100_000,
    "How is quality of service handled in the PSN? " * 500,
    "\x07\x1b[2J\x1b[31mred\x7f",
    "\u200b\u200d\ufeff\u00ad",
    "\u202eevil.exe\u202c",
    "e\u0301" * 50,
    "🙂" * 100,
    "Q-1",
    "Q-0",
    "Q-99999999999999999999",
    "console:alice",
    "https://www.gov.uk/" + "a" * 5_000,
    "javascript:alert(1)",
    "'; DROP TABLE questions; --",
    DEEP,
    "{}",
    "[]",
    "null",
    "true",
    "-",
    "--",
    "-h",
    "/",
    ".",
    "..",
]
# Bytes that are not UTF-8 reach a program's argv as lone surrogates (surrogateescape).
ARGV_SURROGATES = ["\udcff", "abc\udc80def", "\udcc3\udca9"]
ALPHABET = (
    string.printable
    + "\x01\x1b\x7f\x85\u00a0\u2028\u2029\u200b\u202e\u2066\ufeff\ufffd\u0301"
    + "éŁæ漢字🙂𝔘"
)


def random_values(rng: random.Random, *, argv: bool) -> list[str]:
    """Random numbers, dates, nestings and strings (argv can carry no NUL, and only the
    surrogates surrogateescape makes)."""
    offsets = ["", "Z", "+14:00", "-14:00", "+23:59", "-23:59:59.999999", "+01:00"]
    alphabet = ALPHABET + ("\udcfe" if argv else "\x00\ud800\udfff")
    makers: list[Callable[[], str]] = [
        lambda: str(rng.randint(-(10**30), 10**30)),
        lambda: str(rng.choice([-1, 1]) * 2 ** rng.randint(0, 90)),
        lambda: repr(rng.uniform(-1e308, 1e308)),
        lambda: (
            f"{rng.randint(0, 9999):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 31):02d}"
            f"T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}{rng.choice(offsets)}"
        ),
        lambda: rng.choice("[{(") * rng.randint(1, 3_000),
        lambda: "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))),
    ]
    return [rng.choice(makers)() for _ in range(RANDOM_VALUES)]


def cli_values(rng: random.Random) -> list[str]:
    return [*TEXTS, *NUMBERS, *DATES, *ARGV_SURROGATES, *random_values(rng, argv=True)]


def import_values(rng: random.Random) -> list[str]:
    return [*TEXTS, *NUMBERS, *DATES, "\x00", "\ud800", "\udcff", *random_values(rng, argv=False)]


def shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:30] + f"…({len(text):,} chars)")


# -- judging an outcome -----------------------------------------------------------------


class Judge:
    """Runs commands (or the importer) and collects every outcome that is not success or
    a short refusal that left the database as it was."""

    def __init__(self, db: Path, config: Path) -> None:
        self.db = db
        self.config = config
        self.failures: list[str] = []
        self.watch = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        self.version = self._data_version()

    def _data_version(self) -> int:
        # Changes whenever another connection commits to the file: any write at all.
        return int(self.watch.execute("PRAGMA data_version").fetchone()[0])

    def run(self, argv: list[str], what: str) -> int:
        """Run a command in-process; its exit code (-1 if it crashed)."""
        # As Python sets them up in a UTF-8 locale (en_GB.UTF-8): stdout strict, stderr escaping.
        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main(argv)
        except SystemExit as exit:  # argparse's own refusals (and --help)
            code = exit.code if isinstance(exit.code, int) else 0
        except BaseException as error:  # what this test is looking for
            self.failures.append(f"{what}: {type(error).__name__}: {str(error)[:120]}")
            return -1
        err.flush()
        self.judge(code, err.buffer.getvalue().decode("utf-8"), what)  # type: ignore[attr-defined]
        return code

    def call(self, action: Callable[[], object], what: str) -> None:
        """Call the library as the command line does: an ExchangeError is a refusal."""
        try:
            action()
        except ExchangeError as error:
            self.judge(1, f"error: {error}\n", what)
        except BaseException as error:  # what this test is looking for
            self.failures.append(f"{what}: {type(error).__name__}: {str(error)[:120]}")
        else:
            self.judge(0, "", what)

    def judge(self, code: int, message: str, what: str) -> None:
        version = self._data_version()
        problem = None
        if code not in (0, 1, 2):
            problem = f"exit code {code}"
        elif "Traceback" in message:
            problem = "a traceback on stderr"
        elif code and not message.strip():
            problem = f"exit code {code} without a message"
        elif code and message.count("\n") > MAX_LINES:
            problem = f"a {message.count(chr(10))}-line message"
        elif code and version != self.version:
            problem = "a refusal that changed the database"
        if problem:
            self.failures.append(f"{what}: {problem}: {message[:200]!r}")
        self.version = version

    def close(self) -> None:
        self.watch.close()

    def verdict(self) -> None:
        self.close()
        assert not self.failures, f"{len(self.failures)} failures:\n" + "\n".join(
            self.failures[:60]
        )


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped settings without the glossary and thesaurus: the same checks, loaded in
    a third of the time (every command loads its settings afresh)."""
    shipped = CONFIG.read_text(encoding="utf-8")
    start, end = shipped.index("[matching.glossary]"), shipped.index("[roles]")
    path = tmp_path_factory.mktemp("config") / "config.toml"
    path.write_text(
        shipped[:start] + "[matching.glossary]\n[matching.synonyms]\n" + shipped[end:],
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory, config: Path) -> Path:
    """A database holding two questions, one answered and published (copied for each test)."""
    folder = tmp_path_factory.mktemp("small")
    rows = [json.loads(line) for line in WORKSHOP.read_text(encoding="utf-8").splitlines()[2:4]]
    db = folder / "exchange.db"
    command = ["import", "--db", str(db), "--config", str(config)]
    assert main([*command, str(jsonl_file(folder / "two.jsonl", rows))]) == 0
    return db


@pytest.fixture
def judge(
    small_db: Path, config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Judge]:
    db = tmp_path / "exchange.db"
    shutil.copy(small_db, db)
    monkeypatch.chdir(tmp_path)  # options naming files write them here
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)  # `run` must never reach Discord
    judge = Judge(db, config)
    yield judge
    judge.close()


# -- every command-line option ----------------------------------------------------------


def commands() -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(words, parser) of every command a person can run, e.g. (("db", "check"), …)."""

    def walk(
        words: tuple[str, ...], command: argparse.ArgumentParser
    ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
        subcommands = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if not subcommands:
            yield words, command
        for action in subcommands:
            for name, sub in action.choices.items():
                yield from walk((*words, name), sub)

    return walk((), parser())


def arguments(command: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in command._actions if not isinstance(a, argparse._HelpAction)]


COMMANDS = dict(commands())


def options() -> dict[str, tuple[argparse.Action, list[tuple[str, ...]]]]:
    """Every option and argument, once, with the commands that take it: a shared option
    (--db, --config) is fuzzed across its commands, each value on the next one."""
    found: dict[int, tuple[argparse.Action, list[tuple[str, ...]]]] = {}
    for words, command in COMMANDS.items():
        for action in arguments(command):
            found.setdefault(id(action), (action, []))[1].append(words)
    named = {}
    for action, where in found.values():
        name = action.option_strings[0] if action.option_strings else action.dest
        named[name if len(where) > 1 else f"{' '.join(where[0])} {name}"] = (action, where)
    return named


OPTIONS = options()


def valid(tmp: Path) -> dict[str, str]:
    """A valid value for each required argument, so that each option is fuzzed alone."""
    corpus = [{"id": "c1", "text": GOOD_ROW["text"]}]
    return {
        "file": str(jsonl_file(tmp / "good.jsonl", [GOOD_ROW])),
        "corpus": str(jsonl_file(tmp / "corpus.jsonl", corpus)),
        "queries": str(jsonl_file(tmp / "queries.jsonl", corpus)),
        "question": "Q-1",
        "into": "Q-2",
        "other": "Q-2",
        "text": "PSN carries six classes of service; your markings are kept.",
        "target": str(tmp / "backup.db"),
        "user_key": "console:nobody",
        "name": "Cartwright",
    }


def command_line(
    words: tuple[str, ...], judge: Judge, good: dict[str, str], fuzzed: argparse.Action, value: str
) -> list[str]:
    """The command with valid required arguments, and `value` given to `fuzzed`."""
    given = {"db": str(judge.db), "config": str(judge.config)}
    if words == ("web",) and fuzzed.dest != "build":  # write the site, never serve forever
        given["build"] = str(judge.db.parent / "site")
    options: list[str] = []
    positionals: list[str] = []
    for action in arguments(COMMANDS[words]):
        if action is fuzzed and action.nargs == 0:
            options.append(action.option_strings[-1])
            continue
        if action is fuzzed:
            text = value
        elif action.dest in given:
            text = given[action.dest]
        elif action.required or not action.option_strings:
            assert action.dest in good, f"add a valid {action.dest!r} to valid() in {__name__}"
            text = good[action.dest]
        else:
            continue
        if action.option_strings:
            options.append(f"{action.option_strings[0]}={text}")  # a value may start with -
        else:
            positionals.append(text)
    return [*words, *options, *(["--", *positionals] if positionals else [])]


@pytest.mark.parametrize("option", list(OPTIONS))
def test_every_option_ends_in_success_or_a_short_refusal(
    judge: Judge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    action, where = OPTIONS[option]
    good = valid(tmp_path)
    rng = random.Random(f"{SEED} {option}")
    values = [""] * len(where) if action.nargs == 0 else cli_values(rng)
    for number, value in enumerate(values):
        words = where[number % len(where)]
        # The console reads a short script from standard input.
        monkeypatch.setattr("sys.stdin", io.StringIO("/as Fuzz @ Rutland County Council\n/mine\n"))
        argv = command_line(words, judge, good, action, value)
        judge.run(argv, f"{' '.join(argv[: len(words)])} {action.dest}={shown(value)}")
    judge.verdict()


def test_the_parser_walk_finds_every_command_and_option() -> None:
    assert {" ".join(w) for w in COMMANDS} >= {"queue", "digest", "db check", "privacy forget"}
    assert {"--db", "--config", "queue --limit", "digest --until", "answer text"} <= set(OPTIONS)
    # Every command takes --db and --config but `match`, which reads no database: its own
    # --config is fuzzed on its own.
    assert len(OPTIONS["--db"][1]) == len(OPTIONS["--config"][1]) == len(COMMANDS) - 1
    assert "match --config" in OPTIONS


# -- every import column, CSV and JSONL ------------------------------------------------

GOOD_ROW: dict[str, Any] = {
    "text": "Who will run the PSN core network in the East Midlands?",
    "authority": "Rutland County Council",
    "officer": "Ruth Fuzz",
    "topic": "technical",
    "asked_at": "2010-05-11T14:05:00+01:00",
    "answer": "The PSN core is run by the PSN service providers under the compact.",
    "links": ["https://www.gov.uk/government/groups/public-services-network"],
}
assert set(GOOD_ROW) == set(COLUMNS)

# JSON values of every type (each column also gets every text value).
JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    10**30,
    1.5,
    float("nan"),
    float("inf"),
    {},
    {"text": "nested"},
    [],
    ["https://www.gov.uk/", 7],
    [None],
    [[["deep"]]],
]
# Lines that are not a row at all.
JSON_LINES = [
    DEEP,
    "{" + '"a":' * 50_000 + "1" + "}" * 50_000,
    "9" * 5_000,
    "-" + "9" * 5_000,
    '{"text": ' + "9" * 5_000 + "}",
    "1e99999",
    "NaN",
    "[]",
    "null",
    '"a string"',
    '{"\\ud800": "x"}',
    '{"text\\u0000": "x"}',
    json.dumps({**GOOD_ROW, "x" * 100_000: 1}),
    json.dumps({**GOOD_ROW, "\udcff\u202e\x1b[31m": 1}),
]
# Bytes that are not UTF-8, in place of a column's value.
BAD_BYTES = [b"\xff\xfe", b"caf\xe9", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
MARK = "\x1e\x1e\x1e"  # stands for the bad bytes until the file is written


def csv_file(path: Path, rows: list[dict[str, Any]], raw: bytes = b"") -> Path:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()})
    data = out.getvalue().encode("utf-8", "surrogatepass")
    path.write_bytes(data.replace(MARK.encode(), raw) if raw else data)
    return path


def jsonl_file(path: Path, rows: list[dict[str, Any]] | list[str], raw: bytes = b"") -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    data = "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")
    mark = json.dumps(MARK)[1:-1].encode()  # as json.dumps escapes it
    path.write_bytes(data.replace(mark, raw) if raw else data)
    return path


def utf8(value: object) -> bool:
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_every_import_column_ends_in_success_or_a_short_refusal(
    judge: Judge, tmp_path: Path, kind: str, column: str
) -> None:
    rng = random.Random(f"{SEED} {kind} {column}")
    path = tmp_path / f"questions.{kind}"
    write = csv_file if kind == "csv" else jsonl_file
    values: list[Any] = import_values(rng) + (JSON_VALUES if kind == "jsonl" else [])
    cases = [(value, b"") for value in values] + [(MARK, raw) for raw in BAD_BYTES]

    def row(number: int, value: object) -> dict[str, Any]:
        # A new officer each time: the first ask of an officer is stored differently.
        return {**GOOD_ROW, "officer": f"Ruth Fuzz {number}", column: value}

    # Each value alone, through the importer the command line calls (quicker than a
    # command each: the settings and the matcher are built once).
    settings = load_settings(judge.config)
    settings = settings.model_copy(
        update={"database": settings.database.model_copy(update={"path": judge.db})}
    )
    exchange = Exchange.open(settings)
    try:
        for number, (value, raw) in enumerate(cases):
            write(path, [row(number, value)], raw)
            what = f"{kind} {column}={repr(raw) if raw else shown(value)}"
            judge.call(lambda: import_file(exchange, OPERATOR, path), what)
    finally:
        exchange.close()
    # Every value again in one file, through the command line: skipped rows are listed
    # on standard output.
    rows = [row(n, v) for n, v in enumerate(values) if kind == "jsonl" or utf8(v)]
    write(path, rows)
    command = ["import", "--db", str(judge.db), "--config", str(judge.config), "--skip-bad"]
    judge.run([*command, str(path)], f"{kind} {column} (every value, --skip-bad)")
    judge.verdict()


def test_jsonl_lines_that_are_not_rows_are_refused_or_skipped(judge: Judge, tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    command = ["import", "--db", str(judge.db), "--config", str(judge.config)]
    for line in JSON_LINES:
        jsonl_file(path, [line])
        assert judge.run([*command, str(path)], shown(line)) != 0, line[:80]
        judge.run([*command, "--skip-bad", str(path)], f"{shown(line)} --skip-bad")
    judge.verdict()
