"""An import never hides a question: it joins a row to a question only in the same words;
any other likely match becomes a question of its own and a merge proposed to the expert."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from knowledge.cli import OPERATOR, main
from knowledge.config import Settings
from knowledge.console import Console
from knowledge.errors import NotAllowed, NotFound
from knowledge.exchange import Exchange
from knowledge.importer import import_file
from knowledge.models import Actor, NewQuestion, Status
from knowledge.usecases.imports import ImportedRow

# From the 2010 East Midlands workshop's questions.
NAMING = "Who decides how PSN addressing and naming will work?"
NAMING_REWORDED = "Who decides how addressing and naming will work for the PSN?"
COUNTY_FIRST = "Can a county council join the PSN before its district councils do?"
DISTRICT_FIRST = "Can a district council join the PSN before its county council does?"
QOS = "How is quality of service handled in the PSN?"
COST = "What will it cost a district council to reach PSN compliance?"
ASKED_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def write_jsonl(path: Path, texts: list[str], authority: str = "Rutland County Council") -> Path:
    rows = [
        {"text": t, "authority": authority, "officer": f"Officer {n}"} for n, t in enumerate(texts)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def asked(exchange: Exchange, officer: Actor, text: str) -> int:
    outcome = exchange.ask(officer, text)
    assert isinstance(outcome, NewQuestion)
    return outcome.question.id


def test_a_reworded_row_becomes_a_question_and_a_proposed_merge(
    exchange: Exchange, alice: Actor, expert: Actor, tmp_path: Path
) -> None:
    stored = asked(exchange, alice, NAMING)
    path = write_jsonl(tmp_path / "q.jsonl", [NAMING_REWORDED])

    report = import_file(exchange, OPERATOR, path)

    assert (report.new, report.proposed, report.joined) == (0, 1, 0)
    entries = {e.question.text: e for e in exchange.queue(expert)}
    proposal = entries[NAMING_REWORDED].proposals[0]
    assert proposal.target_id == stored
    assert proposal.explain().startswith(f"possibly the same as Q-{stored} (score ")
    assert entries[NAMING].proposals == ()  # shown once, on the imported question


def test_a_row_in_the_same_words_joins(exchange: Exchange, alice: Actor, tmp_path: Path) -> None:
    stored = asked(exchange, alice, QOS)
    path = write_jsonl(
        tmp_path / "q.jsonl",
        ["how is quality of service handled in the psn", "How is QoS handled in the PSN?"],
    )

    report = import_file(exchange, OPERATOR, path, each_row=True)

    assert (report.new, report.proposed, report.joined) == (0, 0, 2)
    assert {row.question_id for row in report.rows} == {stored}
    assert exchange.store.db["merge_proposals"].count == 0


def test_a_contrast_is_proposed_with_what_sets_the_two_apart(
    exchange: Exchange, alice: Actor, expert: Actor, tmp_path: Path
) -> None:
    asked(exchange, alice, COUNTY_FIRST)
    import_file(exchange, OPERATOR, write_jsonl(tmp_path / "q.jsonl", [DISTRICT_FIRST]))

    (proposal,) = next(
        e for e in exchange.queue(expert) if e.question.text == DISTRICT_FIRST
    ).proposals
    assert proposal.differs is not None
    assert "swapped" in proposal.explain()


def test_merging_or_dismissing_resolves_a_proposal(
    exchange: Exchange, alice: Actor, expert: Actor, tmp_path: Path
) -> None:
    naming = asked(exchange, alice, NAMING)
    county = asked(exchange, alice, COUNTY_FIRST)
    import_file(
        exchange, OPERATOR, write_jsonl(tmp_path / "q.jsonl", [NAMING_REWORDED, DISTRICT_FIRST])
    )
    proposed = {e.question.text: e.question.id for e in exchange.queue(expert) if e.proposals}
    assert set(proposed) == {NAMING_REWORDED, DISTRICT_FIRST}

    exchange.merge(expert, f"Q-{proposed[NAMING_REWORDED]}", f"Q-{naming}")
    exchange.distinct(expert, f"Q-{county}", f"Q-{proposed[DISTRICT_FIRST]}")  # either order

    assert not any(e.proposals for e in exchange.queue(expert))
    merged = exchange.store.db["questions"].get(proposed[NAMING_REWORDED])
    assert merged["status"] == Status.MERGED.value
    events = [e["action"] for e in exchange.store.db["events"].rows]
    assert "merge_dismissed" in events
    with pytest.raises(NotFound, match="No merge of"):
        exchange.distinct(expert, f"Q-{county}", f"Q-{proposed[DISTRICT_FIRST]}")


def test_only_the_expert_dismisses_a_proposal(
    exchange: Exchange, alice: Actor, tmp_path: Path
) -> None:
    asked(exchange, alice, NAMING)
    import_file(exchange, OPERATOR, write_jsonl(tmp_path / "q.jsonl", [NAMING_REWORDED]))
    with pytest.raises(NotAllowed):
        exchange.distinct(alice, "Q-1", "Q-2")
    assert exchange.store.db["merge_proposals"].count == 1


def test_an_unfinished_import_s_proposals_are_hidden_and_a_failed_one_s_removed(
    exchange: Exchange, alice: Actor, expert: Actor, settings: Settings
) -> None:
    asked(exchange, alice, NAMING)
    importing = Exchange.open(settings)  # `psn-exchange import` in another process
    try:
        session = importing.begin_import(OPERATOR)
        row = ImportedRow(1, NAMING_REWORDED, "Rutland County Council", "Ruth", None, ASKED_AT)
        (outcome,) = importing.import_rows(OPERATOR, session, [row])
        assert outcome.outcome == "proposed"
        assert exchange.store.db["merge_proposals"].count == 1
        assert [e.proposals for e in exchange.queue(expert)] == [()]  # not visible yet
        importing.abandon_import(session)
    finally:
        importing.close()
    assert exchange.store.db["merge_proposals"].count == 0


def test_the_report_says_what_became_of_each_row(
    exchange: Exchange,
    alice: Actor,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    naming = asked(exchange, alice, NAMING)
    qos = asked(exchange, alice, QOS)
    exchange.close()
    rows = write_jsonl(
        tmp_path / "q.jsonl",
        [NAMING_REWORDED, "How is QoS handled in the PSN?", COST, QOS],
        authority="Derby City Council",
    )
    report = tmp_path / "report.jsonl"

    code = main(["import", str(rows), "--db", str(settings.database.path), "--report", str(report)])

    assert code == 0
    out = capsys.readouterr().out
    assert "2 new questions (1 likely the same as an existing question" in out
    assert "2 joined an existing question in the same words" in out
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["outcome"]) for r in lines] == [
        (1, "proposed"),
        (2, "joined"),
        (3, "new"),
        (4, "joined"),
    ]
    assert set(lines[0]) == {"line", "outcome", "question", "best_match", "score", "differs"}
    assert lines[0]["best_match"] == f"Q-{naming}"
    assert lines[0]["question"] not in (f"Q-{naming}", f"Q-{qos}")
    assert lines[1]["question"] == lines[3]["question"] == f"Q-{qos}"
    assert lines[1]["score"] >= settings.matching.duplicate_threshold


def test_an_unwritable_report_is_refused_before_anything_is_imported(
    exchange: Exchange, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange.close()
    rows = write_jsonl(tmp_path / "q.jsonl", [QOS])
    report = tmp_path / "no such folder" / "report.jsonl"

    code = main(["import", str(rows), "--db", str(settings.database.path), "--report", str(report)])

    assert code != 0
    assert "Cannot write the report" in capsys.readouterr().err
    reopened = Exchange.open(settings)
    try:
        assert reopened.store.db["questions"].count == 0
    finally:
        reopened.close()


def test_a_refused_import_leaves_no_report_behind(
    exchange: Exchange, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exchange.close()
    rows = tmp_path / "q.jsonl"
    rows.write_text('{"text": "", "authority": "Rutland", "officer": "Ruth"}\n', encoding="utf-8")
    report = tmp_path / "report.jsonl"

    code = main(["import", str(rows), "--db", str(settings.database.path), "--report", str(report)])

    assert code != 0
    assert "nothing was imported" in capsys.readouterr().err
    assert not report.exists()


def test_the_queue_shows_a_proposal_and_how_to_decide_it(
    exchange: Exchange,
    alice: Actor,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    naming = asked(exchange, alice, NAMING)
    import_file(exchange, OPERATOR, write_jsonl(tmp_path / "q.jsonl", [NAMING_REWORDED]))
    exchange.close()
    db = str(settings.database.path)

    assert main(["queue", "--db", db]) == 0
    out = capsys.readouterr().out
    assert f"possibly the same as Q-{naming} (score" in out
    assert f"psn-exchange merge Q-2 Q-{naming}, or psn-exchange distinct Q-2 Q-{naming}" in out

    assert main(["distinct", "Q-2", f"Q-{naming}", "--db", db]) == 0
    assert "are different questions" in capsys.readouterr().out
    assert main(["queue", "--db", db]) == 0
    assert "possibly the same" not in capsys.readouterr().out
    assert main(["distinct", "Q-2", f"Q-{naming}", "--db", db]) != 0
    assert "No merge of Q-2 and Q-1 is waiting" in capsys.readouterr().err

    assert main(["merge", "Q-2", f"Q-{naming}", "--db", db]) == 0
    assert "Merged Q-2 into Q-1" in capsys.readouterr().out


def test_the_console_shows_and_decides_a_proposal(
    exchange: Exchange, alice: Actor, tmp_path: Path
) -> None:
    naming = asked(exchange, alice, NAMING)
    import_file(exchange, OPERATOR, write_jsonl(tmp_path / "q.jsonl", [NAMING_REWORDED]))
    out = io.StringIO()
    lines = [
        "/as Geoff @ Cabinet Office expert",
        "/queue",
        "/distinct Q-2",  # one id: refused kindly, nothing changes
        f"/distinct Q-2 Q-{naming}",
        "/queue",
    ]

    assert Console(exchange, out, echo=True).run(lines) == 0

    said = out.getvalue()
    assert f"possibly the same as Q-{naming} (score" in said
    assert f"/merge Q-2 Q-{naming}, or /distinct Q-2 Q-{naming}" in said
    assert "Use /distinct Q-ID Q-ID" in said
    assert said.count("possibly the same as") == 1  # gone from the second /queue
