"""The exchange's officer use cases (ask, follow, withdraw, search, mine), on a real SQLite
file, in the workshop's words."""

from __future__ import annotations

import pytest

from knowledge.errors import (
    AuthorityNeeded,
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    RateLimited,
)
from knowledge.exchange import Exchange
from knowledge.models import (
    Actor,
    AnsweredMatch,
    Link,
    NewQuestion,
    OpenMatch,
    Status,
)
from tests.conftest import Clock, officer
from tests.stories import COCO, COCO_AGAIN, IDS, QOS, count, new


def test_a_new_question_joins_the_queue_and_is_saved(
    exchange: Exchange, alice: Actor, settings: object
) -> None:
    outcome = new(exchange.ask(alice, COCO, topic="technical"))

    assert outcome.question.ref == "Q-1"
    assert outcome.position == 1
    assert outcome.question.topic == "technical"
    reopened = Exchange.open(exchange.settings)
    try:
        assert [m.question.text for m in reopened.mine(alice)] == [COCO]
    finally:
        reopened.close()


def test_second_authority_is_offered_the_open_question_and_follows_it(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    first = new(exchange.ask(alice, COCO))

    offered = exchange.ask(bob, COCO_AGAIN)

    assert isinstance(offered, OpenMatch)
    assert offered.question.id == first.question.id
    assert offered.question.authorities == 1
    assert "code of connection" in offered.match.explain()
    followed = exchange.follow(bob, offered.question.ref)
    assert followed.question.authorities == 2
    assert followed.position == 1
    assert count(exchange, "questions") == 1


def test_ask_anyway_makes_a_new_question_and_records_the_declined_suggestion(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    exchange.ask(alice, COCO)
    offered = exchange.ask(bob, COCO_AGAIN)
    assert isinstance(offered, OpenMatch)

    outcome = exchange.ask_anyway(bob, offered.draft_id)

    assert outcome.question.id != offered.question.id
    assert exchange.mine(bob)[0].link is Link.ASKED_ANYWAY
    declined = exchange.store.events.all("suggestion_declined")
    assert [e["question_id"] for e in declined] == [offered.question.id]
    with pytest.raises(Conflict):
        exchange.ask_anyway(bob, offered.draft_id)


def test_an_answered_match_is_offered_with_its_answer(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, QOS)).question
    exchange.answer(expert, q.ref, "PSN provides a minimum of six classes of service.")
    exchange.publish(expert)

    offered = exchange.ask(bob, "How does the Public Sector Network handle QoS?")

    assert isinstance(offered, AnsweredMatch)
    assert offered.answer.body.startswith("PSN provides")
    exchange.accept_answer(bob, offered.draft_id)
    assert [e["question_id"] for e in exchange.store.events.all("answered_from_store")] == [q.id]
    assert exchange.queue(expert) == []
    # Bob sees it among his questions, answered, and will be sent a revised answer.
    [mine] = exchange.mine(bob)
    assert (mine.question.id, mine.link) == (q.id, Link.ANSWERED_FROM_STORE)
    assert mine.answer is not None
    for delivery in exchange.owed_deliveries("test:"):
        exchange.mark_sent(delivery.id)
    exchange.answer(expert, q.ref, "Since 2011 there are seven classes of service.")
    exchange.publish(expert)
    assert "test:bob" in {d.recipient for d in exchange.owed_deliveries("test:")}
    # His wording now finds the question as a duplicate.
    [match] = exchange.matcher.find("How does the Public Sector Network handle QoS?", limit=1)
    assert (match.question_id, match.verdict) == (q.id, "duplicate")


def test_different_questions_sharing_words_are_not_called_the_same(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    exchange.ask(alice, "How much does GCSx Code of Connection accreditation cost?")

    outcome = exchange.ask(bob, "How long does GCSx Code of Connection accreditation take?")

    # At most offered as possibly related; never treated as the same question.
    if isinstance(outcome, OpenMatch):
        assert outcome.match.verdict == "similar"
        assert outcome.match.score < exchange.settings.matching.duplicate_threshold
    else:
        assert isinstance(outcome, NewQuestion)


def test_asking_your_own_question_again_is_refused(exchange: Exchange, alice: Actor) -> None:
    exchange.ask(alice, COCO)

    with pytest.raises(Conflict, match="already asked this as Q-1"):
        exchange.ask(alice, COCO)
    assert count(exchange, "asks") == 1


def test_first_ask_needs_an_authority(exchange: Exchange) -> None:
    newcomer = officer("Dana")

    with pytest.raises(AuthorityNeeded):
        exchange.ask(newcomer, COCO)
    exchange.set_authority(newcomer, "rutland county council")

    assert exchange.authority_of(newcomer) == "Rutland County Council"
    assert new(exchange.ask(newcomer, COCO)).question.authorities == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "?",
        "x" * 2001,
        "😀😀😀 🎉",
        "\u200b\u200d\u2066\u202e",
        "How do we join\x00 PSN?",
        "short?",
    ],
    ids=["empty", "whitespace", "one-char", "too-long", "emoji", "invisible", "null", "short"],
)
def test_bad_questions_are_refused_kindly_and_change_nothing(
    exchange: Exchange, alice: Actor, text: str
) -> None:
    events_before = count(exchange, "events")

    with pytest.raises(InvalidInput) as refused:
        exchange.ask(alice, text)

    assert str(refused.value).startswith(("Your question", "Please"))
    assert count(exchange, "questions") == 0
    assert count(exchange, "events") == events_before


