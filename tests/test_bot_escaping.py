"""Everything people typed stays text wherever the bot shows it in Discord: questions,
answers, authorities, search words, forum posts, names and refusals that quote them.

Each test types the same hostile words in one place — bold, @everyone, a user mention, a
masked link and a heading — then checks that every message and reply the bot sent shows
them as typed (Discord reads a backslash before punctuation as "show it") but with none of
them formatting, linking or mentioning, and that nothing could notify anyone.
"""

from __future__ import annotations

import re

from knowledge.exchange import Exchange
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    LINK,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    Place,
    actor,
    answer_and_publish,
    as_read,
    ask,
    button,
    deliver,
    field_ids,
    no_pings,
    no_pings_but,
    publish,
    q1_thread,
    refused_kindly,
    reply_of,
    run,
    running,
)
from tests.fakediscord import FakeDiscord, Msg, Reply, async_test
from tests.test_render import active, masked_links

HOSTILE = "# heading **x** @everyone <@123> [x](https://evil.example)"
# A refusal quotes the first 40 characters of a question id: all of these.
HOSTILE_ID = "**x** @everyone <@123> [x](https://evil)"
QUESTION = f"{HOSTILE} — does the PSN CoCo cover our schools network?\n# heading of its own"
AUTHORITY = "**x** Council @everyone <@123> [x](https://evil.example)"


