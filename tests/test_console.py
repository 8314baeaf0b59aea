"""The console channel: the Discord conversation typed in a terminal."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.config import Settings
from knowledge.console import Console
from knowledge.exchange import Exchange
from knowledge.models import Actor
from tests.conftest import REPO, Clock

SCRIPT = REPO / "examples" / "two-officers.txt"
QOS = "How is quality of service handled in PSN, and how many classes of service will there be?"
COCO = "Will our GCSx Code of Connection compliance carry over when we move to PSN?"
TABLES = ("questions", "asks", "answers", "releases", "outbox", "events", "drafts")


def run(exchange: Exchange, *lines: str) -> str:
    """Type the lines into a fresh console; return everything it printed."""
    out = io.StringIO()
    assert Console(exchange, out, echo=True).run(lines) == 0
    return out.getvalue()


def snapshot(exchange: Exchange) -> dict[str, list[tuple[object, ...]]]:
    conn = exchange.store.conn
    return {t: conn.execute(f"SELECT * FROM [{t}] ORDER BY id").fetchall() for t in TABLES}


def delivered(output: str, name: str, ref: str) -> int:
    return output.count(f"📬 to {name}: answer to {ref} ")


# -- the example session --------------------------------------------------------------


def test_two_officers_ask_the_same_thing_and_both_get_the_answer_once(exchange: Exchange) -> None:
    script = SCRIPT.read_text(encoding="utf-8").splitlines()

    output = run(exchange, *script)

    # Anita is offered Helen's question, follows it, and no second question is made.
    offered = output.split("/ask Can we carry our GCSx CoCo", 1)[1]
    assert 'This looks like Q-1 "Will our existing GCSx Code of Connection' in offered
    assert "Type /follow Q-1" in offered
    assert "You now follow Q-1: 2 authorities wait on it" in output
    assert exchange.store.conn.execute("SELECT COUNT(*) FROM questions").fetchone()[0] == 2
    # After /publish each officer receives their answer exactly once.
    assert "Release 1 published: 2 answers" in output
    assert delivered(output, "Helen Cartwright", "Q-1") == 1
    assert delivered(output, "Anita Chauhan", "Q-1") == 1
    assert delivered(output, "Paul Hextall", "Q-2") == 1
    assert delivered(output, "Paul Hextall", "Q-1") == 0
    assert delivered(output, "Helen Cartwright", "Q-2") == 0
    # The search at the end finds the answered question by its long form.
    after_search = output.split("/search code of connection", 1)[1].splitlines()
    assert after_search[1].startswith("  Q-1 [other, answered]")

    # A console started again later owes nobody anything more.
    again = run(exchange, "/as Helen Cartwright @ Derbyshire County Council", "/mine")
    assert "📬" not in again
    assert "Q-1 [other, answered]" in again


def test_the_example_runs_unattended_from_standard_input(tmp_path: Path) -> None:
    with SCRIPT.open(encoding="utf-8") as script:
        done = subprocess.run(
            [
                Path(sys.executable).parent / "psn-exchange",
                "console",
                "--db",
                tmp_path / "console.db",
                "--config",
                REPO / "config.toml",
            ],
            stdin=script,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert delivered(done.stdout, "Helen Cartwright", "Q-1") == 1
    assert delivered(done.stdout, "Anita Chauhan", "Q-1") == 1
    assert "Traceback" not in done.stderr


# -- mistakes get a hint --------------------------------------------------------------


def test_an_unknown_command_points_at_help(exchange: Exchange) -> None:
    output = run(exchange, "/frobnicate now")
    assert "There is no command /frobnicate. Type /help for the list." in output


def test_a_line_without_a_slash_gets_a_hint(exchange: Exchange) -> None:
    before = snapshot(exchange)
    output = run(exchange, "/as Jo @ Rutland County Council", "how do I connect to PSN?")
    assert "Commands start with / (for example /ask or /help)." in output
    assert snapshot(exchange)["questions"] == before["questions"] == []


def test_a_script_that_is_not_utf8_is_refused_line_by_line(tmp_path: Path) -> None:
    script = (
        "/as Jo Smith @ Rutland County Council\n"
        "/ask Does the caf\xe9 wifi in our offices count as PSN?\n"
        "/ask Does the cafe wifi in our offices count as PSN?\n"
    ).encode("latin-1")
    done = subprocess.run(
        [
            Path(sys.executable).parent / "psn-exchange",
            "console",
            "--db",
            tmp_path / "console.db",
            "--config",
            REPO / "config.toml",
        ],
        input=script,
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},  # strict, as in a UTF-8 locale
    )
    out, err = done.stdout.decode(), done.stderr.decode()

    assert done.returncode == 0, err
    assert "Traceback" not in err
    assert "> /ask Does the caf? wifi" in out
    assert "⚠ That line has bytes that are not UTF-8 text, so it was not read." in out
    assert "your question is Q-1" in out


def test_help_lists_every_command(exchange: Exchange) -> None:
    output = run(exchange, "/help")
    console = Console(exchange, io.StringIO(), echo=False)
    for name in console.commands:
        assert f"/{name}" in output


def test_as_with_bad_syntax_explains_and_keeps_the_speaker(exchange: Exchange) -> None:
    output = run(
        exchange,
        "/as Jo Smith @ Rutland County Council",
        "/as",
        "/as @ Derby City Council",
        "/as Jo @",
        "/mine",
    )
    assert output.count("⚠ Use /as NAME @ AUTHORITY") == 3
    assert output.rstrip().splitlines()[-2].startswith("Jo Smith @ Rutland County Council> /mine")


def test_asking_before_naming_an_authority_is_explained(exchange: Exchange) -> None:
    output = run(exchange, "/as Jo Smith", f"/ask {COCO}")
    assert "please tell us which authority you work for" in output
    assert snapshot(exchange)["questions"] == []


def test_merge_with_bad_syntax_shows_an_example(exchange: Exchange) -> None:
    output = run(exchange, "/as Geoff @ Cabinet Office expert", "/merge Q-1")
    assert "⚠ Use /merge Q-ID INTO-Q-ID, for example /merge Q-7 Q-3." in output


def test_a_bad_question_id_is_explained(exchange: Exchange) -> None:
    output = run(exchange, "/as Jo @ Rutland County Council", "/follow question one")
    assert "is not a question id. Question ids look like Q-42." in output


# -- officers cannot do the expert's work ---------------------------------------------


def test_an_officer_cannot_answer_merge_publish_or_see_the_queue(exchange: Exchange) -> None:
    run(
        exchange,
        "/as Helen Cartwright @ Derbyshire County Council",
        f"/ask {COCO}",
        "/as Paul Hextall @ East Midlands Broadband Consortium",
        f"/ask {QOS}",
        "/as Geoff @ Cabinet Office expert",
        "/answer Q-2 Five classes of service, rising to six, including EF for VoIP.",
    )
    before = snapshot(exchange)

    output = run(
        exchange,
        "/as Helen Cartwright @ Derbyshire County Council",
        "/answer Q-1 Yes, it all carries over, I have decided.",
        "/merge Q-2 Q-1",
        "/publish",
        "/queue",
    )

    assert "⚠ Only the PSN expert can answer questions." in output
    assert "⚠ Only the PSN expert can merge questions." in output
    assert "⚠ Only the PSN expert can publish a release." in output
    assert "⚠ Only the PSN expert and the steering group can see the queue." in output
    assert "📬" not in output
    assert snapshot(exchange) == before


def test_an_officer_cannot_withdraw_someone_elses_question(exchange: Exchange) -> None:
    run(
        exchange,
        "/as Helen Cartwright @ Derbyshire County Council",
        f"/ask {COCO}",
        "/as Anita Chauhan @ Nottingham City Council",
    )
    before = snapshot(exchange)

    output = run(exchange, "/as Anita Chauhan @ Nottingham City Council", "/withdraw Q-1")

    assert "⚠ You have not asked or followed Q-1" in output
    assert "You can only withdraw your own questions." in output
    assert snapshot(exchange) == before
    mine = run(exchange, "/as Helen Cartwright @ Derbyshire County Council", "/mine")
    assert "Q-1 [other, open, number 1 in the queue]" in mine


def test_an_officer_can_withdraw_their_own_question(exchange: Exchange) -> None:
    output = run(
        exchange,
        "/as Helen Cartwright @ Derbyshire County Council",
        f"/ask {COCO}",
        "/withdraw Q-1",
        "/as Geoff @ Cabinet Office expert",
        "/queue",
    )
    assert "You withdrew from Q-1 and, as nobody else waits on it" in output
    assert "The queue is empty" in output


# -- a busy database ------------------------------------------------------------------

BUSY = "is busy (another program is writing to it). Nothing was changed; please try again"
ANSWER = "Yes: the CoCo work you have done carries over, with minimum rework."


@pytest.fixture
def impatient(settings: Settings, clock: Clock) -> Iterator[Exchange]:
    """A console's exchange on the shared database that waits only 50 ms for a lock."""
    database = settings.database.model_copy(update={"busy_timeout_ms": 50})
    opened = Exchange.open(settings.model_copy(update={"database": database}), clock)
    yield opened
    opened.close()


