"""Schedule maths with fixed datetimes (British Summer Time included), and the notices owed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from knowledge.exchange import Exchange
from knowledge.models import Actor
from knowledge.schedule import cron, due_digest_window, due_release_reminder, last_fire
from tests.conftest import Clock

LONDON = ZoneInfo("Europe/London")
MONDAY_9 = cron("0 9 * * mon", LONDON)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_monday_nine_is_nine_in_london_either_side_of_the_clock_change() -> None:
    # Clocks went forward on Sunday 29 March 2026 and back on Sunday 25 October 2026.
    assert last_fire(MONDAY_9, at("2026-03-30T08:30:00+00:00")) == at("2026-03-30T09:00:00+01:00")
    assert last_fire(MONDAY_9, at("2026-03-30T07:59:00+00:00")) == at("2026-03-23T09:00:00+00:00")
    assert last_fire(MONDAY_9, at("2026-10-26T09:00:00+00:00")) == at("2026-10-26T09:00:00+00:00")
    assert last_fire(MONDAY_9, at("2026-10-26T08:59:59+00:00")) == at("2026-10-19T09:00:00+01:00")


def test_the_window_across_the_spring_change_is_one_hour_short_of_a_week() -> None:
    window = due_digest_window(
        MONDAY_9, at("2026-03-30T08:00:00+00:00"), last_end=at("2026-03-23T09:00:00+00:00")
    )

    assert window is not None
    start, end = window
    assert end - start == timedelta(days=7, hours=-1)


def test_the_first_digest_covers_everything_since_the_first_ask() -> None:
    first_ask = at("2026-05-12T14:00:00+01:00")

    window = due_digest_window(MONDAY_9, at("2026-06-01T10:00:00+01:00"), None, first_ask)

    assert window == (first_ask - timedelta(seconds=1), at("2026-06-01T09:00:00+01:00"))


def test_a_new_empty_exchange_owes_no_digest() -> None:
    assert due_digest_window(MONDAY_9, at("2026-06-01T10:00:00+01:00"), None, None) is None
    just_started = at("2026-06-01T09:30:00+01:00")
    assert due_digest_window(MONDAY_9, at("2026-06-01T10:00:00+01:00"), None, just_started) is None


def test_nothing_is_due_when_the_latest_digest_was_sent() -> None:
    assert (
        due_digest_window(
            MONDAY_9, at("2026-06-03T12:00:00+01:00"), last_end=at("2026-06-01T09:00:00+01:00")
        )
        is None
    )


def test_missed_digests_coalesce_into_one_covering_the_gap() -> None:
    three_weeks_down = at("2026-05-11T09:00:00+01:00")

    window = due_digest_window(MONDAY_9, at("2026-06-02T15:00:00+01:00"), three_weeks_down)

    assert window == (three_weeks_down, at("2026-06-01T09:00:00+01:00"))


def test_release_reminder_is_due_within_the_lead_time() -> None:
    friday_4 = cron("0 16 * * fri", LONDON)
    lead = timedelta(hours=24)

    assert due_release_reminder(friday_4, at("2026-06-04T15:00:00+01:00"), lead) is None
    assert due_release_reminder(friday_4, at("2026-06-04T16:30:00+01:00"), lead) == at(
        "2026-06-05T16:00:00+01:00"
    )
    assert due_release_reminder(friday_4, at("2026-06-04T16:30:00+01:00"), timedelta(0)) is None


def test_check_schedules_owes_each_digest_once_even_after_a_restart(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    exchange.ask(alice, "How is quality of service handled in the PSN?")
    clock.now = at("2010-05-17T10:00:00+01:00")  # a Monday, after 09:00

    first = exchange.check_schedules()
    again = exchange.check_schedules()
    restarted = Exchange.open(exchange.settings, clock)
    try:
        after_restart = restarted.check_schedules()
    finally:
        restarted.close()

    assert "digest" in first
    assert "digest" not in again
    assert "digest" not in after_restart
    digests = [n for n in exchange.owed_notices("steering") if n.kind == "digest"]
    assert len(digests) == 1
    assert "1 ask** in this period" in digests[0].body


def test_a_digest_missed_while_down_is_sent_once_on_start_up(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    clock.now = at("2010-05-05T12:00:00+01:00")
    exchange.ask(alice, "Will our GCSx CoCo compliance carry over to the PSN?")
    clock.now = at("2010-05-10T09:30:00+01:00")
    exchange.check_schedules()
    clock.now = at("2010-05-12T12:00:00+01:00")
    exchange.ask(alice, "How is quality of service handled in the PSN?")
    clock.now = at("2010-06-02T08:00:00+01:00")  # down for three Mondays

    exchange.check_schedules()

    digests = exchange.store.db["outbox"].rows_where("kind = 'digest'", order_by="id")
    windows = [(r["window_start"], r["window_end"]) for r in digests]
    assert len(windows) == 2
    assert windows[1] == (
        at("2010-05-10T09:00:00+01:00").astimezone(UTC).isoformat(timespec="microseconds"),
        at("2010-05-31T09:00:00+01:00").astimezone(UTC).isoformat(timespec="microseconds"),
    )


def test_overdue_questions_are_flagged_once_per_limit_crossed(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    exchange.ask(alice, "How is quality of service handled in the PSN?")
    clock.advance(days=15)
    exchange.check_schedules()
    exchange.check_schedules()
    clock.advance(days=14)
    exchange.check_schedules()

    flags = [n for n in exchange.owed_notices("steering") if n.kind == "overdue"]
    assert len(flags) == 2
    assert "more than 14 days" in flags[0].body
    assert "more than 28 days" in flags[1].body


def test_the_expert_is_reminded_once_before_each_release(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    exchange.ask(alice, "How is quality of service handled in the PSN?")
    clock.now = at("2010-05-13T17:00:00+01:00")  # Thursday: release due Friday 16:00

    exchange.check_schedules()
    exchange.check_schedules()

    [reminder] = exchange.owed_notices("expert")
    assert reminder.kind == "release_reminder"
    assert "1 question** in the queue" in reminder.body
    assert "Q-1" in reminder.body
    assert exchange.mark_sent(reminder.id) is True
    assert exchange.mark_sent(reminder.id) is False
