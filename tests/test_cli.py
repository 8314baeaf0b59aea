"""`psn-exchange` on the command line: import, export, match, queue, answer, publish, db check."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.cli import main, parser
from knowledge.store import Store
from tests.conftest import REPO

EXAMPLES = REPO / "examples"
JSONL = EXAMPLES / "workshop-questions.jsonl"
CSV = EXAMPLES / "workshop-questions.csv"
CONFIG = REPO / "config.toml"
SUMMARY = re.compile(r"(\d+) new questions?, (\d+) joined an existing question")


def psnx(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run one command in-process, as a person would type it: (exit code, stdout, stderr)."""
    command = [str(a) for a in args]
    if "--config" not in command:
        command += ["--config", str(CONFIG)]
    code = main(command)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def usage_error(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """Run a command that argparse must refuse (exit code 2); its stderr."""
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    assert exited.value.code == 2
    return capsys.readouterr().err


def count(db: Path, table: str) -> int:
    if not db.exists():  # a command that failed before anything was kept left no file
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0])
    finally:
        conn.close()


def workshop_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in JSONL.read_text(encoding="utf-8").splitlines() if line]


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "exchange.db"


@pytest.fixture
def imported(capsys: pytest.CaptureFixture[str], db: Path) -> Path:
    """A database holding the workshop's questions, with its answers published."""
    code, _, err = psnx(capsys, "import", "--db", db, JSONL)
    assert code == 0, err
    return db


# -- import ---------------------------------------------------------------------------


@pytest.mark.parametrize("example", [JSONL, CSV], ids=["jsonl", "csv"])
def test_importing_the_workshop_questions_joins_the_near_duplicates(
    capsys: pytest.CaptureFixture[str], db: Path, example: Path
) -> None:
    rows = workshop_rows()
    with_answers = [r for r in rows if r.get("answer")]

    code, out, err = psnx(capsys, "import", "--db", db, example)

    assert code == 0, err
    summary = SUMMARY.search(out)
    assert summary, out
    new, joined = int(summary[1]), int(summary[2])
    assert joined >= 1
    assert new + joined == len(rows)
    assert f"{len(with_answers)} answers imported and published as release 1." in out
    assert count(db, "questions") == new
    assert count(db, "asks") == len(rows)
    assert count(db, "releases") == 1