@pytest.fixture
def other_program(settings: Settings) -> Iterator[sqlite3.Connection]:
    """Another program's connection to the same database file."""
    conn = sqlite3.connect(settings.database.path, isolation_level=None)
    yield conn
    conn.close()


def owed(exchange: Exchange) -> int:
    query = "SELECT COUNT(*) FROM outbox WHERE status = 'owed'"
    return int(exchange.store.conn.execute(query).fetchone()[0])


def test_a_busy_database_is_explained_and_the_console_carries_on(
    impatient: Exchange, exchange: Exchange, expert: Actor, other_program: sqlite3.Connection
) -> None:
    def session() -> Iterator[str]:
        yield "/as Helen Cartwright @ Derbyshire County Council"
        yield f"/ask {COCO}"
        # The expert answers and publishes from the command line (another process) ...
        exchange.answer(expert, "Q-1", ANSWER)
        exchange.publish(expert)
        # ... and a third program takes the write lock for a long write.
        other_program.execute("BEGIN IMMEDIATE")
        yield "/mine"  # reads still work; Helen's answer cannot be marked sent
        yield f"/ask {QOS}"  # a write: busy
        yield "/mine"
        yield "# the other program has finished"
        other_program.execute("ROLLBACK")
        yield "/mine"
        yield f"/ask {QOS}"

    out = io.StringIO()
    assert Console(impatient, out, echo=True).run(session()) == 0
    output = out.getvalue()

    busy, finished = output.split("# the other program has finished")
    assert busy.count(BUSY) == 2  # the deliveries (said once), and the /ask
    assert busy.count("Answers owed here are printed after a later command.") == 1
    assert "Q-1 [other, answered]" in busy
    assert "📬" not in busy
    assert delivered(finished, "Helen Cartwright", "Q-1") == 1
    assert "your question is Q-2" in finished
    assert BUSY not in finished
    assert owed(impatient) == 0
    assert snapshot(impatient)["questions"] == snapshot(exchange)["questions"]
    assert len(snapshot(impatient)["questions"]) == 2
    assert "📬" not in run(impatient, "/as Helen Cartwright @ Derbyshire County Council", "/mine")