def test_invisible_characters_are_removed_before_storing(exchange: Exchange, alice: Actor) -> None:
    outcome = new(exchange.ask(alice, "How is Quality\u200b of Service\u202e handled in PSN?"))

    assert outcome.question.text == "How is Quality of Service handled in PSN?"


def test_unknown_topic_is_refused(exchange: Exchange, alice: Actor) -> None:
    with pytest.raises(InvalidInput, match="technical, procurement, governance, other"):
        exchange.ask(alice, QOS, topic="networking")


def limit(exchange: Exchange, **changes: int) -> None:
    """Tighten the exchange's limits for one test."""
    tightened = exchange.settings.exchange.model_copy(update=changes)
    exchange.settings = exchange.settings.model_copy(update={"exchange": tightened})


SUBJECTS = [
    "VoIP over the core",
    "DNS naming rules",
    "IPsec tunnels",
    "schools traffic",
    "police admin traffic",
    "state aid rules",
    "software licensing",
]


def test_asks_are_rate_limited_per_hour(exchange: Exchange, alice: Actor, clock: Clock) -> None:
    limit(exchange, asks_per_hour=3)
    for subject in SUBJECTS[:3]:
        new(exchange.ask(alice, f"What does PSN say about {subject}?"))
    asked = count(exchange, "questions")

    with pytest.raises(RateLimited, match="last hour"):
        exchange.ask(alice, "When is the Public Sector Network available in our area?")
    assert count(exchange, "questions") == asked
    clock.advance(hours=1, seconds=1)
    assert isinstance(exchange.ask(alice, "When is PSN available in Rutland?"), NewQuestion)


def test_one_officer_cannot_flood_the_queue(exchange: Exchange, alice: Actor, clock: Clock) -> None:
    limit(exchange, max_open_questions_per_officer=2)
    for subject in SUBJECTS[:2]:
        clock.advance(hours=2)
        new(exchange.ask(alice, f"What does PSN say about {subject}?"))

    with pytest.raises(RateLimited, match="already have 2 questions waiting"):
        exchange.ask(alice, f"What does PSN say about {SUBJECTS[3]}?")
    exchange.withdraw(alice, "Q-1")
    assert isinstance(exchange.ask(alice, f"What does PSN say about {SUBJECTS[3]}?"), NewQuestion)


def test_following_twice_is_refused(exchange: Exchange, alice: Actor, bob: Actor) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)

    with pytest.raises(Conflict, match="already follow"):
        exchange.follow(bob, q.ref)


@pytest.mark.parametrize("ref", ["Q-99", "question one", "Q--1", ""])
def test_following_an_unknown_question_is_refused(
    exchange: Exchange, alice: Actor, ref: str
) -> None:
    with pytest.raises((NotFound, InvalidInput)):
        exchange.follow(alice, ref)
    assert count(exchange, "asks") == 0


def test_withdrawing_the_last_ask_takes_the_question_out_of_the_queue(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, IDS)).question

    withdrawn = exchange.withdraw(alice, q.ref)

    assert withdrawn.status is Status.WITHDRAWN
    assert exchange.queue(expert) == []
    assert isinstance(exchange.ask(bob, IDS), NewQuestion)


def test_withdrawing_keeps_the_question_while_others_wait(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, q.ref)

    remaining = exchange.withdraw(alice, q.ref)

    assert remaining.status is Status.OPEN
    assert remaining.authorities == 1


def test_withdrawing_another_officers_question_is_refused(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question

    with pytest.raises(NotAllowed, match="only withdraw your own"):
        exchange.withdraw(bob, q.ref)
    assert exchange.question(q.ref)[0].asks == 1


@pytest.mark.parametrize(
    "text",
    ['"', "*", "NEAR(", "AND", "-", "CoCo OR", "'; DROP TABLE questions; --", "col:umn ^x"],
)
def test_search_accepts_anything_a_user_may_type(
    exchange: Exchange, alice: Actor, text: str
) -> None:
    exchange.ask(alice, COCO)

    if any(ch.isalnum() for ch in text):
        assert isinstance(exchange.search(text), list)
    else:
        with pytest.raises(InvalidInput, match="word"):
            exchange.search(text)
    assert count(exchange, "questions") == 1


def test_search_finds_acronyms_by_their_long_form_and_hides_unpublished_answers(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, "What does CoCo compliance cost a district council?")).question
    exchange.answer(expert, q.ref, "Roughly the cost of an IT health check.")

    [hit] = exchange.search("code of connection")
    assert hit.question.id == q.id
    assert hit.answer is None
    assert exchange.search("health check") == []

    exchange.publish(expert)
    [hit] = exchange.search("health check")
    assert hit.answer is not None


