"""What an officer can see and erase of what is kept about them; backups."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from knowledge.cli import main
from knowledge.config import Settings
from knowledge.errors import NotFound
from knowledge.exchange import Exchange
from knowledge.models import Actor, NewQuestion
from knowledge.store import Store
from tests.conftest import officer
from tests.stories import QOS, new

COCO = "Will our GCSx Code of Connection compliance carry over to the Public Sector Network?"


def test_my_data_holds_everything_kept_about_me_and_nobody_else(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = exchange.ask(alice, COCO, place="test:#questions")
    assert isinstance(q, NewQuestion)
    exchange.ask(bob, "Can we carry our GCSx CoCo compliance over to PSN?")
    exchange.follow(bob, q.question.ref)
    exchange.answer(expert, q.question.ref, "Yes, with minimum rework.")
    exchange.publish(expert)

    mine = exchange.my_data(bob)

    assert mine["officer"]["display_name"] == "Bob"
    assert mine["officer"]["authority"] == "Nottingham City Council"
    assert [a["text"] for a in mine["asks"]] == [
        "Can we carry our GCSx CoCo compliance over to PSN?"
    ]
    assert [d["question"] for d in mine["deliveries"]] == ["Q-1"]
    assert "followed" in [e["action"] for e in mine["events"]]
    assert "Alice" not in json.dumps(mine)


def test_forget_me_erases_identity_but_keeps_the_question_useful(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = exchange.ask(alice, COCO)
    assert isinstance(q, NewQuestion)
    exchange.follow(bob, q.question.ref)

    kept = exchange.forget_me(alice)

    assert kept == 1
    assert exchange.my_data(alice)["officer"] is None
    names = [r["display_name"] for r in exchange.store.db["officers"].rows]
    assert "Alice" not in names
    question, _ = exchange.question(q.question.ref)
    assert question.text == COCO
    assert question.authorities == 2  # Derbyshire's demand still counts
    exchange.answer(expert, q.question.ref, "Yes, with minimum rework.")
    exchange.publish(expert)
    recipients = [d.recipient for d in exchange.owed_deliveries("")]
    assert recipients == ["test:bob"]


def test_forgetting_someone_unknown_says_so(exchange: Exchange) -> None:
    with pytest.raises(NotFound, match="no data about you"):
        exchange.forget_me(officer("Stranger"))


def test_a_forgotten_officer_starts_afresh(exchange: Exchange, alice: Actor) -> None:
    exchange.ask(alice, COCO)
    exchange.forget_me(alice)

    assert exchange.authority_of(alice) is None
    assert exchange.mine(alice) == []


def test_backup_is_a_consistent_checked_copy(
    exchange: Exchange, alice: Actor, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange.ask(alice, COCO)
    target = tmp_path / "copy.db"

    status = main(["db", "backup", str(target), "--db", str(exchange.settings.database.path)])

    assert status == 0
    assert "checked" in capsys.readouterr().out
    copy = Store.open(target, migrate=False)
    try:
        assert copy.check() == []
        assert copy.db["questions"].count == 1
    finally:
        copy.close()


def test_backup_never_overwrites(
    exchange: Exchange, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.db"
    target.write_text("precious")

    status = main(["db", "backup", str(target), "--db", str(exchange.settings.database.path)])

    assert status == 1
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == "precious"


def test_privacy_cli_exports_and_forgets(
    exchange: Exchange, alice: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange.ask(alice, COCO)
    db = str(exchange.settings.database.path)

    assert main(["privacy", "export", alice.user_key, "--db", db]) == 0
    assert json.loads(capsys.readouterr().out)["asks"][0]["text"] == COCO
    assert main(["privacy", "forget", alice.user_key, "--db", db]) == 0
    assert "1 ask kept anonymously" in capsys.readouterr().out


def test_csv_export_cells_never_run_as_spreadsheet_formulas(
    exchange: Exchange, alice: Actor, expert: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    q = exchange.ask(alice, '=HYPERLINK("https://evil.example","Is PSN safe?")')
    assert isinstance(q, NewQuestion)
    exchange.answer(expert, q.question.ref, "-1 is not an answer, but here it is.")
    exchange.publish(expert)

    assert main(["export", "--format", "csv", "--db", str(exchange.settings.database.path)]) == 0

    out = capsys.readouterr().out
    assert "'=HYPERLINK" in out
    assert "'-1 is not an answer" in out


def test_nothing_is_owed_to_an_erased_officer_after_a_merge(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = exchange.ask(alice, COCO)
    q2 = exchange.ask(bob, "How will PSN avoid officers needing multiple employee IDs?")
    assert isinstance(q1, NewQuestion)
    assert isinstance(q2, NewQuestion)
    exchange.forget_me(bob)

    exchange.merge(expert, q2.question.ref, q1.question.ref)

    assert [d.recipient for d in exchange.owed_deliveries("")] == []


def test_privacy_cli_refuses_a_key_it_does_not_know(
    exchange: Exchange, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(exchange.settings.database.path)

    assert main(["privacy", "export", "discord:123", "--db", db]) == 1
    assert "No officer has the key 'discord:123'" in capsys.readouterr().err


def test_an_erased_identity_is_gone_from_the_files_on_disk(
    exchange: Exchange, settings: Settings, expert: Actor
) -> None:
    zebedee = Actor("test:zebedee-quillfeather", "Zebedee Quillfeather")
    exchange.set_authority(zebedee, "Rutland County Council")
    q = exchange.ask(zebedee, COCO)
    assert isinstance(q, NewQuestion)
    exchange.answer(expert, q.question.ref, "Yes, with minimum rework.")
    exchange.publish(expert)  # a delivery owed to them names their address too
    exchange.my_data(zebedee)

    exchange.forget_me(zebedee)

    db = Path(settings.database.path)
    files = [f for f in db.parent.iterdir() if f.name.startswith(db.name)]
    assert db in files
    for path in files:
        content = path.read_bytes()
        assert b"Quillfeather" not in content, path.name
        assert b"zebedee" not in content.lower(), path.name
    # and freed space is zeroed, so no page keeps an erased row's bytes
    assert exchange.store.conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_an_erasure_a_reader_delayed_reaches_the_disk_after_the_next_commit(
    exchange: Exchange, settings: Settings
) -> None:
    zebedee = Actor("test:zebedee-quillfeather", "Zebedee Quillfeather")
    exchange.set_authority(zebedee, "Rutland County Council")
    exchange.ask(zebedee, COCO)
    db = Path(settings.database.path)
    reader = sqlite3.connect(db)  # e.g. a web page being read in another process
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM questions").fetchone()

    exchange.forget_me(zebedee)  # the log cannot be emptied while the reader needs it
    reader.rollback()
    reader.close()
    exchange.set_authority(officer("Ann"), "Derby City Council")  # any later commit

    for path in (f for f in db.parent.iterdir() if f.name.startswith(db.name)):
        assert b"Quillfeather" not in path.read_bytes(), path.name


def test_my_data_shows_a_merged_ask_as_merged_and_from_where(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, QOS)).question
    exchange.merge(expert, q2.ref, q1.ref)

    [ask] = exchange.my_data(bob)["asks"]

    assert (ask["question"], ask["link"], ask["merged_from"]) == (q1.ref, "merged", q2.ref)
    [own] = exchange.my_data(alice)["asks"]
    assert (own["link"], own["merged_from"]) == ("new", None)
