"""The steering group's digest, on a seeded year of activity and on small stories."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from knowledge.cli import main
from knowledge.errors import Conflict, InvalidInput, NotAllowed
from knowledge.exchange import Exchange
from knowledge.models import Actor, AnsweredMatch, NewQuestion
from tests.activity import fill_year
from tests.conftest import EXPERT, STEERING, Clock


@pytest.fixture
def year(exchange: Exchange, clock: Clock) -> Exchange:
    fill_year(exchange, clock)
    return exchange


def test_a_year_of_activity_adds_up(year: Exchange, clock: Clock) -> None:
    until = clock.now
    since = until - timedelta(days=28)

    digest = year.digest(STEERING, since, until)

    assert digest.asked == digest.new_questions + digest.joined + digest.answered_from_store
    assert digest.asked == sum(a.asked for a in digest.authorities)
    assert digest.asked == sum(t.asked for t in digest.topics)
    assert digest.waiting == len(year.queue(EXPERT)) + len(year.store.answers.unpublished())
    assert digest.waiting == sum(t.waiting for t in digest.topics)
    assert 1 <= len(digest.releases) <= 4  # weekly, except when the expert is away
    assert digest.published > 0
    assert digest.answered_from_store > 0
    assert digest.median_days_to_answer is not None
    assert digest.p90_days_to_answer is not None
    assert digest.median_days_to_answer <= digest.p90_days_to_answer
    assert [q.waiting_days for q in digest.oldest] == sorted(
        (q.waiting_days for q in digest.oldest), reverse=True
    )
    assert all(q.waiting_days > 14 for q in digest.overdue)


def test_the_digest_reads_in_a_minute_and_names_no_officer(year: Exchange, clock: Clock) -> None:
    digest = year.digest(STEERING, clock.now - timedelta(days=7), clock.now)

    text = year.digest_markdown(digest)

    assert text.startswith("# PSN Exchange digest:")
    assert "answered straight from the knowledge store" in text
    assert "## By authority" in text
    assert "Officer " not in text
    assert len(text) < 6000


def test_authorities_can_be_left_out(year: Exchange, clock: Clock) -> None:
    config = year.settings.exchange.model_copy(update={"name_authorities_in_digests": False})
    year.settings = year.settings.model_copy(update={"exchange": config})

    text = year.digest_markdown(year.digest(STEERING, clock.now - timedelta(days=7), clock.now))

    assert "County Council" not in text
    assert "took part." in text


def test_an_empty_window_says_so_plainly(exchange: Exchange, clock: Clock) -> None:
    digest = exchange.digest(STEERING, clock.now - timedelta(days=7), clock.now)

    assert digest.empty
    assert "Nothing happened in this period" in exchange.digest_markdown(digest)


def test_only_steering_and_expert_see_digests(exchange: Exchange, alice: Actor) -> None:
    with pytest.raises(NotAllowed, match="steering group"):
        exchange.digest(alice)


def test_a_backwards_window_is_refused(exchange: Exchange, clock: Clock) -> None:
    with pytest.raises(InvalidInput, match="end after it starts"):
        exchange.digest(STEERING, clock.now, clock.now - timedelta(days=1))


def test_answers_taken_from_the_store_count_for_their_authority(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor, clock: Clock
) -> None:
    start = clock.now
    asked = exchange.ask(alice, "How is quality of service handled in the PSN?")
    assert isinstance(asked, NewQuestion)
    exchange.answer(expert, asked.question.ref, "Six classes of service.")
    exchange.publish(expert)
    clock.advance(days=1)
    offered = exchange.ask(bob, "How does the Public Sector Network handle QoS?")
    assert isinstance(offered, AnsweredMatch)
    exchange.accept_answer(bob, offered.draft_id)
    window_end = clock.advance(hours=1)
    clock.advance(days=10)
    exchange.follow(carol, asked.question.ref)  # after the window: not in it

    digest = exchange.digest(STEERING, start - timedelta(seconds=1), window_end)

    assert (digest.asked, digest.new_questions, digest.joined, digest.answered_from_store) == (
        2,
        1,
        0,
        1,
    )
    lines = {a.name: (a.asked, a.received) for a in digest.authorities}
    assert lines["Nottingham City Council"] == (1, 0)
    assert lines["Derbyshire County Council"] == (1, 1)
    assert "Leicestershire County Council" not in lines


def test_digest_counts_one_story(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor, clock: Clock
) -> None:
    start = clock.now
    asked = exchange.ask(alice, "How is quality of service handled in the PSN?")
    assert isinstance(asked, NewQuestion)
    exchange.follow(bob, asked.question.ref)
    clock.advance(days=3)
    exchange.answer(expert, asked.question.ref, "Six classes of service.")
    exchange.publish(expert)
    clock.advance(hours=1)

    digest = exchange.digest(STEERING, start - timedelta(seconds=1), clock.now)

    assert (digest.asked, digest.new_questions, digest.joined) == (2, 1, 1)
    assert (digest.answered_by_expert, digest.published, digest.waiting) == (1, 1, 0)
    assert digest.median_days_to_answer == pytest.approx(3.0)
    received = {a.name: a.received for a in digest.authorities}
    assert received == {"Derbyshire County Council": 1, "Nottingham City Council": 1}


def test_cli_preview_and_send(
    exchange: Exchange, alice: Actor, capsys: pytest.CaptureFixture[str], clock: Clock
) -> None:
    exchange.ask(alice, "How is quality of service handled in the PSN?")
    db = str(exchange.settings.database.path)

    assert (
        main(["digest", "--preview", "--since", "2010-05-01", "--until", "2010-06-01", "--db", db])
        == 0
    )
    assert "1 ask** in this period" in capsys.readouterr().out
    assert exchange.owed_notices() == []

    assert (
        main(["digest", "--send", "--since", "2010-05-01", "--until", "2010-06-01", "--db", db])
        == 0
    )
    [notice] = exchange.owed_notices("steering")
    assert notice.kind == "digest"
    assert "1 ask** in this period" in notice.body


def test_cli_refuses_a_bad_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["digest", "--since", "last tuesday", "--db", str(tmp_path / "x.db")])
    assert "not a date" in capsys.readouterr().err


def test_a_digest_cannot_end_in_the_future(exchange: Exchange, clock: Clock) -> None:
    with pytest.raises(InvalidInput, match="cannot cover the future"):
        exchange.send_digest(STEERING, clock.now - timedelta(days=7), clock.now + timedelta(days=9))
    assert exchange.owed_notices() == []


def test_question_text_cannot_format_a_digest(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    exchange.ask(alice, "What is PSN?\n## Urgent: [click here](https://evil.example) | x")
    clock.advance(days=20)
    exchange.check_schedules()

    text = exchange.digest_markdown(exchange.digest(STEERING, clock.now - timedelta(days=30)))
    flags = [n.body for n in exchange.owed_notices("steering") if n.kind == "overdue"]

    for body in [text, *flags]:
        assert "\n## Urgent" not in body
        assert "[click here](" not in body
        assert r"\[click here\]" in body


def test_imported_questions_do_not_count_towards_turnaround(
    exchange: Exchange, clock: Clock, tmp_path: Path
) -> None:
    from knowledge.cli import OPERATOR
    from knowledge.importer import import_file

    old = tmp_path / "old.jsonl"
    old.write_text(
        '{"text": "How is QoS handled in the PSN?", "authority": "Rutland County Council",'
        ' "officer": "Ruth", "asked_at": "2009-01-05T10:00:00+00:00",'
        ' "answer": "Six classes of service."}\n',
        encoding="utf-8",
    )
    start = clock.now
    import_file(exchange, OPERATOR, old)

    digest = exchange.digest(STEERING, start - timedelta(seconds=1), clock.advance(minutes=1))

    assert digest.published == 1
    assert digest.median_days_to_answer is None


def test_a_second_send_with_nothing_new_records_no_digest(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    exchange.ask(alice, "How is quality of service handled in the PSN?")
    exchange.send_digest(STEERING)
    clock.advance(minutes=5)

    with pytest.raises(Conflict, match="Nothing has been asked or published since the last"):
        exchange.send_digest(STEERING)
    assert len(exchange.owed_notices("steering")) == 1

    clock.advance(days=1)
    exchange.ask(alice, "Who runs the PSN core network in the East Midlands?")
    exchange.send_digest(STEERING)
    assert len(exchange.owed_notices("steering")) == 2
