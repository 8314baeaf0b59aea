"""One outbox: answers, merge notices, digests, reminders and overdue flags are owed the same
way, retried under one policy kept in the database, and given up on the same way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from knowledge.config import Settings
from knowledge.errors import NotFound
from knowledge.exchange import Exchange
from knowledge.migrations import MIGRATIONS
from knowledge.models import SEND_ATTEMPTS, Actor, Delivery, Notice, Role
from knowledge.store import Store
from tests.conftest import STEERING, Clock
from tests.stories import COCO, QOS, new
from tests.test_store import at_version

ADMIN = Actor("test:ada", "Ada", frozenset({Role.OFFICER, Role.ADMIN}))


def owe_answer_and_digest(exchange: Exchange, alice: Actor, expert: Actor) -> tuple[int, int]:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.")
    exchange.publish(expert)
    exchange.send_digest(STEERING)
    [delivery] = exchange.owed_deliveries("test:alice")
    [notice] = exchange.owed_notices("steering")
    return delivery.id, notice.id


def due(exchange: Exchange) -> set[int]:
    return {m.id for m in exchange.owed_messages("test:", ["steering"])}


def test_answers_and_digests_come_from_one_outbox(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    delivery, notice = owe_answer_and_digest(exchange, alice, expert)

    owed = exchange.owed_messages("test:", ["steering"])

    assert {m.id for m in owed} == {delivery, notice}
    assert {type(m) for m in owed} == {Delivery, Notice}
    assert exchange.owed_messages("test:", []) == exchange.owed_deliveries("test:")
    assert exchange.owed_messages(None, ["steering"]) == exchange.owed_notices("steering")


def test_a_failed_message_backs_off_under_one_policy_kept_in_the_database(
    exchange: Exchange, alice: Actor, expert: Actor, clock: Clock, settings: Settings
) -> None:
    delivery, notice = owe_answer_and_digest(exchange, alice, expert)

    for message in (delivery, notice):
        assert exchange.mark_failed(message, "500 Internal Server Error") == 1
    assert due(exchange) == set()  # neither is tried again at once
    clock.advance(seconds=4)
    assert due(exchange) == set()

    restarted = Exchange.open(settings, clock)  # the backoff survives a restart
    try:
        assert due(restarted) == set()
        clock.advance(seconds=2)  # 5 s after the first failure
        assert due(restarted) == {delivery, notice}
        assert restarted.mark_failed(notice, "500 again") == 2
        clock.advance(seconds=9)
        assert due(restarted) == {delivery}  # the second wait is twice as long
        clock.advance(seconds=1)
        assert due(restarted) == {delivery, notice}
    finally:
        restarted.close()


def test_delivery_and_notice_are_given_up_on_alike_and_retried_by_an_admin(
    exchange: Exchange, alice: Actor, expert: Actor, clock: Clock
) -> None:
    delivery, notice = owe_answer_and_digest(exchange, alice, expert)
    for _ in range(SEND_ATTEMPTS):
        for message in (delivery, notice):
            exchange.mark_failed(message, "403 Missing Access")
        clock.advance(hours=2)  # past any backoff

    failing = exchange.failing_messages(ADMIN)
    assert {(f.table, f.id) for f in failing} == {("delivery", delivery), ("notice", notice)}
    assert all(f.given_up for f in failing)
    assert due(exchange) == set()

    assert exchange.retry_given_up(ADMIN) == 2
    assert due(exchange) == {delivery, notice}  # at once: the backoff is cleared too
    exchange.mark_sent(delivery)
    exchange.mark_sent(notice)
    assert due(exchange) == set()


def test_an_upgrade_carries_owed_deliveries_and_notices_into_the_outbox(tmp_path: Path) -> None:
    path = tmp_path / "v8.db"
    version = next(n for n, (name, _) in enumerate(MIGRATIONS) if name == "one outbox")
    at_version(path, version)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO authorities (id, name, created_at) VALUES (1, 'Rutland', 'x')")
        conn.execute(
            "INSERT INTO questions (id, text, topic, status, created_at, updated_at, "
            "waiting_since) VALUES (1, 'QoS?', 'technical', 'answered', 'x', 'x', 'x')"
        )
        conn.execute(
            "INSERT INTO deliveries (id, dedupe_key, kind, question_id, recipient, attempts, "
            "last_error, created_at) VALUES (41, 'merged:7:discord:5', 'merged', 1, "
            "'discord:5', 2, '500 boom', '2010-05-11T09:00:00+00:00')"
        )
        conn.execute(
            "INSERT INTO notices (key, kind, audience, body, parts_sent, created_at) "
            "VALUES ('digest:x', 'digest', 'steering', '# Digest', 1, '2010-05-11T09:00:00+00:00')"
        )
    conn.close()

    store = Store.open(path)
    try:
        owed = store.outbox.owed(recipient_prefix="discord:", audiences=["steering"])
        [carried, digest] = sorted(owed, key=lambda m: m.id)
    finally:
        store.close()

    assert (carried.id, carried.recipient, carried.attempts) == (41, "discord:5", 2)
    assert carried.failed_before  # its id, and so its nonce, is kept: a resend is dropped
    assert (digest.audience, digest.body, digest.parts_sent) == ("steering", "# Digest", 1)
    assert digest.id > carried.id


def test_an_undeliverable_message_is_given_up_on_at_once_until_an_admin_retries_it(
    exchange: Exchange, alice: Actor, expert: Actor, clock: Clock
) -> None:
    delivery, notice = owe_answer_and_digest(exchange, alice, expert)

    exchange.mark_undeliverable(delivery, "404 Not Found (error code: 10003): Unknown Channel")

    clock.advance(hours=2)  # no backoff runs out: it is not tried again
    assert due(exchange) == {notice}
    [failing] = exchange.failing_messages(ADMIN)
    assert (failing.id, failing.given_up) == (delivery, True)
    assert failing.last_error == "404 Not Found (error code: 10003): Unknown Channel"
    assert exchange.retry_given_up(ADMIN) == 1
    assert due(exchange) == {delivery, notice}
    with pytest.raises(NotFound):
        exchange.mark_undeliverable(10_000, "gone")


# -- notices at several places (a steering channel per server) ---------------------------

NORTH, SOUTH = "discord:channel:101", "discord:channel:202"


def test_a_notice_placed_at_several_places_is_owed_and_sent_at_each_on_its_own(
    exchange: Exchange, alice: Actor, expert: Actor, clock: Clock
) -> None:
    _, digest = owe_answer_and_digest(exchange, alice, expert)
    [unplaced] = exchange.owed_notices("steering")
    assert unplaced.place is None

    placed = exchange.place_notice(digest, [NORTH, SOUTH])

    assert [(n.place, n.body) for n in placed] == [(NORTH, unplaced.body), (SOUTH, unplaced.body)]
    assert placed[0].id == digest  # the notice keeps its id (and so its nonces) at the first
    assert exchange.owed_notices("steering") == placed
    north, south = placed
    exchange.mark_sent(north.id)
    assert exchange.mark_failed(south.id, "403 Missing Access") == 1
    assert exchange.owed_notices("steering") == []  # north sent, south backing off
    clock.advance(seconds=5)
    [again] = exchange.owed_notices("steering")
    assert (again.id, again.place, again.attempts) == (south.id, SOUTH, 1)
    # Placed once: asking again changes nothing.
    assert [n.id for n in exchange.place_notice(south.id, [NORTH, SOUTH])] == [south.id]
    assert exchange.place_notice(north.id, [NORTH, SOUTH]) == []  # sent: no longer owed
    [failing] = exchange.failing_messages(ADMIN)
    assert failing.recipient == f"steering at {SOUTH}"


def test_copies_of_a_digest_do_not_move_where_the_next_one_starts(
    exchange: Exchange, alice: Actor, expert: Actor, clock: Clock
) -> None:
    _, digest = owe_answer_and_digest(exchange, alice, expert)
    exchange.place_notice(digest, [NORTH, SOUTH])
    clock.advance(days=7)
    exchange.ask(alice, COCO)  # something new, or there is no new digest to send

    exchange.send_digest(STEERING)

    windows = [n for n in exchange.owed_notices("steering") if n.place is None]
    assert len(windows) == 1  # one new digest, from where the placed ones ended


def test_a_notice_owed_before_the_upgrade_is_placed_where_it_was_going(tmp_path: Path) -> None:
    path = tmp_path / "before.db"
    version = next(n for n, (name, _) in enumerate(MIGRATIONS) if name == "notice places")
    at_version(path, version)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO outbox (key, kind, audience, body, parts_sent, created_at) "
            "VALUES ('digest:x', 'digest', 'steering', '# Digest', 1, '2010-05-11T09:00:00+00:00')"
        )
    conn.close()

    store = Store.open(path)
    try:
        [owed] = store.outbox.owed(audiences=["steering"])
        assert owed.place is None
        first, _ = store.outbox.place_notice(owed.id, [NORTH, SOUTH])
        parts = {m.place: m.parts_sent for m in store.outbox.owed(audiences=["steering"])}
    finally:
        store.close()

    assert first == owed.id
    # The first place goes on from the part already posted; the copy starts at the start.
    assert parts == {NORTH: 1, SOUTH: 0}