def test_a_console_starts_and_carries_on_while_another_program_writes(
    settings: Settings, exchange: Exchange, clock: Clock, other_program: sqlite3.Connection
) -> None:
    run(exchange, "/as Helen Cartwright @ Derbyshire County Council", f"/ask {COCO}")
    other_program.execute("BEGIN IMMEDIATE")
    database = settings.database.model_copy(update={"busy_timeout_ms": 50})
    started = Exchange.open(settings.model_copy(update={"database": database}), clock)
    try:
        output = run(started, "/as Helen Cartwright", "/mine", f"/ask {QOS}", "/search PSN")
    finally:
        started.close()

    assert "Q-1 [other, open, number 1 in the queue]" in output
    assert output.count(BUSY) == 1
    assert "GCSx Code of Connection" in output.split("/search PSN")[1]


def test_as_with_a_refused_authority_changes_nothing(exchange: Exchange) -> None:
    output = run(
        exchange,
        "/as Helen Cartwright @ Derbyshire County Council",
        "/as Mallory @ " + "x" * 130,
        f"/ask {COCO}",
    )
    assert "⚠ Please give your authority's name in words, up to 120 characters" in output
    # Still Helen: the question is hers, and no officer called Mallory was kept.
    assert "Helen Cartwright @ Derbyshire County Council> /ask" in output
    assert exchange.store.officers.get("console:mallory") is None
