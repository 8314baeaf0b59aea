"""In Discord: the expert sees the merges an import proposed in /queue and decides them
with /merge or /distinct (nobody else can dismiss one); a new question's reply lists the
related questions that scored under the suggestion mark."""

from __future__ import annotations

import json
from pathlib import Path

from knowledge.cli import OPERATOR
from knowledge.importer import import_file
from tests.botkit import DERBYSHIRE, Place, as_read, ask, refused_kindly, reply_of, run, running
from tests.fakediscord import async_test

NAMING = "Who decides how PSN addressing and naming will work?"
NAMING_REWORDED = "Who decides how addressing and naming will work for the PSN?"


@async_test
async def test_the_expert_sees_a_proposed_merge_and_dismisses_it(
    place: Place, tmp_path: Path
) -> None:
    rows = tmp_path / "q.jsonl"
    rows.write_text(
        json.dumps({"text": NAMING_REWORDED, "authority": "Rutland", "officer": "Ruth"}) + "\n",
        encoding="utf-8",
    )
    async with running(place) as fake:
        alice = fake.member("Alice")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await ask(fake, alice, NAMING, channel=place.general, authority=DERBYSHIRE)
        run(fake, lambda exchange: import_file(exchange, OPERATOR, rows))

        queue = await fake.slash(geoff, "queue", channel=place.general)
        assert "possibly the same as Q-1 (score" in as_read(reply_of(queue).text)

        refused = await fake.slash(
            alice, "distinct", {"question": "Q-2", "other": "Q-1"}, channel=place.general
        )
        refused_kindly(refused, "expert")
        decided = await fake.slash(
            geoff, "distinct", {"question": "Q-2", "other": "Q-1"}, channel=place.general
        )
        assert "Q-2 and Q-1 are different questions" in as_read(reply_of(decided).text)
        again = await fake.slash(geoff, "queue", channel=place.general)
        assert "possibly the same" not in as_read(reply_of(again).text)
        assert run(fake, lambda exchange: exchange.store.db["merge_proposals"].count) == 1


@async_test
async def test_a_new_question_s_reply_lists_related_questions(place: Place) -> None:
    async with running(place) as fake:
        alice, bob = fake.member("Alice"), fake.member("Bob")
        await ask(
            fake,
            alice,
            "Are there grants for PSN network procurement?",
            channel=place.general,
            authority=DERBYSHIRE,
        )
        turn = await ask(
            fake,
            bob,
            "Is there any funding available to help authorities build PSN compliant networks?",
            channel=place.general,
            authority="Nottingham City Council",
        )

        shown = as_read(reply_of(turn).text)
        assert "Related questions" in shown
        assert "**Q-1** (waiting) Are there grants for PSN network procurement?" in shown
        assert "/follow it, then /withdraw Q-2" in shown
