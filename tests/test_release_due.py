"""When will I hear? The new-question confirmation and /mine say when the expert's next
release is due (`schedule.release_cron`, in UK time), and whether the expert has already
written the answer (issue 15, item 6)."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from knowledge.config import Settings
from knowledge.console import Console
from knowledge.exchange import Exchange
from knowledge.models import Actor
from knowledge.text import release_due
from tests.botkit import DERBYSHIRE, Q1_DERBYSHIRE, Place, ask, reply_of, running
from tests.conftest import Clock
from tests.fakediscord import async_test
from tests.stories import COCO, QOS, new

LONDON = ZoneInfo("Europe/London")
# The clock starts on Tuesday 11 May 2010, 09:00 UTC; releases are due on Fridays at 16:00.
FRIDAY = "The next release of answers is due Friday 14 May at 16:00 (UK time)."


def test_a_new_question_says_when_the_next_release_is_due(exchange: Exchange, alice: Actor) -> None:
    outcome = new(exchange.ask(alice, COCO))

    assert outcome.next_release == datetime(2010, 5, 14, 16, 0, tzinfo=LONDON)
    assert outcome.next_release.utcoffset() is not None
    assert exchange.next_release() == outcome.next_release


def test_after_the_release_time_the_next_one_is_a_week_on(
    exchange: Exchange, alice: Actor, clock: Clock
) -> None:
    clock.advance(days=3, hours=7, minutes=1)  # Friday 14 May, 17:01 BST
    assert exchange.next_release() == datetime(2010, 5, 21, 16, 0, tzinfo=LONDON)


def test_a_rare_release_schedule_is_followed(settings: Settings, clock: Clock) -> None:
    schedule = settings.schedule.model_copy(update={"release_cron": "0 16 29 2 *"})
    exchange = Exchange.open(settings.model_copy(update={"schedule": schedule}), clock)
    try:
        # 29 February 2012 is the next: a cron that fires only in leap years still fires.
        assert exchange.next_release() == datetime(2012, 2, 29, 16, 0, tzinfo=LONDON)
    finally:
        exchange.close()
    assert release_due(None) == "No release of answers is scheduled yet."


def run(exchange: Exchange, *lines: str) -> str:
    out = io.StringIO()
    assert Console(exchange, out, echo=True).run(lines) == 0
    return out.getvalue()


def test_the_console_says_when_and_whether_the_expert_has_a_draft(exchange: Exchange) -> None:
    output = run(
        exchange,
        "/as Alice @ Derbyshire County Council",
        f"/ask {COCO}",
        f"/ask {QOS}",
        "/as Geoff @ Cabinet Office expert",
        "/answer Q-2 Six classes of service.",
        "/as Alice @ Derbyshire County Council",
        "/mine",
    )
    confirmation = "number 1 in the expert's queue. You will receive the answer here. "
    assert confirmation + FRIDAY in output
    mine = output.split("> /mine\n")[1]
    assert "Q-1 [other, open, number 1 in the queue]" in mine
    assert "Q-2 [other, answered by the expert, going out with the next release]" in mine
    assert mine.rstrip().endswith(FRIDAY)


def test_mine_with_every_answer_in_says_nothing_of_releases(exchange: Exchange) -> None:
    output = run(
        exchange,
        "/as Alice @ Derbyshire County Council",
        f"/ask {QOS}",
        "/as Geoff @ Cabinet Office expert",
        "/answer Q-1 Six classes of service.",
        "/publish",
        "/as Alice @ Derbyshire County Council",
        "/mine",
    )
    assert "release of answers is due" not in output.split("> /mine\n")[1]


@async_test
async def test_discord_says_when_the_next_release_is_due(place: Place) -> None:
    async with running(place) as fake:
        alice = fake.member("Alice")
        turn = await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        [embed] = reply_of(turn).embeds
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields["When you will hear"].startswith("The next release of answers is due ")
        assert fields["When you will hear"].endswith(" at 16:00 (UK time).")

        mine = await fake.slash(alice, "mine", channel=place.general)
        [listed] = reply_of(mine).embeds
        assert listed["description"] == fields["When you will hear"]
