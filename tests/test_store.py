"""The SQLite store: migrations, FTS triggers, a normal file other tools can open, and
databases that cannot be used (missing folder, corrupt, read-only, locked)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlite_utils

from knowledge.config import Settings
from knowledge.errors import InvalidInput, StoreError
from knowledge.exchange import Exchange
from knowledge.migrations import MIGRATIONS
from knowledge.models import Actor, NewQuestion
from knowledge.store import Store, fts_query
from knowledge.store.database import add_functions
from tests.conftest import Clock, officer

FTS_TRIGGERS = {
    "questions_ai",
    "questions_ad",
    "questions_au",
    "answers_ai",
    "answers_ad",
    "answers_au",
}
FTS_VERSION = next(
    version for version, (_, sql) in enumerate(MIGRATIONS, start=1) if "fts5" in sql.lower()
)
# Asks got their own full-text index later ("every wording searchable").
ASKS_FTS_VERSION = next(
    version
    for version, (name, _) in enumerate(MIGRATIONS, start=1)
    if name == "every wording searchable"
)
ASKS_FTS_TRIGGERS = {"asks_ai", "asks_ad", "asks_au"}
# And peer replies theirs ("helpful and solved").
REPLIES_FTS_VERSION = next(
    version for version, (name, _) in enumerate(MIGRATIONS, start=1) if name == "helpful and solved"
)
REPLIES_FTS_TRIGGERS = {"replies_ai", "replies_ad", "replies_au"}
# And shared notes theirs ("shared notes").
NOTES_FTS_VERSION = next(
    version for version, (name, _) in enumerate(MIGRATIONS, start=1) if name == "shared notes"
)
NOTES_FTS_TRIGGERS = {"notes_ai", "notes_ad", "notes_au"}
QUESTION = "Will our GCSx Code of Connection compliance carry over to the Public Sector Network?"


def triggers(path: Path) -> set[str]:
    """The full-text triggers in the file (others, like the matcher's change log or the
    authorities' key check, aside)."""
    with sqlite3.connect(path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")}
    others = ("_matching_", "_changes_", "authorities_")
    return {name for name in names if not any(part in name for part in others)}


def schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def count(path: Path, table: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0])
    finally:
        conn.close()


def at_version(path: Path, version: int) -> None:
    """A database as an older release left it: the first `version` migrations, by hand."""
    conn = sqlite3.connect(path)
    add_functions(conn)
    for _, sql in MIGRATIONS[:version]:
        conn.executescript(sql)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


def settings_for(settings: Settings, path: Path, busy_timeout_ms: int = 5000) -> Settings:
    database = settings.database.model_copy(
        update={"path": path, "busy_timeout_ms": busy_timeout_ms}
    )
    return settings.model_copy(update={"database": database})


# -- migrations -----------------------------------------------------------------------


def test_the_fts_migration_is_one_of_the_migrations() -> None:
    assert 1 <= FTS_VERSION <= len(MIGRATIONS)


@pytest.mark.parametrize("version", range(len(MIGRATIONS) + 1))
def test_fts_triggers_exist_after_every_migration(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    at_version(path, version)
    expected = FTS_TRIGGERS if version >= FTS_VERSION else set()
    expected |= ASKS_FTS_TRIGGERS if version >= ASKS_FTS_VERSION else set()
    expected |= REPLIES_FTS_TRIGGERS if version >= REPLIES_FTS_VERSION else set()
    expected |= NOTES_FTS_TRIGGERS if version >= NOTES_FTS_VERSION else set()
    assert triggers(path) == expected

    store = Store.open(path)
    try:
        applied = store.migrate()
        assert applied == []  # open() already brought it up to date
        assert store.schema_version == len(MIGRATIONS)
        assert store.check() == []
    finally:
        store.close()
    assert triggers(path) == (
        FTS_TRIGGERS | ASKS_FTS_TRIGGERS | REPLIES_FTS_TRIGGERS | NOTES_FTS_TRIGGERS
    )


def test_each_migration_step_applied_through_the_store_keeps_the_triggers(tmp_path: Path) -> None:
    """Open at every intermediate version and migrate up: the same schema as a fresh file."""
    fresh = tmp_path / "fresh.db"
    Store.open(fresh).close()
    for version in range(len(MIGRATIONS)):
        path = tmp_path / f"v{version}.db"
        at_version(path, version)
        store = Store.open(path)
        store.close()
        assert schema(path) == schema(fresh), f"migrating up from version {version}"


def test_migrate_twice_changes_nothing(
    exchange: Exchange, alice: Actor, settings: Settings
) -> None:
    exchange.ask(alice, QUESTION)
    path = settings.database.path
    before = schema(path)

    assert exchange.store.migrate() == []
    assert exchange.store.migrate() == []

    assert schema(path) == before
    assert count(path, "questions") == 1
    assert exchange.store.schema_version == len(MIGRATIONS)


def test_an_upgrade_merges_authorities_people_read_as_one(tmp_path: Path) -> None:
    """An older release kept "Ynys Môn" and "YNYS MÔN" apart, and counted both as demand."""
    path = tmp_path / "old.db"
    version = next(
        n for n, (name, _) in enumerate(MIGRATIONS) if name == "authorities as people read them"
    )
    at_version(path, version)
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO authorities (id, name, created_at) VALUES (?, ?, 'x')",
            [(1, "Ynys Môn"), (2, "Conwy"), (3, "YNYS MÔN")],
        )
        conn.executemany(
            "INSERT INTO officers (id, user_key, authority_id, created_at) VALUES (?, ?, ?, 'x')",
            [(1, "test:una", 1), (2, "test:vic", 3), (3, "test:wyn", 2)],
        )
        conn.execute(
            "INSERT INTO questions (id, text, topic, status, created_at, updated_at, demand, "
            "waiting_since) VALUES (1, 'QoS?', 'technical', 'open', :at, :at, 3, :at)",
            {"at": "2010-05-11T09:00:00+00:00"},
        )
        conn.executemany(
            "INSERT INTO asks (question_id, officer_id, authority_id, text, link, asked_at) "
            "VALUES (1, ?, ?, 'QoS?', 'new', 'x')",
            [(1, 1), (2, 3), (3, 2)],
        )

    store = Store.open(path)
    try:
        assert store.check() == []
        assert sorted(store.officers.authority_names()) == ["Conwy", "Ynys Môn"]
        assert [store.officers.get(f"test:{n}").authority for n in ("una", "vic", "wyn")] == [
            "Ynys Môn",
            "Ynys Môn",
            "Conwy",
        ]
        assert store.questions.get(1).authorities == 2  # Ynys Môn and Conwy, not three
        assert store.asks.authorities_behind([1]) == {1: ("Conwy", "Ynys Môn")}
        assert store.officers.authority_id("ynys môn", datetime.now(UTC)) == 1
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(
                "INSERT INTO authorities (name, key, created_at) VALUES ('YNYS Môn', ?, 'x')",
                ["ynys môn"],
            )
        with pytest.raises(sqlite3.IntegrityError, match="key is required"):
            conn.execute("INSERT INTO authorities (name, created_at) VALUES ('Gwynedd', 'x')")


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer version"):
        Store.open(path)


# -- a normal SQLite file -------------------------------------------------------------


def test_sqlite_utils_finds_the_fts_index_and_searches_it(
    exchange: Exchange, alice: Actor, settings: Settings
) -> None:
    outcome = exchange.ask(alice, QUESTION)
    assert isinstance(outcome, NewQuestion)

    db = sqlite_utils.Database(settings.database.path)
    try:
        assert db["questions"].detect_fts() == "questions_fts"
        assert db["answers"].detect_fts() == "answers_fts"
        found = list(db["questions"].search("connection"))
        assert [row["id"] for row in found] == [outcome.question.id]
        assert list(db["questions"].search("broadband")) == []
    finally:
        db.close()


def test_the_fts_index_follows_edits_and_deletes(exchange: Exchange, alice: Actor) -> None:
    outcome = exchange.ask(alice, QUESTION)
    assert isinstance(outcome, NewQuestion)
    db = exchange.store.db
    db.execute(
        "UPDATE questions SET text = 'How are VoIP classes of service marked?' WHERE id = ?",
        [outcome.question.id],
    )
    assert list(db["questions"].search("connection")) == []
    assert len(list(db["questions"].search("voip"))) == 1
    assert exchange.store.check() == []


def test_the_file_opens_read_only_in_plain_sqlite3(
    exchange: Exchange, alice: Actor, settings: Settings
) -> None:
    exchange.ask(alice, QUESTION)
    conn = sqlite3.connect(f"file:{settings.database.path}?mode=ro", uri=True)
    try:
        texts = [r[0] for r in conn.execute("SELECT text FROM questions")]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM questions")
    finally:
        conn.close()
    assert texts == [QUESTION]


def test_the_journal_mode_is_wal(exchange: Exchange, settings: Settings) -> None:
    with sqlite3.connect(settings.database.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- check() --------------------------------------------------------------------------


def test_check_finds_nothing_wrong_with_a_healthy_database(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    outcome = exchange.ask(alice, QUESTION)
    exchange.answer(expert, outcome.question.id, "Yes: your CoCo work carries forward.")
    exchange.publish(expert)
    assert exchange.store.check() == []


@pytest.mark.parametrize("trigger", sorted(FTS_TRIGGERS))
def test_check_reports_a_dropped_fts_trigger(
    exchange: Exchange, alice: Actor, trigger: str
) -> None:
    exchange.ask(alice, QUESTION)
    exchange.store.conn.execute(f"DROP TRIGGER [{trigger}]")

    problems = exchange.store.check()

    assert len(problems) == 1
    assert trigger in problems[0]


def test_check_reports_an_index_out_of_step_with_its_table(
    exchange: Exchange, alice: Actor
) -> None:
    exchange.ask(alice, QUESTION)
    exchange.store.conn.execute("DROP TRIGGER questions_au")
    exchange.store.conn.execute("UPDATE questions SET text = 'Something else entirely now'")
    problems = exchange.store.check()
    assert any("questions_fts" in p for p in problems)


# -- databases that cannot be used ----------------------------------------------------


def test_a_missing_folder_is_explained_and_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "no-such-folder"
    with pytest.raises(StoreError) as raised:
        Store.open(folder / "exchange.db")
    assert str(folder) in str(raised.value)
    assert "does not exist" in str(raised.value)
    assert not folder.exists()


@pytest.mark.parametrize(
    "content",
    [os.urandom(8192), b"These are my meeting notes, not a database.\n" * 200],
    ids=["random-bytes", "text"],
)
def test_a_corrupt_file_is_explained_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "exchange.db"
    path.write_bytes(content)

    with pytest.raises(StoreError) as raised:
        Store.open(path)

    assert "not a usable PSN Exchange database" in str(raised.value)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == content


def test_a_corrupt_file_stops_the_exchange_opening(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    path = tmp_path / "damaged.db"
    path.write_text("PK\x03\x04 a spreadsheet saved with the wrong name", encoding="utf-8")
    with pytest.raises(StoreError, match="damaged or another kind of file"):
        Exchange.open(settings_for(settings, path), clock)


def _as_nobody(attempt: Callable[[], str]) -> str:
    """Run `attempt` in a forked child that has given up root, so file modes apply."""
    import importlib.metadata  # noqa: F401  (the child cannot read root's stdlib to import it)

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            os.setgid(65534)
            os.setuid(65534)
            result = attempt()
        except BaseException as error:  # report anything at all to the parent
            result = f"{type(error).__name__}: {error}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    return b"".join(chunks).decode()


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A folder outside root's private pytest tree, so an unprivileged child can reach it."""
    folder = Path(tempfile.mkdtemp(prefix="psnx-ro-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_read_only_database_is_explained_and_nothing_changes(
    settings: Settings, clock: Clock, world_readable_dir: Path
) -> None:
    path = world_readable_dir / "exchange.db"
    setup = Exchange.open(settings_for(settings, path), clock)
    alice = officer("Alice")
    setup.set_authority(alice, "Derbyshire County Council")
    setup.ask(alice, QUESTION)
    setup.close()
    path.chmod(0o444)

    def attempt() -> str:
        try:
            exchange = Exchange.open(settings_for(settings, path, busy_timeout_ms=50), clock)
            try:
                exchange.ask(alice, "How many classes of service will PSN provide for VoIP?")
            finally:
                exchange.close()
        except StoreError as error:
            return f"StoreError: {error}"
        return "saved"

    # Root ignores file modes, so as root the attempt runs in a child that drops to nobody.
    result = _as_nobody(attempt) if os.geteuid() == 0 else attempt()

    assert result.startswith("StoreError: ")
    assert "read-only" in result
    assert "nothing was changed" in result
    assert count(path, "questions") == 1


def test_a_locked_database_refuses_an_ask_kindly_and_keeps_nothing(
    exchange: Exchange, alice: Actor, settings: Settings, clock: Clock
) -> None:
    exchange.ask(alice, QUESTION)
    other = sqlite3.connect(settings.database.path, isolation_level=None)
    impatient = settings_for(settings, settings.database.path, busy_timeout_ms=50)
    second = Exchange.open(impatient, clock)
    new_words = "How many classes of service will PSN provide for VoIP and video?"
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError) as raised:
            second.ask(alice, new_words)
        other.execute("ROLLBACK")

        assert "busy" in str(raised.value)
        assert "Nothing was changed" in str(raised.value)
        assert count(settings.database.path, "questions") == 1
        assert count(settings.database.path, "asks") == 1
        # The failed ask left no trace in the matcher either: asking again is a new question.
        assert isinstance(second.ask(alice, new_words), NewQuestion)
    finally:
        second.close()
        other.close()


def test_a_locked_database_that_needs_migrating_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    at_version(path, 1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="busy"):
            Store.open(path, busy_timeout_ms=50)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert triggers(path) == set()


# -- FTS syntax and SQL in what users type --------------------------------------------

NO_WORDS = ['"', "*", "-", "'; --", "(*)"]
HOSTILE = [
    '"PSN',
    "PSN*",
    "NEAR(",
    "NEAR(PSN connection, 2)",
    "AND",
    "PSN AND",
    "OR NOT",
    "-PSN",
    "text: PSN",
    "^PSN",
    "'; DROP TABLE questions; --",
    "Robert'); DROP TABLE answers;--",
    "questions_fts MATCH '*'",
    "{text}: connection",
]


@pytest.fixture
def published(exchange: Exchange, alice: Actor, expert: Actor) -> int:
    """One answered question in the knowledge store; returns its id."""
    outcome = exchange.ask(alice, QUESTION)
    exchange.answer(expert, outcome.question.id, "Yes: your CoCo work carries forward.")
    exchange.publish(expert)
    return outcome.question.id


def still_intact(exchange: Exchange, path: Path, question_id: int) -> None:
    assert count(path, "questions") == 1
    assert count(path, "answers") == 1
    assert exchange.store.check() == []
    assert [hit.question.id for hit in exchange.search("code of connection")] == [question_id]


@pytest.mark.parametrize("typed", HOSTILE)
def test_fts_syntax_and_sql_in_a_search_never_break_it(
    exchange: Exchange, settings: Settings, published: int, typed: str
) -> None:
    hits = exchange.search(typed)
    assert isinstance(hits, list)
    still_intact(exchange, settings.database.path, published)


def test_a_search_with_sql_finds_the_words_in_it(exchange: Exchange, published: int) -> None:
    hits = exchange.search("'; DROP TABLE questions; -- connection")
    assert [hit.question.id for hit in hits] == [published]


@pytest.mark.parametrize("typed", NO_WORDS)
def test_a_search_with_no_words_asks_for_words(
    exchange: Exchange, settings: Settings, published: int, typed: str
) -> None:
    with pytest.raises(InvalidInput, match="type a word"):
        exchange.search(typed)
    still_intact(exchange, settings.database.path, published)


@pytest.mark.parametrize("typed", HOSTILE + NO_WORDS)
def test_fts_query_is_always_a_valid_match_expression(exchange: Exchange, typed: str) -> None:
    query = fts_query(typed)
    if query is not None:
        exchange.store.conn.execute(
            "SELECT rowid FROM questions_fts WHERE questions_fts MATCH ?", [query]
        ).fetchall()


def test_a_question_full_of_search_syntax_is_stored_and_found_as_typed(
    exchange: Exchange, alice: Actor
) -> None:
    typed = 'Does "NEAR(" or * or AND - break the PSN search? \'; DROP TABLE questions; --'
    outcome = exchange.ask(alice, typed)
    assert isinstance(outcome, NewQuestion)
    assert outcome.question.text == typed
    assert [hit.question.text for hit in exchange.search("break the PSN search")] == [typed]


def test_a_database_that_may_only_be_read_still_answers_reads(
    settings: Settings, clock: Clock, world_readable_dir: Path
) -> None:
    """A backup on read-only storage: queue, export, audit, digest preview, deliveries,
    drafts and db check work; a write is refused with the read-only explanation."""
    import contextlib
    import io

    from knowledge.cli import main
    from tests.conftest import REPO

    path = world_readable_dir / "exchange.db"
    setup = Exchange.open(settings_for(settings, path), clock)
    alice = officer("Alice")
    setup.set_authority(alice, "Derbyshire County Council")
    setup.ask(alice, QUESTION)
    setup.close()
    path.chmod(0o444)
    world_readable_dir.chmod(0o555)  # not even SQLite's files beside it can be made

    def run(*command: str) -> Callable[[], str]:
        def attempt() -> str:
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*command, "--db", str(path), "--config", str(REPO / "config.toml")])
            return f"{code}\n{out.getvalue()}\n{err.getvalue()}"

        return attempt

    def as_reader(attempt: Callable[[], str]) -> str:
        return _as_nobody(attempt) if os.geteuid() == 0 else attempt()

    try:
        assert as_reader(run("queue")).startswith("0\n   1. Q-1")
        assert as_reader(run("db", "check")).startswith("0\n")
        assert "integrity and full-text indexes checked" in as_reader(run("db", "check"))
        assert as_reader(run("export", "--format", "json")).startswith("0\n[]")
        assert '"action": "asked"' in as_reader(run("audit", "--format", "json"))
        assert as_reader(run("digest", "--preview", "--since", "2010-05-01")).startswith("0\n")
        assert as_reader(run("drafts")).startswith("0\nNo draft answers")
        refused = as_reader(run("answer", "Q-1", "An answer."))
        assert refused.startswith("1\n")
        assert "read-only" in refused
        assert "nothing was changed" in refused
    finally:
        world_readable_dir.chmod(0o777)
    assert count(path, "answers") == 0


def test_an_older_database_opened_only_to_read_says_how_to_upgrade_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    at_version(path, len(MIGRATIONS) - 1)
    with pytest.raises(StoreError, match="open it once where it can be written"):
        Store.open(path, read_only=True)
    assert (
        sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) - 1
    )  # untouched
