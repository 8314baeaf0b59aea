"""The bot refusing kindly: permissions, and bad input of every kind."""

from __future__ import annotations

import pytest

from knowledge.exchange import Exchange
from tests.botkit import (
    ANSWER,
    DERBYSHIRE,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    Place,
    actions,
    actor,
    answer_and_publish,
    ask,
    deliver,
    events,
    field_ids,
    no_pings,
    officer_and_question,
    queue_size,
    refused_kindly,
    reply_of,
    run,
    running,
    set_authority,
)
from tests.fakediscord import async_test


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        ("queue", {}, "Only the PSN expert and the steering group can see the queue."),
        ("publish", {}, "Only the PSN expert can publish a release."),
        ("merge", {"question": "Q-1", "into": "Q-2"}, "Only the PSN expert can merge questions."),
        ("answer", {"question": "Q-1"}, "Only the PSN expert can answer questions."),
    ],
)
@async_test
async def test_an_officer_is_refused_the_experts_commands(
    place: Place, command: str, options: dict[str, str], expected: str
) -> None:
    async with running(place) as fake:
        _, bob = await officer_and_question(fake, place)
        before = events(fake)
        turn = await fake.slash(bob, command, options, channel=place.general)
        refused_kindly(turn, expected, "PSN expert")
        assert events(fake) == before
        assert queue_size(fake) == 1


@async_test
async def test_an_officer_clicking_an_answer_button_is_refused_before_any_form_opens(
    place: Place,
) -> None:
    async with running(place) as fake:
        _, bob = await officer_and_question(fake, place)
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        page = reply_of(await fake.slash(geoff, "queue", channel=place.general))
        for custom_id, verb in (("psnx:queue:answer:1", "answer"), ("psnx:queue:merge:1", "merge")):
            turn = await fake.click(bob, custom_id, message=page)
            refused_kindly(turn, f"Only the PSN expert can {verb} questions.")
        assert [r.type for r in fake.replies if r.user_id == bob.id].count(9) == 0


@async_test
async def test_an_officer_cannot_withdraw_someone_elses_question(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = await officer_and_question(fake, place)
        before = events(fake)
        turn = await fake.slash(bob, "withdraw", {"question": "Q-1"}, channel=place.general)
        refused_kindly(turn, "You can only withdraw your own questions.")
        assert events(fake) == before
        assert queue_size(fake) == 1
        # ... and the autocomplete offers Bob none of Alice's questions
        offered = await fake.autocomplete(bob, "withdraw", "question", "", channel=place.general)
        assert offered == []
        mine = await fake.autocomplete(alice, "withdraw", "question", "", channel=place.general)
        assert [c["value"] for c in mine] == ["Q-1"]
        withdrawn = await fake.slash(alice, "withdraw", {"question": "Q-1"}, channel=place.general)
        assert "You withdrew from Q-1 (withdrawn)." in reply_of(withdrawn).text
        assert queue_size(fake) == 0


@async_test
async def test_expert_commands_in_a_direct_message_are_refused(place: Place) -> None:
    # Discord hides guild-only commands in DMs; should one arrive anyway, the expert's role
    # cannot be seen there, so the exchange refuses it like any officer's.
    async with running(place) as fake:
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        for command in ("publish", "queue"):
            turn = await fake.slash(geoff, command)  # no channel: a DM
            refused_kindly(turn, "Only the PSN expert")
        assert actions(fake) == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("   \n\t  ", "Your question is empty."),
        # knowledge/text.py needs a two-letter word, so one letter reads as "no words"
        ("a", "very short"),
        ("PSN?", "Your question is very short (4 characters)."),
        ("🙂🎉🔥🙂🎉🔥🙂🎉🔥🙂🎉🔥", "no words we can read"),
        ("\u200b\u200c\u200d\u2060\ufeff\u200b\u200b\u200b\u200b\u200b", "Your question is empty."),
    ],
    ids=["whitespace", "one-char", "short", "emoji", "zero-width"],
)
@async_test
async def test_a_question_that_cannot_be_used_is_refused_and_given_back(
    place: Place, typed: str, expected: str
) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        before = events(fake)
        turn = await ask(fake, alice, typed, channel=place.general)
        text = refused_kindly(turn, expected)
        if typed.strip():  # nothing worth giving back in a blank question
            assert "What you typed:" in text
            assert typed in text
        assert events(fake) == before
        assert fake.sent_messages(place.questions) == []