def test_the_installed_command_imports_a_file(tmp_path: Path) -> None:
    db = tmp_path / "exchange.db"
    done = subprocess.run(
        [
            Path(sys.executable).parent / "psn-exchange",
            "import",
            "--db",
            db,
            CSV,
            "--config",
            CONFIG,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert SUMMARY.search(done.stdout)
    assert count(db, "questions") > 0


def malformed(tmp_path: Path) -> Path:
    """Six workshop rows, where line 3 is not JSON and line 5 has no authority."""
    lines = [json.dumps(row) for row in workshop_rows()[:6]]
    lines[2] = lines[2][:-5]
    row5 = json.loads(lines[4])
    del row5["authority"]
    lines[4] = json.dumps(row5)
    return write_jsonl(tmp_path / "questions.jsonl", lines)


def test_a_malformed_jsonl_file_names_every_bad_line_and_imports_nothing(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    code, out, err = psnx(capsys, "import", "--db", db, malformed(tmp_path))

    assert code == 1
    assert "line 3: not valid JSON" in err
    assert "line 5: 'authority' is missing" in err
    assert "nothing was imported" in err
    assert "--skip-bad" in err
    assert "new question" not in out
    assert count(db, "questions") == 0
    assert count(db, "officers") == 0


def test_skip_bad_imports_the_good_rows_and_lists_the_bad(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    code, out, err = psnx(capsys, "import", "--db", db, "--skip-bad", malformed(tmp_path))

    assert code == 0, err
    summary = SUMMARY.search(out)
    assert summary, out
    assert int(summary[1]) + int(summary[2]) == 4
    assert "skipped line 3: not valid JSON" in out
    assert "skipped line 5: 'authority' is missing" in out
    assert count(db, "asks") == 4


def test_a_csv_with_the_wrong_columns_names_them(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "questions.csv"
    path.write_text(
        "question,council,officer\n"
        "How is quality of service handled in PSN?,Rutland County Council,Jo Smith\n",
        encoding="utf-8",
    )

    code, _, err = psnx(capsys, "import", "--db", db, path)

    assert code == 1
    assert "missing columns text, authority" in err
    assert "unknown columns question, council" in err
    assert "Nothing was imported" in err
    assert count(db, "questions") == 0


def test_a_csv_column_name_that_is_an_escape_sequence_is_shown_escaped(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "questions.csv"
    path.write_text(
        "text,authority,officer,\x1b[2J\nWhy PSN at all?,Rutland,Jo\n", encoding="utf-8"
    )

    code, _, err = psnx(capsys, "import", "--db", db, path)

    assert code == 1
    assert "unknown column '\\x1b[2J'" in err
    assert "\x1b" not in err


def test_a_file_that_is_not_utf8_is_refused_and_nothing_imported(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "questions.csv"
    latin1 = (
        "text,authority,officer\n"
        "Will PSN replace our GCSx connection next year?,Rutland County Council,Jo Smith\n"
        "Does the café wifi in the council offices count as PSN?,Derby City Council,Zoë Brown\n"
    )
    path.write_bytes(latin1.encode("latin-1"))

    code, _, err = psnx(capsys, "import", "--db", db, path)

    assert code == 1
    assert "line 3" in err
    assert "not UTF-8" in err
    assert count(db, "questions") == 0


def test_a_huge_row_is_refused_with_its_line_number(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    good = workshop_rows()[0]
    huge = dict(good, text="Why PSN? " * 2_500)  # 22,500 characters
    path = write_jsonl(tmp_path / "questions.jsonl", [json.dumps(good), json.dumps(huge)])

    code, _, err = psnx(capsys, "import", "--db", db, path)

    assert code == 1
    assert "line 2: 'text' is longer than 20,000 characters" in err
    assert count(db, "questions") == 0


def test_a_question_over_the_configured_maximum_is_refused(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    long = dict(workshop_rows()[0], text="How should we connect to PSN? " * 100)
    path = write_jsonl(tmp_path / "questions.jsonl", [json.dumps(long)])

    code, _, err = psnx(capsys, "import", "--db", db, path)

    assert code == 1
    assert "line 1" in err
    assert "the limit is 2,000" in err
    assert count(db, "questions") == 0


def test_importing_a_missing_file_says_so(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    code, _, err = psnx(capsys, "import", "--db", db, tmp_path / "nowhere.jsonl")
    assert code == 1
    assert "nowhere.jsonl" in err
    assert "Traceback" not in err


# -- export ---------------------------------------------------------------------------


def answered_rows() -> list[dict[str, str]]:
    return [r for r in workshop_rows() if r.get("answer")]


@pytest.mark.parametrize("fmt", ["md", "html", "json", "csv"])
def test_export_has_the_answers_and_authorities_but_not_officers_names(
    capsys: pytest.CaptureFixture[str], imported: Path, fmt: str
) -> None:
    code, out, err = psnx(capsys, "export", "--db", imported, "--format", fmt)

    assert code == 0, err
    for row in answered_rows():
        assert row["answer"][:60] in out.replace("&#x27;", "'")
        assert row["authority"] in out
    for name in {row["officer"] for row in workshop_rows()}:
        assert name not in out


def test_json_export_is_one_record_per_answered_question(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, out, _ = psnx(capsys, "export", "--db", imported, "--format", "json")

    records = json.loads(out)
    assert code == 0
    assert len(records) == len(answered_rows())
    assert all(r["release"] == 1 and r["authorities"] for r in records)
    assert all("askers" not in r for r in records)


def test_csv_export_reads_back_as_csv(
    capsys: pytest.CaptureFixture[str], imported: Path, tmp_path: Path
) -> None:
    target = tmp_path / "kb.csv"
    code, out, _ = psnx(capsys, "export", "--db", imported, "--format", "csv", "-o", target)

    assert code == 0
    assert str(target) in out
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == len(answered_rows())
    assert all(row["askers"] == "" for row in rows)


def test_html_export_escapes_what_people_typed(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    row = {
        "text": "Is <script>alert('psn')</script> in a question safe in the export?",
        "authority": "Rutland County Council",
        "officer": "Jo Smith",
        "answer": "Yes: <script>alert('answer')</script> is shown as text, never run.",
    }
    path = write_jsonl(tmp_path / "questions.jsonl", [json.dumps(row)])
    assert psnx(capsys, "import", "--db", db, path)[0] == 0

    code, out, _ = psnx(capsys, "export", "--db", db, "--format", "html")

    assert code == 0
    assert "<script" not in out
    assert "&lt;script&gt;alert(" in out


# -- match ----------------------------------------------------------------------------


def test_match_prints_one_line_per_query_in_input_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"id": "c1", "text": "How is quality of service handled in PSN?"}),
            json.dumps({"id": "c2", "text": "Will our GCSx Code of Connection carry over to PSN?"}),
            json.dumps({"id": "c3", "text": "Who pays for the regional PSN procurement?"}),
        ],
    )
    queries = write_jsonl(
        tmp_path / "queries.jsonl",
        [
            json.dumps(
                {"id": "q-coco", "text": "Does our GCSx CoCo compliance carry over to PSN?"}
            ),
            json.dumps({"id": "q-qos", "text": "How does PSN handle QoS?"}),
            json.dumps({"id": 7, "text": "What colour is the sky?"}),
        ],
    )

    code, out, err = psnx(capsys, "match", "--corpus", corpus, "--queries", queries, "--top", "2")

    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in results] == ["q-coco", "q-qos", "7"]
    for result in results:
        assert set(result) == {"id", "matches"}
        assert len(result["matches"]) <= 2
        for match in result["matches"]:
            assert set(match) == {"id", "score", "duplicate"}
            assert 0 <= match["score"] <= 100
            assert isinstance(match["duplicate"], bool)
        scores = [m["score"] for m in result["matches"]]
        assert scores == sorted(scores, reverse=True)
    assert results[0]["matches"][0]["id"] == "c2"
    assert results[1]["matches"][0]["id"] == "c1"


def test_match_refuses_a_malformed_corpus_naming_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"id": "c1", "text": "How is quality of service handled in PSN?"}),
            '{"id": "c2", "text": "Will our GCSx',
        ],
    )
    queries = write_jsonl(tmp_path / "queries.jsonl", [json.dumps({"id": "q", "text": "QoS?"})])

    code, out, err = psnx(capsys, "match", "--corpus", corpus, "--queries", queries)

    assert code == 1
    assert "line 2" in err
    assert out == ""


def test_match_refuses_a_corpus_line_nested_too_deeply(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            json.dumps({"id": "c1", "text": "How is quality of service handled in PSN?"}),
            "[" * 100_000,
        ],
    )

    code, out, err = psnx(capsys, "match", "--corpus", corpus, "--queries", corpus)

    assert code == 1
    assert err == f"error: {corpus}, line 2: not valid JSON (nested too deeply).\n"
    assert out == ""


# -- the expert's work offline --------------------------------------------------------


def test_queue_lists_the_questions_most_authorities_first(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    qos = "How many classes of service will PSN carry for VoIP and video?"
    rows = [
        {
            "text": "Who owns the intellectual property in the regional PSN design?",
            "authority": "Derby City Council",
            "officer": "A",
            "asked_at": "2010-05-11T09:00:00Z",
        },
        {
            "text": "When will PSN reach north Nottinghamshire?",
            "authority": "Nottinghamshire County Council",
            "officer": "B",
            "asked_at": "2010-05-11T10:00:00Z",
        },
        {
            "text": qos,
            "authority": "Rutland County Council",
            "officer": "C",
            "asked_at": "2010-05-11T11:00:00Z",
        },
        {
            "text": qos,
            "authority": "Leicester City Council",
            "officer": "D",
            "asked_at": "2010-05-11T12:00:00Z",
        },
    ]
    path = write_jsonl(tmp_path / "questions.jsonl", [json.dumps(r) for r in rows])
    assert psnx(capsys, "import", "--db", db, path)[0] == 0

    code, out, _ = psnx(capsys, "queue", "--db", db)

    assert code == 0
    listed = [line.strip() for line in out.splitlines() if line.startswith("       ")]
    assert listed == [qos, rows[0]["text"], rows[1]["text"]]
    assert re.search(r"^\s*1\. Q-\d+\s+2 authorities, 2 asks", out, flags=re.MULTILINE)


def test_queue_says_one_authority_not_one_authorities(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    _, out, _ = psnx(capsys, "queue", "--db", imported, "--limit", "40")
    assert "1 authority," in out
    assert "1 authorities" not in out
    assert "1 asks" not in out


def test_queue_on_an_empty_exchange_says_so(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    Store.open(db).close()  # a new, empty exchange
    code, out, _ = psnx(capsys, "queue", "--db", db)
    assert code == 0
    assert "The queue is empty." in out


def test_reading_a_database_that_is_not_there_says_so_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    code, _, err = psnx(capsys, "queue", "--db", db)
    assert code == 1
    assert "There is no database at" in err
    assert not db.exists()


def test_answer_and_publish_make_the_next_release(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    _, queue, _ = psnx(capsys, "queue", "--db", imported, "--limit", "1")
    first = re.search(r"Q-\d+", queue)
    assert first
    ref = first[0]

    code, out, _ = psnx(
        capsys,
        "answer",
        "--db",
        imported,
        ref,
        "PSN replaces GCSx over time; plan your move with your supplier.",
        "--link",
        "https://www.gov.uk/government/groups/public-services-network",
    )
    assert code == 0
    assert f"Answer saved for {ref} (version 1)" in out

    code, out, _ = psnx(capsys, "publish", "--db", imported)
    assert code == 0
    assert out.startswith("The next release will publish 1 answer:\n")
    assert "→ https://www.gov.uk/government/groups/public-services-network" in out
    assert out.endswith("`psn-exchange publish --yes` publishes these.\n")
    assert count(imported, "releases") == 1

    code, out, _ = psnx(capsys, "publish", "--yes", "--db", imported)
    assert code == 0
    assert "Release 2: 1 answer," in out

    _, exported, _ = psnx(capsys, "export", "--db", imported, "--format", "json")
    record = next(r for r in json.loads(exported) if r["id"] == ref)
    assert record["release"] == 2
    assert record["links"] == ["https://www.gov.uk/government/groups/public-services-network"]
    _, queue_after, _ = psnx(capsys, "queue", "--db", imported)
    assert f"{ref} " not in queue_after


def test_publishing_with_nothing_new_is_refused_and_makes_no_release(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    for flags in ([], ["--yes"]):
        code, out, err = psnx(capsys, "publish", *flags, "--db", imported)
        assert code == 1
        assert "nothing to publish" in err
        assert out == ""
        assert count(imported, "releases") == 1


def test_answering_a_question_that_does_not_exist_is_refused(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, _, err = psnx(capsys, "answer", "--db", imported, "Q-999", "An answer to nothing at all.")
    assert code == 1
    assert "Q-999" in err
    assert count(imported, "answers") == len(answered_rows())


# -- dates and numbers out of range ----------------------------------------------------


@pytest.mark.parametrize("option", ["calibrate --since", "digest --since", "digest --until"])
@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01", "2201-01-01"]
)
def test_a_date_outside_1900_to_2200_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], imported: Path, option: str, when: str
) -> None:
    err = usage_error(capsys, *option.split(), when, "--db", imported)

    assert err.startswith("usage: psn-exchange")  # argparse's usage, then one line
    assert err.splitlines()[-1].endswith(f"{when!r} is not between the years 1900 and 2200")


def test_a_date_that_is_no_date_keeps_its_message(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    err = usage_error(capsys, "digest", "--since", "last tuesday", "--db", imported)
    assert "'last tuesday' is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM" in err


def test_the_oldest_and_newest_dates_allowed_work(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, _, err = psnx(capsys, "calibrate", "--since", "1900-01-01T00:00+14:00", "--db", imported)
    assert code == 0, err
    code, _, err = psnx(capsys, "digest", "--until", "2200-12-31T23:59-14:00", "--db", imported)
    assert code == 1
    assert "A digest cannot cover the future" in err


@pytest.mark.parametrize("command", ["queue --limit", "match --top"])
@pytest.mark.parametrize("number", ["99999999999999999999", "1000001", "9" * 5_000])
def test_a_huge_count_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], imported: Path, tmp_path: Path, command: str, number: str
) -> None:
    queries = write_jsonl(tmp_path / "q.jsonl", [json.dumps({"id": "q", "text": "PSN QoS?"})])
    files = ["--corpus", queries, "--queries", queries] if command.startswith("match") else []

    err = usage_error(capsys, *command.split(), number, "--db", imported, *files)

    assert err.splitlines()[-1].endswith("is too large; use a whole number up to 1,000,000")


@pytest.mark.parametrize(
    "argv",
    [
        ["queue", "--db=--"],
        ["export", "-o--"],
        ["answer", "--", "Q-1", "--"],
        ["answer", "Q-1", "PSN keeps your markings.", "--link=--"],
    ],
    ids=" ".join,
)
def test_a_lone_double_dash_as_a_value_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    err = usage_error(capsys, *argv)
    assert err.splitlines()[-1].endswith("expected one argument ('--' alone is not a value)")


@pytest.mark.parametrize("number", ["0", "-3", "many", "1.5"])
def test_a_count_below_one_keeps_its_message(
    capsys: pytest.CaptureFixture[str], imported: Path, number: str
) -> None:
    err = usage_error(capsys, "queue", "--limit", number, "--db", imported)
    assert err.splitlines()[-1].endswith(f"{number!r} is not a whole number of 1 or more")


def test_the_largest_count_allowed_works(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, out, _ = psnx(capsys, "queue", "--limit", "1000000", "--db", imported)
    assert code == 0
    assert "1 authority," in out


# -- bytes that are not UTF-8 ----------------------------------------------------------

# What a shell's argument becomes when it holds a byte that is not UTF-8 (here 0xE9, the
# Latin-1 é): Python decodes argv with surrogateescape.
LATIN1_E = "\udce9"


def test_a_file_name_that_is_not_utf8_is_printed_with_a_replacement_character(
    capsys: pytest.CaptureFixture[str], imported: Path, tmp_path: Path
) -> None:
    target = tmp_path / f"caf{LATIN1_E}.db"

    code, out, err = psnx(capsys, "db", "backup", "--db", imported, target)

    assert code == 0, err
    assert out == f"backed up {imported} to {tmp_path}/caf\ufffd.db (checked)\n"
    assert (tmp_path / b"caf\xe9.db".decode("utf-8", "surrogateescape")).exists()
    code, out, _ = psnx(capsys, "export", "--db", imported, "-o", tmp_path / f"kb{LATIN1_E}.md")
    assert code == 0
    assert out == f"wrote {tmp_path}/kb\ufffd.md\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["privacy", "export", f"console:caf{LATIN1_E}"],
        ["privacy", "forget", f"console:caf{LATIN1_E}"],
        ["answer", "Q-1", f"Our caf{LATIN1_E} wifi is not on PSN."],
        ["answer", "Q-1", "PSN keeps your markings.", "--link", f"https://caf{LATIN1_E}.example"],
    ],
    ids=["privacy export", "privacy forget", "answer text", "answer --link"],
)
def test_a_text_argument_that_is_not_utf8_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], imported: Path, argv: list[str]
) -> None:
    err = usage_error(capsys, *argv, "--db", imported)

    assert err.splitlines()[-1].endswith("has bytes that are not UTF-8 text; please type it again")
    assert count(imported, "answers") == len(answered_rows())


def test_match_refuses_an_id_that_is_half_a_character(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    corpus = write_jsonl(tmp_path / "corpus.jsonl", ['{"id": "c\\ud800", "text": "PSN QoS?"}'])

    code, out, err = psnx(capsys, "match", "--corpus", corpus, "--queries", corpus)

    assert code == 1
    assert 'line 1: "id" is not valid text' in err
    assert out == ""


def test_skipped_unknown_fields_are_listed_escaped(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    good = workshop_rows()[0]
    rows = [dict(good, **{"\ud800": 1}), dict(good, **{"\x1b[2J": 1}), dict(good, colour=1)]
    path = write_jsonl(tmp_path / "q.jsonl", [json.dumps(row) for row in rows])

    code, out, err = psnx(capsys, "import", "--db", db, "--skip-bad", path)

    assert code == 0, err
    assert "skipped line 1: unknown field '\\ud800'" in out
    assert "skipped line 2: unknown field '\\x1b[2J'" in out
    assert "skipped line 3: unknown field colour" in out


# -- db check -------------------------------------------------------------------------


def test_db_check_says_ok_on_a_fresh_database(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, out, _ = psnx(capsys, "db", "check", "--db", imported)
    assert code == 0
    assert ": ok" in out


def test_db_check_without_a_database_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "none.db"
    code, _, err = psnx(capsys, "db", "check", "--db", missing)
    assert code == 1
    assert "There is no database at" in err
    assert not missing.exists()


def test_db_check_reports_a_missing_fts_trigger(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    with sqlite3.connect(imported) as conn:
        conn.execute("DROP TRIGGER answers_ai")
    code, out, _ = psnx(capsys, "db", "check", "--db", imported)
    assert code == 1
    assert "answers_ai" in out


def test_db_check_on_a_corrupt_file_explains_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"not a database at all\n" * 100)
    code, _, err = psnx(capsys, "db", "check", "--db", damaged)
    assert code == 1
    assert "not a usable PSN Exchange database" in err


def test_db_check_runs_as_a_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "exchange.db"
    Store.open(db).close()  # creates and migrates it
    done = subprocess.run(
        [sys.executable, "-m", "knowledge.cli", "db", "check", "--db", db, "--config", CONFIG],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


# -- help and configuration -----------------------------------------------------------

COMMANDS = [
    ["console"],
    ["import"],
    ["export"],
    ["match"],
    ["queue"],
    ["answer"],
    ["publish"],
    ["drafts"],
    ["discard"],
    ["unmerge"],
    ["db"],
    ["db", "check"],
]


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "top")
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("usage: psn-exchange")


def test_every_command_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"psn-exchange {name}" in readme, name
    assert "psn-exchange db check" in readme


def test_a_typo_in_the_config_file_stops_with_the_key_named(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[matching]\nduplicate_treshold = 90\n", encoding="utf-8")

    code, out, err = psnx(capsys, "queue", "--db", db, "--config", config)

    assert code == 2
    assert "matching.duplicate_treshold" in err
    assert out == ""
    assert not db.exists()


def test_export_names_askers_only_when_configured(
    capsys: pytest.CaptureFixture[str], imported: Path, tmp_path: Path
) -> None:
    shipped = CONFIG.read_text(encoding="utf-8")
    assert "name_askers_in_exports = false" in shipped
    config = tmp_path / "config.toml"
    config.write_text(
        shipped.replace("name_askers_in_exports = false", "name_askers_in_exports = true"),
        encoding="utf-8",
    )

    code, out, _ = psnx(capsys, "export", "--db", imported, "--format", "json", "--config", config)

    assert code == 0
    askers = {name for record in json.loads(out) for name in record["askers"]}
    assert {row["officer"] for row in answered_rows()} <= askers


# -- deliveries -------------------------------------------------------------------------


def test_deliveries_lists_what_failed_and_retry_gives_it_another_round(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, out, _ = psnx(capsys, "deliveries", "--db", imported)
    assert code == 0
    assert "none has failed" in out
    conn = sqlite3.connect(imported)
    with conn:
        conn.execute(
            "INSERT INTO outbox (key, kind, audience, body, attempts, last_error, created_at) "
            "VALUES ('digest:x', 'digest', 'steering', '# Digest', 8, '403 Missing Access', "
            "'2026-11-20T09:00:00+00:00')"
        )
    conn.close()

    code, out, _ = psnx(capsys, "deliveries", "--db", imported)
    assert code == 0
    assert "notice 1: digest for steering, 8 failed attempts (GAVE UP)" in out
    assert "last error: 403 Missing Access" in out
    assert "psn-exchange deliveries --retry" in out

    code, out, _ = psnx(capsys, "deliveries", "--db", imported, "--retry")
    assert code == 0
    assert out.startswith("1 message given a fresh round")
    assert "none has failed" in psnx(capsys, "deliveries", "--db", imported)[1]


def test_a_failed_import_into_a_new_database_leaves_no_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fresh = tmp_path / "new.db"
    code, _, err = psnx(capsys, "import", "--db", fresh, malformed(tmp_path))
    assert code == 1
    assert "nothing was imported" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["questions.jsonl"]


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"psn-exchange {version('psn-exchange')}\n"


def test_import_help_lists_the_columns_and_match_offers_no_db(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "text, authority, officer (required); topic, asked_at, answer, links (optional)" in (
        shown
    )
    with pytest.raises(SystemExit):
        main(["match", "--help"])
    assert "--db" not in capsys.readouterr().out
    assert "unrecognized arguments: --db" in usage_error(
        capsys, "match", "--db", "x.db", "--corpus", "c", "--queries", "q"
    )


def test_privacy_find_gives_the_keys_privacy_takes(
    capsys: pytest.CaptureFixture[str], imported: Path
) -> None:
    code, out, _ = psnx(capsys, "privacy", "find", "--db", imported, "derbyshire")
    assert code == 0
    rows = [line.split("\t") for line in out.splitlines()]
    assert rows
    assert all(r[2].startswith("Derbyshire ") for r in rows)  # the council and the police
    key = rows[0][0]
    code, exported, _ = psnx(capsys, "privacy", "export", "--db", imported, key)
    assert code == 0
    assert json.loads(exported)["officer"] is not None

    code, _, err = psnx(capsys, "privacy", "find", "--db", imported, "Atlantis")
    assert code == 1
    assert "No officer's name, key or authority contains 'Atlantis'." in err
    code, _, err = psnx(capsys, "privacy", "find", "--db", imported, "x")
    assert code == 1
    assert "at least two letters" in err


def test_the_licence_named_in_pyproject_is_in_the_repository() -> None:
    assert 'license = { text = "MIT" }' in (REPO / "pyproject.toml").read_text()
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
