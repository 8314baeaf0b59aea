"""Shared learning not tied to a question (issue 14, item 5): an authority shares a note; it
is listed by topic, found by search beside the answers, endorsed or hidden by the expert."""

from __future__ import annotations

import csv
import io
import json

import pytest

from knowledge.console import Console
from knowledge.errors import AuthorityNeeded, InvalidInput, NotAllowed, NotFound
from knowledge.exchange import Exchange
from knowledge.models import Actor
from tests.botkit import (
    DERBYSHIRE,
    Place,
    field_ids,
    refused_kindly,
    reply_of,
    running,
    set_authority,
)
from tests.conftest import officer
from tests.fakediscord import async_test
from tests.stories import count

TITLE = "How we ran our PSN network procurement as a consortium"
TEXT = (
    "Five councils bought one PSN-compliant network through a single framework call-off; "
    "the lead authority held the contract and the others joined by access agreement."
)
LINK = "https://www.gov.uk/government/groups/public-services-network"


@pytest.fixture
def hampshire(exchange: Exchange) -> Actor:
    actor = officer("Hana")
    exchange.set_authority(actor, "Hampshire County Council")
    return actor


def test_a_note_is_shared_listed_by_topic_and_found_by_search(
    exchange: Exchange, hampshire: Actor
) -> None:
    note = exchange.share_note(hampshire, TITLE, TEXT, [LINK], "Procurement")

    assert (note.ref, note.topic, note.authority, note.links) == (
        "N-1",
        "procurement",
        "Hampshire County Council",
        (LINK,),
    )
    assert exchange.notes() == [note]
    assert exchange.notes("procurement") == [note]
    assert exchange.notes("technical") == []
    assert [n.ref for n in exchange.search_notes("consortium framework")] == ["N-1"]
    assert [n.ref for n in exchange.search_notes("PSN network procurement")] == ["N-1"]


def test_the_expert_endorses_and_hides_notes(
    exchange: Exchange, hampshire: Actor, expert: Actor, alice: Actor
) -> None:
    first = exchange.share_note(hampshire, TITLE, TEXT)
    second = exchange.share_note(hampshire, "A lesson on CoCo evidence", TEXT + " Again.")
    assert [n.ref for n in exchange.notes()] == [second.ref, first.ref]  # newest first

    assert exchange.endorse_note(expert, "N-1").endorsed
    assert [n.ref for n in exchange.notes()] == ["N-1", "N-2"]  # endorsed first
    with pytest.raises(InvalidInput, match="endorsed already"):
        exchange.endorse_note(expert, "N-1")

    exchange.hide_note(expert, "n2", "It repeats N-1.")
    assert [n.ref for n in exchange.notes()] == ["N-1"]
    assert [n.ref for n in exchange.search_notes("Again")] == []
    with pytest.raises(NotFound, match="There is no note N-2 in view"):
        exchange.endorse_note(expert, "N-2")
    with pytest.raises(NotAllowed, match="Only the PSN expert can endorse notes"):
        exchange.endorse_note(alice, "N-1")
    with pytest.raises(NotAllowed, match="Only the PSN expert and exchange admins"):
        exchange.hide_note(alice, "N-1", "No reason.")


