"""Nothing an officer or the expert types is lost, and Discord's deadlines are met: forms
submitted after a restart still count, a refused long form comes back whole, and a slow
exchange never makes an autocomplete miss its 3 seconds."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.interactions import giving_back
from knowledge.exchange import Exchange
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    LINK,
    Q1_DERBYSHIRE,
    Place,
    ask,
    field_ids,
    publish,
    refused_kindly,
    reply_of,
    running,
    started,
    stop_worker,
)
from tests.fakediscord import async_test


@async_test
async def test_an_answer_submitted_after_a_restart_still_answers_the_question(
    place: Place,
) -> None:
    fake = await started(place)
    try:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        form = opened.response
        assert form is not None
        assert form.body["custom_id"] == "psnx:answer:1"
        ids = field_ids(form)

        fake = await fake.restart(place.bot())  # the expert is still typing
        await stop_worker(fake)

        saved = await fake.submit_modal(
            geoff,
            {ids["Answer"]: ANSWER, ids["Resource links"]: LINK},
            opened=(form, place.general),
        )
        assert "Answer saved for Q-1 (version 1)" in reply_of(saved).text
        assert "Release 1 published: 1 answer" in await publish(fake, geoff, place.general)
    finally:
        await fake.close()


@async_test
async def test_a_question_asked_in_a_form_opened_before_a_restart_is_asked(place: Place) -> None:
    fake = await started(place)
    try:
        alice = fake.member("Alice")
        opened = await fake.slash(alice, "ask", channel=place.general)
        form = opened.response
        assert form is not None
        ids = field_ids(form)

        fake = await fake.restart(place.bot())
        await stop_worker(fake)

        asked = await fake.submit_modal(
            alice,
            {ids["Your question"]: Q1_DERBYSHIRE, ids["Your authority"]: DERBYSHIRE},
            opened=(form, place.general),
        )
        assert "Q-1" in reply_of(asked).text
    finally:
        await fake.close()


@async_test
async def test_an_authority_given_for_a_forum_post_after_a_restart_takes_the_post(
    place: Place,
) -> None:
    settings = place.with_forum()
    fake = await started(place, settings)
    try:
        alice = fake.member("Alice")
        post = await fake.forum_post(alice, place.forum, "GCSx CoCo and PSN", Q1_DERBYSHIRE)
        [prompt] = post.messages
        [button] = prompt.custom_ids
        opened = await fake.click(alice, button, message=prompt)
        form = opened.response
        assert form is not None
        assert form.body["custom_id"] == f"psnx:forum:authority-form:{prompt.channel_id}"
        [name_field] = field_ids(form).values()

        fake = await fake.restart(place.bot(settings))  # Alice is still typing
        await stop_worker(fake)

        submitted = await fake.submit_modal(
            alice, {name_field: DERBYSHIRE}, opened=(form, prompt.channel_id)
        )
        assert f"Thank you — recorded as {DERBYSHIRE}." in reply_of(submitted).text
        [outcome] = [m for m in submitted.messages if m.via == "channel"]
        assert outcome.channel_id == prompt.channel_id
        assert "your question is Q-1" in outcome.text
    finally:
        await fake.close()


@async_test
async def test_a_refused_long_answer_comes_back_whole_as_a_file(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        long_answer = (ANSWER + " ") * 30
        turn = await fake.submit_modal(
            geoff, {ids["Answer"]: long_answer[:4000], ids["Resource links"]: "not a link"}
        )
        refused_kindly(turn, "is not a web link", "What you typed is attached, in full.")
        assert any("what-you-typed.txt" in call.files for call in turn.requests)


def test_a_refusal_gives_back_short_text_inline_and_long_text_whole_in_a_file() -> None:
    short, none = giving_back("Refused.", "a short answer")
    assert none == []
    assert short.endswith("What you typed:\n```\na short answer\n```")

    typed = "x" * 3000 + " `the end`"
    message, [attached] = giving_back("Refused.", typed)
    assert message == "Refused.\n\nWhat you typed is attached, in full."
    assert attached.filename == "what-you-typed.txt"
    assert attached.fp.read().decode() == typed


@pytest.mark.parametrize(
    ("slow", "command", "option"),
    [
        ("search", "follow", "question"),
        ("mine", "withdraw", "question"),
        ("authority_names", "authority", "name"),
    ],
)
@async_test
async def test_an_autocomplete_behind_a_slow_exchange_offers_nothing_in_time(
    place: Place, monkeypatch: pytest.MonkeyPatch, slow: str, command: str, option: str
) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)

        def stuck(*args: object, **kwargs: object) -> list[object]:
            time.sleep(2.5)  # as if behind a long write on the exchange's thread
            return []

        monkeypatch.setattr(Exchange, slow, stuck)
        began = time.monotonic()
        offered = await fake.autocomplete(alice, command, option, "GCSx", channel=place.general)
        assert offered == []
        assert time.monotonic() - began < 2.4  # Discord allows 3 seconds
        await asyncio.sleep(0.6)  # let the exchange's thread finish before closing
