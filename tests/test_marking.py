"""Protective markings: text marked OFFICIAL-SENSITIVE (or higher) never enters the exchange —
refused kindly wherever it would, with nothing of it kept (issue 15, item 5)."""

from __future__ import annotations

import io
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
        ("Is this official sensitive? Our CoCo submission", "official sensitive"),
        ("Our Official – Sensitive network design, can it be shared?", "Official – Sensitive"),
        ("OFFICIAL_SENSITIVE annex to our GCSx CoCo", "OFFICIAL_SENSITIVE"),
        ("The attached RESTRICTED diagram shows our PSN links", "RESTRICTED"),
        ("Marked PROTECT - PERSONAL: list of staff accounts", "PROTECT"),
        ("Shared uk eyes only: the accreditation findings", "uk eyes only"),
        ("TOP SECRET: which firewalls", "TOP SECRET"),
    ],
)
def test_markings_are_found_as_they_are_written(text: str, found: str) -> None:
    assert protective_marking(text, DEFAULT_MARKINGS) == found


@pytest.mark.parametrize(
    "text",
    [
        "How do we protect our network when we join the PSN?",
        "Is the secret to a good CoCo submission an early start?",
        "Are there restricted services on the PSN that councils cannot use?",
        "WILL THE PSN PROTECT OUR DATA IN TRANSIT?",  # typed all in capitals
        "Is PROTECTED a marking we still use?",  # another word
        "What is OFFICIAL information under the new classifications?",
        "Is confidentiality covered by the Code of Connection?",
    ],
)
def test_ordinary_questions_about_security_pass(text: str) -> None:
    assert protective_marking(text, DEFAULT_MARKINGS) is None


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
        exchange.answer(expert, question.ref, "SECRET annex: the CoCo controls are below.")

    assert snapshot(exchange) == before
    assert exchange.queue(expert)[0].question.id == question.id


def test_a_marked_row_is_refused_by_line_and_nothing_is_imported(
    exchange: Exchange, tmp_path: Path
) -> None:
    rows = tmp_path / "q.jsonl"
    rows.write_text(
        '{"text": "How is quality of service handled in the PSN?", '
        '"authority": "Rutland County Council", "officer": "Jo"}\n'
        '{"text": "Can we share our OFFICIAL SENSITIVE network diagram?", '
        '"authority": "Rutland County Council", "officer": "Jo"}\n'
        '{"text": "Who accredits the PSN gateway?", "authority": "Rutland County Council", '
        '"officer": "Jo", "answer": "The RESTRICTED accreditation report says the CESG."}\n'
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
        "/ask Our OFFICIAL-SENSITIVE firewall policy: can we share it on the PSN?",
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
        new(exchange.ask(alice, "Is our OFFICIAL-SENSITIVE marking still needed?"))
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
