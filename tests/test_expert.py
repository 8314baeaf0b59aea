"""The expert's use cases (queue, answer, merge, publish) and what releases owe, on a real
SQLite file, in the workshop's words."""

from __future__ import annotations

import pytest

from knowledge.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from knowledge.exchange import Exchange
from knowledge.models import (
    SEND_ATTEMPTS,
    Actor,
    NewQuestion,
    OpenMatch,
    Role,
    Status,
)
from tests.conftest import STEERING, Clock, officer
from tests.stories import COCO, IDS, QOS, count, new


def test_queue_ranks_by_authorities_then_waiting_time(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor, clock: Clock
) -> None:
    oldest = new(exchange.ask(alice, QOS)).question
    clock.advance(days=1)
    popular = new(exchange.ask(bob, COCO)).question
    exchange.follow(carol, popular.ref)
    clock.advance(days=1)
    newest = new(exchange.ask(carol, IDS)).question

    queue = exchange.queue(expert)

    assert [e.question.id for e in queue] == [popular.id, oldest.id, newest.id]
    assert queue[0].authority_names == ("Leicestershire County Council", "Nottingham City Council")
    assert queue[1].waiting_days == pytest.approx(2.0)


@pytest.mark.parametrize("action", ["queue", "answer", "merge", "publish"])
def test_only_the_expert_works_the_queue(
    exchange: Exchange, alice: Actor, bob: Actor, action: str
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    other = new(exchange.ask(alice, QOS)).question
    calls = {
        "queue": lambda: exchange.queue(bob),
        "answer": lambda: exchange.answer(bob, q.ref, "An answer"),
        "merge": lambda: exchange.merge(bob, other.ref, q.ref),
        "publish": lambda: exchange.publish(bob),
    }
    events_before = count(exchange, "events")

    with pytest.raises(NotAllowed, match="Only"):
        calls[action]()
    assert count(exchange, "events") == events_before
    assert count(exchange, "answers") == 0


def test_steering_group_may_read_the_queue_but_not_answer(exchange: Exchange, alice: Actor) -> None:
    q = new(exchange.ask(alice, COCO)).question

    assert [e.question.id for e in exchange.queue(STEERING)] == [q.id]
    with pytest.raises(NotAllowed):
        exchange.answer(STEERING, q.ref, "Not mine to answer")


def test_answer_links_must_be_web_links(exchange: Exchange, alice: Actor, expert: Actor) -> None:
    q = new(exchange.ask(alice, COCO)).question

    with pytest.raises(InvalidInput, match="not a web link"):
        exchange.answer(expert, q.ref, "See the guide.", ["javascript:alert(1)"])
    with pytest.raises(InvalidInput, match="empty"):
        exchange.answer(expert, q.ref, "   ")
    assert count(exchange, "answers") == 0


def test_publish_owes_the_answer_to_every_asker_follower_and_the_channel(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, COCO, place="test:#questions")).question
    exchange.follow(bob, q.ref)
    exchange.answer(
        expert, q.ref, "Yes: CoCo investment is carried forward.", ["https://www.gov.uk/psn"]
    )

    release = exchange.publish(expert)

    assert release.number == 1
    owed = exchange.owed_deliveries("test:")
    assert sorted(d.recipient for d in owed) == ["test:#questions", "test:alice", "test:bob"]
    assert {d.answer.body for d in owed if d.answer} == {"Yes: CoCo investment is carried forward."}
    assert owed[0].authority_names == ("Derbyshire County Council", "Nottingham City Council")
    assert exchange.question(q.ref)[0].status is Status.ANSWERED