@pytest.mark.parametrize(
    ("title", "text", "topic", "error", "message"),
    [
        ("x", TEXT, None, InvalidInput, "a title of 3 to 200 characters"),
        (TITLE, "", None, InvalidInput, "Your note is empty"),
        ("OFFICIAL-SENSITIVE: our prices", TEXT, None, InvalidInput, "protective marking"),
        (TITLE, "[RESTRICTED] the contract", None, InvalidInput, "This note carries"),
        (TITLE, TEXT, "weather", InvalidInput, "is not a topic here"),
    ],
)
def test_bad_notes_are_refused_and_nothing_is_kept(
    exchange: Exchange,
    hampshire: Actor,
    title: str,
    text: str,
    topic: str | None,
    error: type,
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        exchange.share_note(hampshire, title, text, [], topic)
    assert count(exchange, "notes") == 0


def test_a_note_needs_an_authority(exchange: Exchange) -> None:
    with pytest.raises(AuthorityNeeded):
        exchange.share_note(officer("Nobody"), TITLE, TEXT)


def test_the_console_shares_lists_and_searches_notes(exchange: Exchange) -> None:
    out = io.StringIO()
    lines = [
        "/as Hana @ Hampshire County Council",
        "/share just a title",
        f"/share [procurement] {TITLE} | {TEXT} | {LINK}",
        "/notes",
        "/search consortium",
        "/as Geoff @ Cabinet Office expert",
        "/endorse-note N-1",
        "/notes procurement",
    ]
    assert Console(exchange, out, echo=True).run(lines) == 0
    output = out.getvalue()
    assert "⚠ Use /share TITLE | TEXT" in output
    assert "Thank you — shared as N-1 under procurement; /notes lists it." in output
    assert f"N-1 [procurement] {TITLE} — shared by Hampshire County Council" in output
    assert "  Shared notes:" in output
    assert "— shared by Hampshire County Council · endorsed by the PSN expert" in output


@async_test
async def test_discord_shares_and_lists_notes(place: Place) -> None:
    async with running(place) as fake:
        hana = fake.member("Hana")
        await set_authority(fake, hana, DERBYSHIRE, place.general)
        opened = await fake.slash(hana, "share", channel=place.general)
        assert opened.response is not None
        assert opened.response.body["custom_id"] == "psnx:note"
        ids = field_ids(opened.response)
        shared = await fake.submit_modal(
            hana,
            {
                ids["Title"]: TITLE,
                ids["What your authority learned"]: TEXT,
                ids["Links (optional)"]: LINK,
                ids["Topic (optional)"]: "procurement",
            },
        )
        assert "shared as N-1 under procurement" in reply_of(shared).text
        listed = await fake.slash(hana, "notes", channel=place.general)
        assert "Shared notes (1)" in reply_of(listed).text
        assert LINK in reply_of(listed).text

        opened = await fake.slash(hana, "share", channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        refused = await fake.submit_modal(
            hana, {ids["Title"]: TITLE, ids["What your authority learned"]: "[SECRET] x y z"}
        )
        refused_kindly(refused, "This note carries the protective marking")


def test_my_data_lists_my_notes(exchange: Exchange, hampshire: Actor) -> None:
    exchange.share_note(hampshire, TITLE, TEXT)
    [mine] = exchange.my_data(hampshire)["notes"]
    assert (mine["note"], mine["title"]) == ("N-1", TITLE)


def test_every_export_carries_the_shared_notes(
    exchange: Exchange, hampshire: Actor, expert: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    from knowledge.cli import main
    from tests.conftest import REPO

    exchange.share_note(hampshire, TITLE, f"{TEXT} <script>x</script>", [LINK], "procurement")
    exchange.share_note(hampshire, "A note to hide", TEXT + " Hidden.")
    exchange.hide_note(expert, "N-2", "Repeats N-1.")
    common = ["--db", str(exchange.settings.database.path), "--config", str(REPO / "config.toml")]

    assert main(["export", "--format", "md", *common]) == 0
    markdown = capsys.readouterr().out
    assert "# Shared notes (authorities' learning, not Cabinet Office answers)" in markdown
    assert f"## N-1 · {TITLE}" in markdown
    assert "shared by Hampshire County Council" in markdown
    assert "A note to hide" not in markdown
    assert main(["export", "--format", "html", *common]) == 0
    page = capsys.readouterr().out
    assert '<section id="N-1">' in page
    assert "<script>" not in page
    assert page.rstrip().endswith("</body></html>")

    assert main(["export", "--format", "json", *common]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records == [
        {
            "kind": "note",
            "id": "N-1",
            "topic": "procurement",
            "title": TITLE,
            "text": f"{TEXT} <script>x</script>",
            "links": [LINK],
            "shared_at": records[0]["shared_at"],
            "authority": "Hampshire County Council",
            "endorsed": False,
        }
    ]  # the hidden note and the author's identity stay out
    assert main(["export", "--format", "csv", *common]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["kind"], r["id"], r["question"], r["authorities"]) for r in rows] == [
        ("note", "N-1", TITLE, "Hampshire County Council")
    ]
    assert rows[0]["endorsed"] == "no"
    assert "Hana" not in json.dumps(records) + str(rows)  # the officer is never named


def test_a_hidden_notes_author_is_told_why(
    exchange: Exchange, hampshire: Actor, expert: Actor
) -> None:
    exchange.share_note(hampshire, TITLE, TEXT)
    exchange.hide_note(expert, "N-1", "It names a supplier's prices.")

    [owed] = exchange.owed_deliveries("test:hana")
    assert (owed.kind, owed.question) == ("note_hidden", None)
    assert owed.note is not None
    assert owed.note.hidden_reason == "It names a supplier's prices."
    from knowledge.console import format_delivery

    assert format_delivery(owed).startswith(
        f'📬 to Hana: Your shared note N-1 "{TITLE}" was withdrawn from view by the PSN team: '
        "It names a supplier's prices."
    )


@async_test
async def test_discord_tells_a_hidden_notes_author_by_dm(place: Place) -> None:
    from tests.botkit import deliver

    async with running(place) as fake:
        hana = fake.member("Hana")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        await set_authority(fake, hana, DERBYSHIRE, place.general)
        opened = await fake.slash(hana, "share", channel=place.general)
        assert opened.response is not None
        ids = field_ids(opened.response)
        await fake.submit_modal(
            hana, {ids["Title"]: TITLE, ids["What your authority learned"]: TEXT}
        )
        hid = await fake.slash(
            geoff, "hide-note", {"note": "N-1", "reason": "Off topic."}, channel=place.general
        )
        assert "N-1 is hidden" in reply_of(hid).text
        assert await deliver(fake) == 1
        [dm] = fake.dms(hana)
        assert "Your shared note N-1 was withdrawn from view" in dm.text
        assert "Off topic." in dm.text


def test_the_digest_counts_shared_notes_and_who_shared_them(
    exchange: Exchange, hampshire: Actor
) -> None:
    from datetime import timedelta

    from tests.conftest import STEERING

    start = exchange.clock()
    exchange.share_note(hampshire, TITLE, TEXT)
    digest = exchange.digest(STEERING, since=start - timedelta(minutes=1))
    assert digest.notes_shared == 1
    assert "0 replies and 1 note shared by officers" in exchange.digest_markdown(digest)
    assert "Shared most: Hampshire County Council (1)." in exchange.digest_markdown(digest)