def test_mine_shows_status_position_and_answer(
    exchange: Exchange, alice: Actor, expert: Actor
) -> None:
    first = new(exchange.ask(alice, COCO)).question
    second = new(exchange.ask(alice, IDS)).question
    exchange.answer(expert, first.ref, "Yes, carried forward.")
    exchange.publish(expert)

    mine = {m.question.id: m for m in exchange.mine(alice)}

    assert mine[first.id].answer is not None
    assert mine[first.id].position is None
    assert mine[second.id].position == 1
    assert mine[second.id].question.status is Status.OPEN


def test_every_action_is_in_the_event_log(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    exchange.ask(bob, COCO_AGAIN)
    exchange.follow(bob, q.ref)
    exchange.answer(expert, q.ref, "Yes.")
    exchange.publish(expert)

    actions = [e["action"] for e in exchange.store.events.all()]
    assert actions[-5:] == ["asked", "suggested", "followed", "answer_written", "published"]


def test_a_withdrawn_question_is_not_shown(exchange: Exchange, alice: Actor) -> None:
    q = new(exchange.ask(alice, IDS)).question
    exchange.withdraw(alice, q.ref)

    with pytest.raises(NotFound, match="withdrawn"):
        exchange.question(q.ref)


def test_a_withdrawn_wording_stops_matching_as_after_a_restart(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor
) -> None:
    q = new(exchange.ask(alice, COCO)).question
    odd = "Are GCSx accreditation fees refundable for PSN connection in Rutland?"
    exchange.follow(bob, q.ref)
    exchange.store.db.execute(
        "UPDATE asks SET text = ? WHERE officer_id = (SELECT id FROM officers WHERE "
        "user_key = 'test:bob')",
        [odd],
    )
    exchange.uow.rebuild_matcher()  # as a restart would see Bob's wording
    exchange.withdraw(bob, q.ref)

    live = [(m.question_id, round(m.score, 1)) for m in exchange.matcher.find(odd)]
    restarted = Exchange.open(exchange.settings)
    try:
        fresh = [(m.question_id, round(m.score, 1)) for m in restarted.matcher.find(odd)]
    finally:
        restarted.close()
    assert live == fresh


def test_suggestions_count_towards_the_hourly_limit(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    limit(exchange, asks_per_hour=3)
    exchange.ask(alice, COCO)
    for _ in range(3):
        assert isinstance(exchange.ask(bob, COCO_AGAIN), OpenMatch)

    with pytest.raises(RateLimited):
        exchange.ask(bob, COCO_AGAIN)


def test_authority_names_offer_the_configured_list_and_those_in_use(
    exchange: Exchange, alice: Actor
) -> None:
    exchange.set_authority(officer("Zed"), "Wolds Parish Council")

    names = exchange.authority_names()

    assert "Wolds Parish Council" in names
    assert "Rutland County Council" in names
    assert names == sorted(names, key=str.lower)


def test_only_the_latest_suggestion_waits_for_a_choice(
    exchange: Exchange, alice: Actor, bob: Actor
) -> None:
    exchange.ask(alice, COCO)
    exchange.ask(alice, QOS)
    first = exchange.ask(bob, COCO_AGAIN)
    second = exchange.ask(bob, "How does the Public Sector Network handle QoS?")
    assert isinstance(first, OpenMatch)
    assert isinstance(second, OpenMatch)

    filed = exchange.ask_anyway(bob)

    assert filed.question.text == "How does the Public Sector Network handle QoS?"
    with pytest.raises(Conflict, match="already chosen"):
        exchange.ask_anyway(bob, first.draft_id)
    with pytest.raises(NotFound):
        exchange.ask_anyway(bob)


def test_search_by_acronym_matches_the_long_form_as_a_phrase(
    exchange: Exchange, alice: Actor
) -> None:
    vpn = new(exchange.ask(alice, "Can we keep our virtual private network links under PSN?"))
    exchange.ask(alice, "Will the regional network replace our private schools contract?")

    hits = exchange.search("vpn")

    assert [h.question.id for h in hits] == [vpn.question.id]


def test_search_finds_a_thesaurus_word_by_any_of_its_forms(
    exchange: Exchange, alice: Actor
) -> None:
    members = new(exchange.ask(alice, "How should we explain PSN to councillors?"))
    exchange.ask(alice, "Will the regional network replace our private schools contract?")

    assert [h.question.id for h in exchange.search("ward members")] == [members.question.id]
    assert [h.question.id for h in exchange.search("cllr")] == [members.question.id]


def test_the_configured_spelling_of_an_authority_wins(exchange: Exchange) -> None:
    first, second = officer("Una"), officer("Vic")
    exchange.set_authority(first, "derby city council (ICT)")
    exchange.set_authority(second, "DERBY CITY COUNCIL")

    assert exchange.authority_of(second) == "Derby City Council"
    assert exchange.authority_of(first) == "derby city council (ICT)"
    assert "DERBY CITY COUNCIL" not in exchange.authority_names()


YNYS_MON = "Ynys Môn"
CYRILLIC_O = "\u043e"


def test_authorities_differing_only_in_non_ascii_case_are_one_and_count_once(
    exchange: Exchange, alice: Actor
) -> None:
    una, vic = officer("Una"), officer("Vic")
    assert exchange.set_authority(una, YNYS_MON) == YNYS_MON

    assert exchange.set_authority(vic, "YNYS MÔN") == YNYS_MON  # the reply names the kept one
    asked = new(exchange.ask(una, COCO)).question
    followed = exchange.follow(vic, asked.ref)

    assert followed.question.authorities == 1
    assert exchange.authority_of(vic) == YNYS_MON
    assert [n for n in exchange.authority_names() if n.casefold() == "ynys môn"] == [YNYS_MON]


def test_a_name_with_look_alike_letters_joins_the_configured_authority(
    exchange: Exchange,
) -> None:
    spoofed = "Derby City C" + CYRILLIC_O + "uncil"

    stored = exchange.set_authority(officer("Una"), spoofed)

    assert stored == "Derby City Council"
    assert spoofed not in exchange.authority_names()


def test_a_name_with_look_alike_letters_joins_the_authority_already_in_use(
    exchange: Exchange,
) -> None:
    exchange.set_authority(officer("Una"), "Wolds Parish Council")

    stored = exchange.set_authority(officer("Vic"), "W" + CYRILLIC_O + "lds Parish Council")

    assert stored == "Wolds Parish Council"
    assert exchange.authority_of(officer("Vic")) == "Wolds Parish Council"


def test_a_new_name_hiding_look_alike_letters_is_refused_and_changes_nothing(
    exchange: Exchange, alice: Actor
) -> None:
    spoofed = "W" + CYRILLIC_O + "lds Parish Council"
    before = exchange.authority_names()

    with pytest.raises(InvalidInput, match="letters from another alphabet"):
        exchange.set_authority(alice, spoofed)
    with pytest.raises(InvalidInput, match="'о' \\(Cyrillic small letter o\\)"):
        exchange.ask(officer("Una"), COCO, authority=spoofed)

    assert exchange.authority_of(alice) == "Derbyshire County Council"
    assert exchange.authority_of(officer("Una")) is None
    assert exchange.authority_names() == before
    assert count(exchange, "questions") == 0


def test_only_configured_authorities_are_matched_as_people_read_them(
    exchange: Exchange,
) -> None:
    limit_to_configured = exchange.settings.exchange.model_copy(
        update={"allow_other_authorities": False, "authorities": (YNYS_MON, "Conwy")}
    )
    exchange.settings = exchange.settings.model_copy(update={"exchange": limit_to_configured})

    assert exchange.set_authority(officer("Una"), "YNYS MÔN") == YNYS_MON
    assert exchange.set_authority(officer("Vic"), "C" + CYRILLIC_O + "nwy") == "Conwy"
    with pytest.raises(InvalidInput, match="not one of the authorities taking part"):
        exchange.set_authority(officer("Wyn"), "Ynys Mon")


def test_other_possible_matches_are_offered_and_can_be_followed(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor
) -> None:
    carry = new(exchange.ask(alice, COCO)).question
    asked = exchange.ask(carol, "How much will GCSx Code of Connection compliance cost PSN?")
    cost = asked if isinstance(asked, NewQuestion) else exchange.ask_anyway(carol)

    offered = exchange.ask(
        bob, "Our GCSx CoCo compliance and PSN: carried forward, and at what cost?"
    )

    assert isinstance(offered, OpenMatch)
    offered_ids = {offered.question.id, *(o.question.id for o in offered.others)}
    assert offered_ids == {carry.id, cost.question.id}
    other = next(o for o in offered.others)
    followed = exchange.follow(bob, other.question.ref, offered.draft_id)
    assert followed.question.id == other.question.id
    [mine] = exchange.mine(bob)
    assert mine.question.id == other.question.id
    with pytest.raises(Conflict, match="already chosen"):
        exchange.ask_anyway(bob, offered.draft_id)