def test_a_new_answer_version_is_owed_again_to_the_same_people(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.follow(bob, q.ref)
    exchange.answer(expert, q.ref, "PSN provides a minimum of five classes of service.")
    exchange.publish(expert)
    for delivery in exchange.owed_deliveries("test:"):
        exchange.mark_sent(delivery.id)

    exchange.answer(expert, q.ref, "Since the workshop this was lifted to six classes.")
    second = exchange.publish(expert)

    owed = exchange.owed_deliveries("test:")
    assert second.number == 2
    assert sorted(d.recipient for d in owed) == ["test:alice", "test:bob"]
    assert {(d.answer.version, d.answer.release_number) for d in owed if d.answer} == {(2, 2)}


def test_answering_again_before_the_release_rewrites_the_draft(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Five classes of service.")
    rewritten = exchange.answer(
        expert, q.ref, "Six classes of service.", ["https://example.org/qos"]
    )

    assert rewritten.version == 1
    assert count(exchange, "answers") == 1
    exchange.publish(expert)
    [owed] = [d for d in exchange.owed_deliveries("test:") if d.recipient == "test:alice"]
    assert owed.answer is not None
    assert (owed.answer.version, owed.answer.body) == (1, "Six classes of service.")
    assert owed.answer.links == ("https://example.org/qos",)
    assert exchange.answer(expert, q.ref, "Seven, since 2011.").version == 2


def test_marking_a_delivery_sent_twice_changes_nothing(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.")
    exchange.publish(expert)
    [delivery] = exchange.owed_deliveries("test:")

    assert exchange.mark_sent(delivery.id) is True
    assert exchange.mark_sent(delivery.id) is False
    assert exchange.owed_deliveries("test:") == []
    with pytest.raises(NotFound):
        exchange.mark_sent(9999)


def test_publishing_with_nothing_new_is_refused(exchange: Exchange, expert: Actor) -> None:
    with pytest.raises(Conflict, match="nothing to publish"):
        exchange.publish(expert)
    assert count(exchange, "releases") == 0


def test_a_release_cannot_be_published_twice(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.")
    exchange.publish(expert)

    with pytest.raises(Conflict, match="since release 1"):
        exchange.publish(expert)
    assert count(exchange, "outbox") == 1


def test_merging_moves_the_askers_and_tells_them(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    target = new(exchange.ask(alice, "When will the PSN be available in the East Midlands?"))
    duplicate = exchange.ask(bob, "What is the timetable for rolling out PSN connections here?")
    if not isinstance(duplicate, NewQuestion):
        duplicate = exchange.ask_anyway(bob)

    merged = exchange.merge(expert, duplicate.question.ref, target.question.ref)

    assert merged.authorities == 2
    assert exchange.store.questions.get(duplicate.question.id).status is Status.MERGED  # type: ignore[union-attr]
    assert exchange.question(duplicate.question.ref)[0].id == target.question.id
    [notice] = exchange.owed_deliveries("test:bob")
    assert notice.kind == "merged"
    assert notice.merged_from == duplicate.question.id
    # The duplicate's wording now finds the merged question.
    offered = exchange.ask(carol, "What is the timetable for rolling out PSN connections here?")
    assert isinstance(offered, OpenMatch)
    assert offered.question.id == target.question.id


def test_merging_into_an_answered_question_owes_its_answer(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    target = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, target.ref, "Six classes of service.")
    exchange.publish(expert)
    other = new(exchange.ask(bob, "Will VoIP traffic get expedited forwarding treatment?"))

    exchange.merge(expert, other.question.ref, target.ref)

    kinds = sorted(d.kind for d in exchange.owed_deliveries("test:bob"))
    assert kinds == ["answer", "merged"]


@pytest.mark.parametrize(
    ("source", "into", "error"),
    [("Q-1", "Q-1", InvalidInput), ("Q-1", "Q-9", NotFound), ("Q-2", "Q-1", Conflict)],
    ids=["itself", "unknown", "answered-source"],
)
def test_bad_merges_are_refused_and_change_nothing(
    exchange: Exchange, alice: Actor, expert: Actor, source: str, into: str, error: type
) -> None:
    exchange.ask(alice, COCO)
    q2 = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q2.ref, "Six classes of service.")
    exchange.publish(expert)

    events_before = count(exchange, "events")

    with pytest.raises(error):
        exchange.merge(expert, source, into)
    assert exchange.question("Q-1")[0].status is Status.OPEN
    assert count(exchange, "events") == events_before
    assert exchange.question("Q-1")[0].asks == 1


def test_answering_a_merged_question_points_at_the_target(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, QOS)).question
    exchange.merge(expert, q2.ref, q1.ref)

    with pytest.raises(Conflict, match="answer that question instead"):
        exchange.answer(expert, q2.ref, "An answer")


def test_queue_positions_agree_with_the_ranked_queue_after_a_busy_year(
    exchange: Exchange, clock: Clock, expert: Actor
) -> None:
    from tests.activity import fill_year

    fill_year(exchange, clock, weeks=20)
    # Leave a backlog: more asks, no answers.
    for n in range(12):
        person = officer(f"Late{n}")
        exchange.set_authority(person, f"Borough {n % 4}")
        clock.advance(hours=1)
        outcome = exchange.ask(person, f"Late question {n} about PSN subject number {n * 7}")
        if not isinstance(outcome, NewQuestion):
            exchange.ask_anyway(person)

    queue = exchange.queue(expert)

    assert len(queue) == exchange.queue_size(expert) > 0
    assert [exchange.store.questions.queue_position(e.question.id) for e in queue] == list(
        range(1, len(queue) + 1)
    )
    keys = [(-e.question.authorities, e.question.waiting_since) for e in queue]
    assert keys == sorted(keys)
    page = exchange.queue(expert, limit=3, offset=3)
    assert [e.question.id for e in page] == [e.question.id for e in queue[3:6]]
    assert [e.position for e in page] == [4, 5, 6][: len(page)]


def test_a_question_with_an_answer_waiting_cannot_be_merged_away(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, QOS)).question
    exchange.answer(expert, q2.ref, "Six classes of service.")

    with pytest.raises(Conflict, match="answer waiting for the next release"):
        exchange.merge(expert, q2.ref, q1.ref)
    assert exchange.publish(expert).question_ids == (q2.id,)


def test_merging_never_leaves_an_officer_waiting_twice(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    exchange.follow(alice, q2.ref)

    merged = exchange.merge(expert, q2.ref, q1.ref)

    assert merged.asks == 2  # Alice once, Bob once
    assert [m.question.id for m in exchange.mine(alice)] == [q1.id]
    exchange.withdraw(alice, q1.ref)
    assert exchange.mine(alice) == []


def test_following_a_twice_merged_question_reaches_the_live_one(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    q1 = new(exchange.ask(alice, COCO)).question
    q2 = new(exchange.ask(bob, IDS)).question
    q3 = new(exchange.ask(alice, QOS)).question
    exchange.merge(expert, q2.ref, q1.ref)
    exchange.merge(expert, q1.ref, q3.ref)

    followed = exchange.follow(carol, q2.ref)

    assert followed.question.id == q3.id
    assert exchange.question(q2.ref)[0].id == q3.id


def test_failing_messages_are_listed_and_given_up_ones_retried(
    exchange: Exchange, alice: Actor, expert: Actor, settings: object
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "Six classes of service.")
    exchange.publish(expert)
    [owed] = [d for d in exchange.owed_deliveries("test:") if d.recipient == "test:alice"]
    for _ in range(SEND_ATTEMPTS):
        exchange.mark_failed(owed.id, "403 Forbidden (error code: 50007)")
    admin = Actor("test:ada", "Ada", frozenset({Role.OFFICER, Role.ADMIN}))

    [failing] = exchange.failing_messages(admin)

    assert (failing.table, failing.id, failing.what) == ("delivery", owed.id, f"answer to {q.ref}")
    assert failing.given_up
    assert "50007" in failing.last_error
    assert owed.id not in {
        d.id for d in exchange.owed_deliveries("test:", max_attempts=SEND_ATTEMPTS)
    }
    assert exchange.retry_given_up(admin) == 1
    assert owed.id in {d.id for d in exchange.owed_deliveries("test:", max_attempts=SEND_ATTEMPTS)}
    assert exchange.failing_messages(admin) == []
    assert exchange.retry_given_up(admin) == 0
    exchange.mark_sent(owed.id)
    assert exchange.retry_given_up(admin) == 0  # a sent message is never sent again


def test_only_an_admin_sees_or_retries_failing_messages(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    for actor in (alice, expert, STEERING):
        with pytest.raises(NotAllowed, match="exchange admin"):
            exchange.failing_messages(actor)
        with pytest.raises(NotAllowed, match="exchange admin"):
            exchange.retry_given_up(actor)
