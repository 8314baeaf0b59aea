"""Every message the bot sends fits Discord's limits by construction: the largest legal
inputs, through every view that shows them, and the fake (which refuses what Discord
refuses) accepts all of it."""

from __future__ import annotations

import random

import discord

from bot.budget import EMBED_TOTAL_MAX, clip, shares
from bot.markdown import markdown_embeds
from knowledge.models import Actor, NewQuestion, Role
from tests.botkit import Place, actor, ask, deliver, reply_of, running
from tests.fakediscord import FakeDiscord, async_test, limits

# Markdown's specials double when escaped; a link's characters do not.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz*_~|`[]()<>\\#-"


def _longest(rng: random.Random, length: int) -> str:
    """Text of exactly `length` characters, dense with characters that get escaped."""
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < length:
        words.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(3, 9))))
    return " ".join(words)[:length]


def _links(rng: random.Random, count: int) -> list[str]:
    return [
        f"https://www.example.gov.uk/{n}/" + "".join(rng.choice("abcdef/") for _ in range(250))
        for n in range(count)
    ]


def _refused(fake: FakeDiscord) -> list[str]:
    return [f"{c.method} {c.path}" for c in fake.requests if c.status == 400]


@async_test
async def test_the_largest_legal_inputs_fit_every_message(place: Place) -> None:
    exchange = place.settings.exchange.model_copy(
        update={"asks_per_hour": 1000, "max_open_questions_per_officer": 1000}
    )
    settings = place.settings.model_copy(update={"exchange": exchange})
    rng = random.Random(7)
    longest_question, longest_answer = exchange.max_question_chars, exchange.max_answer_chars
    async with running(place, settings) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        expert = Actor(f"discord:{geoff.id}", "Geoff", frozenset({Role.OFFICER, Role.EXPERT}))
        run = fake.bot.exchange.run_sync  # type: ignore[attr-defined]
        authority = "Authority " + "a" * 110
        asked, first_text = 0, ""
        while asked < 30:  # more than /mine shows, each as long as allowed
            text, first = _longest(rng, longest_question), authority if asked == 0 else None
            outcome = run(lambda ex, t=text, a=first: ex.ask(actor(alice), t, authority=a))
            asked += isinstance(outcome, NewQuestion)
            first_text = first_text or text
        for n in range(12):  # many authorities wait on Q-1
            officer = fake.member(f"Officer {n}")
            name = f"Authority {n} " + "b" * 100
            run(lambda ex, o=officer, a=name: ex.set_authority(actor(o), a))
            run(lambda ex, o=officer: ex.follow(actor(o), "Q-1"))
        links = {ref: _links(rng, exchange.max_links) for ref in range(1, 21)}
        for ref, its_links in links.items():
            body = _longest(rng, longest_answer)
            run(lambda ex, r=ref, b=body, li=its_links: ex.answer(expert, r, b, li))
        run(lambda ex: ex.publish(expert))

        mine = reply_of(await fake.slash(alice, "mine", channel=place.general))
        search = reply_of(await fake.slash(alice, "search", {"text": "abc"}, channel=place.general))
        queue = reply_of(await fake.slash(geoff, "queue", channel=place.general))
        again = await ask(
            fake, fake.member("Bob"), first_text, channel=place.general, authority=authority
        )
        assert "Already answered: Q-1" in reply_of(again).text  # the answered-match outcome
        assert await deliver(fake) > 0
        assert _refused(fake) == []
        dms = fake.dms(alice)
        for shown in (mine, search, queue, reply_of(again), *dms):
            assert shown.embeds
            total = sum(
                len(e.get("title", ""))
                + len(e.get("description", ""))
                + sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))
                + len(e.get("footer", {}).get("text", ""))
                for e in shown.embeds
            )
            assert total <= EMBED_TOTAL_MAX
        # A delivered answer keeps every one of its links whole, and says the body was cut.
        answered = next(d for d in dms if "Answered: Q-1" in d.text)
        assert all(f"<{link}>" in answered.text for link in links[1])
        assert "more characters)*" in answered.text


def test_a_long_notice_fits_each_message_as_discord_counts() -> None:
    rng = random.Random(3)
    sections = [
        f"## {'Section ' * 40}{n}\n" + "\n".join(_longest(rng, 900) for _ in range(n % 7))
        for n in range(40)
    ]
    markdown = f"# {'Digest ' * 50}\n" + "\n".join(sections) + "\n" + "y" * 9000
    for message in markdown_embeds(markdown, discord.Colour.blue()):
        limits.check_message({"embeds": [e.to_dict() for e in message]})  # raises if over


def test_a_cut_never_breaks_a_link() -> None:
    text = "see <https://www.gov.uk/guidance/psn> and https://example.org/a/b/c now"
    for limit in range(len(text)):
        cut = clip(text, limit)
        assert len(cut) <= limit
        assert "<https://www.gov.uk/guidance/psn>" in cut or "gov.uk" not in cut
        assert "https://example.org/a/b/c" in cut or "example.org" not in cut


def test_shares_give_the_short_all_and_split_the_rest() -> None:
    assert shares([10, 5000, 5000], 1010) == [10, 500, 500]
    assert shares([10, 20], 100) == [10, 20]
    assert sum(shares([300] * 50, 3696)) <= 3696