@async_test
async def test_the_discord_client_itself_refuses_an_empty_question(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await set_authority(fake, alice, DERBYSHIRE, place.general)
        opened = await fake.slash(alice, "ask", channel=place.general)
        assert opened.response is not None
        with pytest.raises(ValueError, match="required"):
            await fake.submit_modal(alice, {field_ids(opened.response)["Your question"]: ""})


@pytest.mark.parametrize("typed", ['"', "*", "NEAR(", "AND", "-", 'psn" OR "', "gcsx*"])
@async_test
async def test_search_takes_fts_syntax_as_plain_words(place: Place, typed: str) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        turn = await fake.slash(alice, "search", {"text": typed}, channel=place.general)
        shown = reply_of(turn)
        assert shown.ephemeral
        assert "went wrong" not in shown.text
        assert ("Search:" in shown.text) or ("type a word or two" in shown.text), shown.text
        choices = await fake.autocomplete(alice, "search", "text", typed, channel=place.general)
        assert isinstance(choices, list)
        await fake.autocomplete(alice, "follow", "question", typed, channel=place.general)


@async_test
async def test_search_finds_by_acronym_and_by_id(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        for typed in ("coco", "Q-1"):
            turn = await fake.slash(alice, "search", {"text": typed}, channel=place.general)
            assert "Q-1 · other" in reply_of(turn).text
        choices = await fake.autocomplete(
            alice, "follow", "question", "gcsx", channel=place.general
        )
        assert [c["value"] for c in choices] == ["Q-1"]
        missing = await fake.slash(alice, "search", {"text": "Q-99"}, channel=place.general)
        refused_kindly(missing, "There is no question Q-99.")


@async_test
async def test_mentions_in_a_question_are_stored_as_text_and_ping_nobody(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        role = fake.role_id("PSN Expert")
        typed = (
            f"@everyone @here <@&{role}> <@{bob.id}> does the PSN CoCo apply to our "
            "schools network as well as the corporate network?"
        )
        turn = await ask(fake, alice, typed, channel=place.general, authority=DERBYSHIRE)
        assert "your question is Q-1" in reply_of(turn).text
        stored, _ = run(fake, Exchange.question, "Q-1")
        assert stored.text == typed  # kept exactly as written
        await fake.slash(geoff, "queue", channel=place.general)
        await fake.slash(alice, "mine", channel=place.general)
        await answer_and_publish(fake, geoff, "Q-1", place.general)
        assert await deliver(fake) == 2
        sent = [m for m in fake.messages if m.content or m.embeds]
        assert sent
        for message in sent:
            assert message.allowed_mentions == {"parse": []}, message.text
        for reply in fake.replies:
            if reply.type in (4, 5, 7):
                assert reply.allowed_mentions in (None, {"parse": []})
        no_pings(fake)
        [post] = fake.sent_messages(place.questions)
        assert "@everyone" not in post.content.replace("@\u200beveryone", "")


@async_test
async def test_markdown_in_a_question_is_shown_as_text(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        typed = "**URGENT** read [the CoCo](https://evil.example) and __reply__ about GCSx `now`"
        turn = await ask(fake, alice, typed, channel=place.general, authority=DERBYSHIRE)
        embed = reply_of(turn).embeds[0]
        assert "\\*\\*URGENT\\*\\*" in embed["description"]
        assert "\\[the CoCo\\]" in embed["description"] or "\\[the CoCo]" in embed["description"]
        assert "**URGENT**" not in embed["description"]
        [post] = fake.sent_messages(place.questions)
        assert "\\*\\*URGENT\\*\\*" in post.content
        assert "\\_\\_reply\\_\\_" in post.content


@async_test
async def test_follow_refuses_unknown_and_malformed_ids(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        bob = fake.member("Bob")
        await set_authority(fake, bob, NOTTINGHAM, place.general)
        before = events(fake)
        for typed, expected in (
            ("Q-999", "There is no question Q-999."),
            ("banana", "is not a question id. Question ids look like Q-42."),
            ("Q-0", "is not a question id"),
        ):
            turn = await fake.slash(bob, "follow", {"question": typed}, channel=place.general)
            refused_kindly(turn, expected)
        again = await fake.slash(alice, "follow", {"question": "Q-1"}, channel=place.general)
        refused_kindly(again, "You already follow Q-1.")
        assert events(fake) == before
        ok = await fake.slash(bob, "follow", {"question": "q1"}, channel=place.general)
        assert "You now follow Q-1: 2 authorities" in reply_of(ok).text


@pytest.mark.parametrize(
    "links",
    ["ftp://files.example/coco.pdf", "www.gov.uk/psn", "javascript:alert(1)", "not a link"],
)
@async_test
async def test_bad_links_in_the_answer_form_are_refused(place: Place, links: str) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        opened = await fake.slash(geoff, "answer", {"question": "Q-1"}, channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        turn = await fake.submit_modal(geoff, {ids["Answer"]: ANSWER, ids["Resource links"]: links})
        refused_kindly(turn, "is not a web link")
        assert events(fake, "answer_written") == []
        nothing = await fake.slash(geoff, "publish", channel=place.general)
        refused_kindly(nothing, "There is nothing to publish")


@async_test
async def test_an_authority_typed_with_look_alike_letters_is_recorded_under_the_known_name(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        typed = "DЕRBYSHIRE COUNTY COUNCIL"  # a Cyrillic Е
        turn = await fake.slash(alice, "authority", {"name": typed}, channel=place.general)
        assert f"you are recorded as working for {DERBYSHIRE}." in reply_of(turn).text
        assert typed not in run(fake, Exchange.authority_names)


@async_test
async def test_authority_autocompletes_from_the_configured_list_and_refuses_nonsense(
    place: Place,
) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        offered = await fake.autocomplete(
            alice, "authority", "name", "derby", channel=place.general
        )
        assert [c["value"] for c in offered] == ["Derby City Council", DERBYSHIRE]
        for typed in ("🙂🙂", "x" * 121):
            turn = await fake.slash(alice, "authority", {"name": typed}, channel=place.general)
            refused_kindly(turn, "Please give your authority's name in words")
        assert actions(fake) == []
        turn = await fake.slash(
            alice, "authority", {"name": "derbyshire  county council"}, channel=place.general
        )
        assert f"you are recorded as working for {DERBYSHIRE}." in reply_of(turn).text
        assert run(fake, Exchange.authority_of, actor(alice)) == DERBYSHIRE