def inert(text: str) -> None:
    """`text` formats, links and mentions nothing of HOSTILE's."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # a code block shows text as typed
    live = active(text)
    assert "**x**" not in live, text
    assert masked_links(text) == [], text
    assert "<@123>" not in live, text
    assert "@everyone" not in text, text  # escape_mentions breaks it with a zero-width space
    assert not re.search(r"^[ \t]*#+[ \t]*heading", live, re.MULTILINE), text


def shows(text: str, typed: str = HOSTILE) -> None:
    """`text` still shows what was typed, as typed (so nothing was silently dropped)."""
    read = as_read(text).replace("\u200b", "")
    for piece in ("**x**", "@everyone", "<@123>", "[x](https://evil.example)", "[x](https://evil)"):
        if piece in typed:
            assert piece in read, text


def sent_by_the_bot(fake: FakeDiscord) -> list[Msg | Reply]:
    """Every message and interaction reply that Discord renders as Markdown."""
    # Autocomplete choices (8) and forms (9) are plain text, not Markdown.
    return [*fake.messages, *(r for r in fake.replies if r.type not in (8, 9))]


def everything_inert(fake: FakeDiscord, *, pinged: set[str] | None = None) -> None:
    bodies = sent_by_the_bot(fake)
    assert bodies
    for body in bodies:
        inert(body.text)
        if isinstance(body, Msg):
            allowed = body.allowed_mentions
            assert allowed is None or allowed.get("parse") == [], (body.text, allowed)
    if pinged:
        no_pings_but(fake, pinged)
    else:
        no_pings(fake)


@async_test
async def test_a_new_question_is_text_in_the_reply_and_in_its_public_post(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        turn = await ask(fake, alice, QUESTION, channel=place.general, authority=AUTHORITY)

        shows(reply_of(turn).text)
        [post] = fake.sent_messages(place.questions)
        shows(post.text)
        shows(post.text, AUTHORITY)  # "asked by" the authority
        everything_inert(fake)


@async_test
async def test_a_waiting_match_and_the_other_matches_offered_are_text(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await ask(fake, alice, QUESTION, channel=place.general, authority=DERBYSHIRE)
        await ask(
            fake,
            alice,
            f"{HOSTILE} — who pays for the PSN accreditation of our schools network?",
            channel=place.general,
        )
        turn = await ask(fake, bob, QUESTION + "!", channel=place.general, authority=NOTTINGHAM)

        offer = reply_of(turn)
        assert "Already asked: Q-1" in offer.text
        assert "Or is it one of these?" in offer.text
        shows(offer.text)
        everything_inert(fake)


@async_test
async def test_search_shows_the_words_searched_for_and_the_hits_as_text(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, QUESTION, channel=place.general, authority=DERBYSHIRE)
        fake.messages.clear()  # only what the searches show

        for typed in (HOSTILE, "schools network"):
            turn = await fake.slash(alice, "search", {"text": typed}, channel=place.general)
            shown = reply_of(turn)
            assert "Search:" in shown.text
            shows(shown.text)
        everything_inert(fake)


@async_test
async def test_an_authority_is_text_wherever_it_is_shown(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        chair = fake.member("Chair", roles=["Steering Group"])
        told = await fake.slash(alice, "authority", {"name": AUTHORITY}, channel=place.general)
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general)
        queue = await fake.slash(geoff, "queue", channel=place.general)
        digest = await fake.slash(chair, "digest", channel=place.general)
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        await deliver(fake)

        for text in (
            reply_of(told).text,
            fake.sent_messages(place.questions)[0].text,
            reply_of(queue).text,
            reply_of(digest).text,
            fake.dms(alice)[0].text,  # "Asked by"
        ):
            shows(text, AUTHORITY)
        everything_inert(fake)


@async_test
async def test_a_forum_post_and_the_authority_given_there_are_text_in_the_replies(
    place: Place,
) -> None:
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        post = await fake.forum_post(alice, place.forum, HOSTILE, QUESTION, tags=["Technical"])
        [prompt] = post.messages
        opened = await fake.click(alice, prompt.custom_ids[0], message=prompt)
        assert opened.response is not None
        [name_field] = field_ids(opened.response).values()
        submitted = await fake.submit_modal(alice, {name_field: AUTHORITY})

        shows(reply_of(submitted).text, AUTHORITY)  # "Thank you — recorded as …"
        [outcome] = [m for m in submitted.messages if m.via == "channel"]
        assert "your question is Q-1" in outcome.text
        shows(outcome.text)
        # The one mention: the officer who posted, asked for their authority.
        everything_inert(fake, pinged={f"user:{alice.id}"})


@async_test
async def test_the_queue_and_mine_show_questions_and_answers_as_text(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, QUESTION, channel=place.general, authority=DERBYSHIRE)
        queue = await fake.slash(geoff, "queue", channel=place.general)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        await fake.submit_modal(geoff, {ids["Answer"]: f"{ANSWER}\n{HOSTILE}"})
        await publish(fake, geoff, place.general)
        mine = await fake.slash(alice, "mine", channel=place.general)

        shows(reply_of(queue).text)
        shows(reply_of(mine).text)
        everything_inert(fake)


@async_test
async def test_answers_and_merge_notices_delivered_are_text(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, QUESTION, channel=place.general, authority=AUTHORITY)
        await ask(
            fake,
            bob,
            "Who pays for the PSN accreditation of our schools broadband?",
            channel=place.general,
            authority=NOTTINGHAM,
        )
        await fake.slash(geoff, "merge", {"question": "Q-2", "into": "Q-1"}, channel=place.general)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        await fake.submit_modal(
            geoff, {ids["Answer"]: f"{ANSWER}\n{HOSTILE}", ids["Resource links"]: LINK}
        )
        await publish(fake, geoff, place.general)
        await deliver(fake)

        [merged, answered] = fake.dms(bob)
        assert "was merged into Q-1" in merged.text
        shows(merged.text)
        shows(answered.text)
        [in_thread] = fake.sent_messages(q1_thread(fake))
        shows(in_thread.text)
        shows(in_thread.text, AUTHORITY)
        everything_inert(fake)


@async_test
async def test_a_refusal_that_quotes_what_was_typed_shows_it_as_text(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        turns = [
            await fake.slash(alice, "follow", {"question": HOSTILE_ID}, channel=place.general),
            await fake.slash(alice, "withdraw", {"question": HOSTILE_ID}, channel=place.general),
            await fake.slash(
                geoff, "merge", {"question": HOSTILE_ID, "into": "Q-1"}, channel=place.general
            ),
        ]
        for turn in turns:
            shows(refused_kindly(turn, "is not a question id"), HOSTILE_ID)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        link = "[x](https://evil.example)"
        refused = await fake.submit_modal(
            geoff, {ids["Answer"]: ANSWER, ids["Resource links"]: link}
        )
        shows(refused_kindly(refused, "is not a web link"), link)
        everything_inert(fake)


@async_test
async def test_a_merge_confirms_the_question_by_its_id_not_as_typed(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        await ask(fake, bob, QUESTION, channel=place.general, authority=NOTTINGHAM)

        turn = await fake.slash(
            geoff, "merge", {"question": " #2 ", "into": "q1"}, channel=place.general
        )

        assert "Merged Q-2 into Q-1" in reply_of(turn).text
        everything_inert(fake)


@async_test
async def test_an_officers_name_is_shown_nowhere(place: Place) -> None:
    async with running(place) as fake:
        name = "Mallory **x** @everyone <@123>"
        mallory = fake.member(name)
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        chair = fake.member("Chair", roles=["Steering Group"])
        await ask(fake, mallory, QUESTION, channel=place.general, authority=DERBYSHIRE)
        await fake.slash(geoff, "queue", channel=place.general)
        await fake.slash(chair, "digest", channel=place.general)
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        await deliver(fake)
        assert run(fake, Exchange.my_data, actor(mallory))["officer"]["display_name"] == name

        everything_inert(fake)
        for body in sent_by_the_bot(fake):
            assert "Mallory" not in body.text


@async_test
async def test_the_steering_digest_shows_questions_and_authorities_as_text(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        chair = fake.member("Chair", roles=["Steering Group"])
        await ask(fake, alice, QUESTION, channel=place.general, authority=AUTHORITY)
        offer = await ask(fake, bob, QUESTION + "!", channel=place.general, authority=NOTTINGHAM)
        # Bob follows, so Q-1 is "most wanted", listed with its text.
        await fake.click(bob, button(reply_of(offer), "follow"))

        digest = await fake.slash(chair, "digest", channel=place.general)

        assert "Most wanted" in reply_of(digest).text
        shows(reply_of(digest).text)
        shows(reply_of(digest).text, AUTHORITY)
        everything_inert(fake)
