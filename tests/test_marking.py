"""Protective markings: text marked OFFICIAL-SENSITIVE (or higher) never enters the exchange —
refused kindly wherever it would, with nothing of it kept (issue 15, item 5)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from knowledge.cli import OPERATOR
from knowledge.config import DEFAULT_MARKINGS, MarkingSettings, Settings
from knowledge.console import Console
from knowledge.errors import InvalidInput
from knowledge.exchange import Exchange
from knowledge.importer import import_file
from knowledge.models import Actor
from knowledge.text import protective_marking
from tests.botkit import DERBYSHIRE, Place, ask, refused_kindly, run, running
from tests.conftest import REPO
from tests.fakediscord import async_test
from tests.stories import COCO, count, new

WHERE = "secure (PSN-connected) e-mail instead"
TABLES = ("questions", "asks", "drafts", "answers", "events", "outbox")


def snapshot(exchange: Exchange) -> tuple[int, ...]:
    return tuple(count(exchange, table) for table in TABLES)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("OFFICIAL-SENSITIVE: our firewall rule set for the PSN gateway", "OFFICIAL-SENSITIVE"),
        ("official sensitive\nOur CoCo submission, attached below", "official sensitive"),
        ("Our network design, can it be shared?\nOfficial – Sensitive", "Official – Sensitive"),
        ("  * OFFICIAL_SENSITIVE – COMMERCIAL\nOur supplier's prices", "OFFICIAL_SENSITIVE"),
        ("The attached [RESTRICTED] diagram shows our PSN links", "RESTRICTED"),
        ("PROTECT - PERSONAL\nThe list of staff accounts", "PROTECT"),
        ("Classification: Restricted\nOur gateway's address plan", "Restricted"),
        ("Protective marking - uk eyes only. The findings", "uk eyes only"),
        ("TOP SECRET: which firewalls", "TOP SECRET"),
        ("RESTRICTED", "RESTRICTED"),
    ],
)
def test_a_marking_is_found_where_it_marks_the_text(text: str, found: str) -> None:
    assert protective_marking(text, DEFAULT_MARKINGS) == found


# Questions that speak of markings without carrying one: the workshop's officers asked how
# to handle RESTRICTED data (benchmarks/data/psn), and must be able to ask it again.
@pytest.mark.parametrize(
    "text",
    [
        "Can we send RESTRICTED data over the internet if it is encrypted?",
        "Is our OFFICIAL-SENSITIVE marking still needed for PSN traffic?",
        "How do we protect our network when we join the PSN?",
        "Is the secret to a good CoCo submission an early start?",
        "WILL THE PSN PROTECT OUR DATA IN TRANSIT?",
        "SECRETARIAT: who runs the PSN programme?",
        "Is PROTECTED a marking we still use?",
    ],
)
def test_a_question_about_markings_is_not_marked(text: str) -> None:
    assert protective_marking(text, DEFAULT_MARKINGS) is None


def test_no_real_officer_question_is_taken_for_marked() -> None:
    files = [
        *(REPO / "benchmarks" / "data" / "psn").glob("*.jsonl"),
        *(REPO / "examples").glob("*.jsonl"),
    ]
    texts = [
        value
        for path in files
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for key, value in json.loads(line).items()
        if key in ("text", "a", "b", "answer") and isinstance(value, str)
    ]
    assert len(texts) > 500
    assert [t for t in texts if protective_marking(t, DEFAULT_MARKINGS)] == []


def test_a_marked_question_is_refused_and_nothing_is_kept(exchange: Exchange, alice: Actor) -> None:
    before = snapshot(exchange)

    with pytest.raises(InvalidInput) as refused:
        exchange.ask(alice, "OFFICIAL-SENSITIVE: can our firewall rules go on the PSN?")

    message = str(refused.value)
    assert "protective marking 'OFFICIAL-SENSITIVE'" in message
    assert "nothing of it was kept" in message
    assert WHERE in message
    assert snapshot(exchange) == before


def test_a_marked_answer_is_refused_and_the_question_keeps_waiting(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    question = new(exchange.ask(alice, COCO)).question
    before = snapshot(exchange)

    with pytest.raises(InvalidInput, match="This answer carries the protective marking"):
        exchange.answer(expert, question.ref, "SECRET: the CoCo controls are below.")

    assert snapshot(exchange) == before
    assert exchange.queue(expert)[0].question.id == question.id


def test_a_marked_row_is_refused_by_line_and_nothing_is_imported(
    exchange: Exchange, tmp_path: Path
) -> None:
    rows = tmp_path / "q.jsonl"
    rows.write_text(
        '{"text": "How is quality of service handled in the PSN?", '
        '"authority": "Rutland County Council", "officer": "Jo"}\n'
        '{"text": "OFFICIAL SENSITIVE - can we share our network diagram?", '
        '"authority": "Rutland County Council", "officer": "Jo"}\n'
        '{"text": "Who accredits the PSN gateway?", "authority": "Rutland County Council", '
        '"officer": "Jo", "answer": "[RESTRICTED] The accreditation report names CESG."}\n'
    )
    before = snapshot(exchange)

    with pytest.raises(InvalidInput) as refused:
        import_file(exchange, OPERATOR, rows)

    message = str(refused.value)
    assert "line 2" in message
    assert "line 3" in message
    assert "This question carries the protective marking 'OFFICIAL SENSITIVE'" in message
    assert "This answer carries the protective marking 'RESTRICTED'" in message
    assert snapshot(exchange) == before

    report = import_file(exchange, OPERATOR, rows, skip_bad=True)
    assert report.new == 1
    assert [q.text for q, _ in exchange.store.questions.queue()] == [
        "How is quality of service handled in the PSN?"
    ]


def test_the_console_refuses_a_marked_question_kindly(exchange: Exchange) -> None:
    out = io.StringIO()
    lines = [
        "/as Alice @ Derbyshire County Council",
        "/ask OFFICIAL-SENSITIVE: our firewall policy, can we share it on the PSN?",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    assert "⚠ This question carries the protective marking 'OFFICIAL-SENSITIVE'" in (out.getvalue())
    assert count(exchange, "questions") == 0


def test_the_markings_and_the_advice_are_configurable(settings: Settings, clock: object) -> None:
    marking = MarkingSettings(refused=("COMMERCIAL IN CONFIDENCE",), where_instead="Ring Geoff.")
    exchange = Exchange.open(settings.model_copy(update={"marking": marking}), clock)  # type: ignore[arg-type]
    try:
        alice = Actor("test:alice", "Alice")
        exchange.set_authority(alice, "Derbyshire County Council")
        with pytest.raises(InvalidInput, match=r"Ring Geoff\.$"):
            exchange.ask(alice, "Commercial in confidence: our PSN supplier's prices?")
        new(exchange.ask(alice, "OFFICIAL-SENSITIVE: is this marking still needed?"))
    finally:
        exchange.close()
    with pytest.raises(ValidationError, match="has no letters"):
        MarkingSettings(refused=("--",))


@async_test
async def test_a_marked_question_asked_in_discord_is_refused_kindly(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        turn = await ask(
            fake,
            alice,
            "OFFICIAL-SENSITIVE: may we post our firewall rules to the PSN exchange?",
            channel=place.general,
            authority=DERBYSHIRE,
        )
        refused_kindly(turn, "carries the protective marking 'OFFICIAL-SENSITIVE'", WHERE)
        assert run(fake, lambda ex: ex.store.db["questions"].count) == 0
