"""Calibrating from real use: how officers took suggestions, and the expert's merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.calibration import MIN_RESOLVED, suggestion_report, to_text
from knowledge.cli import main
from knowledge.errors import NotAllowed
from knowledge.exchange import Exchange
from knowledge.models import Actor, Link, NewQuestion, OpenMatch
from tests.conftest import REPO, STEERING, officer
from tests.stories import COCO, COCO_AGAIN

# -- the report, from counts ------------------------------------------------------------


def test_too_few_answered_suggestions_means_keep_the_thresholds() -> None:
    report = suggestion_report(
        [(60.0, "followed")] * 5, [], similar_threshold=48, duplicate_threshold=81
    )

    assert report.taken == 5
    assert report.resolved == 5
    [advice] = report.advice
    assert f"at least {MIN_RESOLVED}" in advice


def test_suggestions_mostly_declined_near_the_threshold_advise_raising_it() -> None:
    outcomes = [(50.0, "asked_anyway")] * 8 + [(50.0, "followed")] * 2
    outcomes += [(70.0, "followed")] * 27 + [(70.0, "followed_other")] * 1

    report = suggestion_report(outcomes, [], similar_threshold=48, duplicate_threshold=81)

    assert (report.taken, report.declined) == (29, 9)
    assert "taken 76.3% of the time" in report.advice[0]
    assert "Raising it to 50.5 would have kept 28 of the 38" in report.advice[0]
    bands = {b.low: (b.taken, b.declined) for b in report.bands}
    assert bands == {50.0: (2, 8), 70.0: (27, 1)}


def test_suggestions_taken_on_target_and_merges_below_it_are_reported() -> None:
    outcomes = [(55.0, "followed")] * 20 + [(80.0, "answered_from_store")] * 12
    merges = [30.0, 38.5, 41.0, 44.0, 60.0]

    report = suggestion_report(outcomes, merges, similar_threshold=48, duplicate_threshold=81)

    assert "not too low" in report.advice[0]
    assert report.merged_below == (30.0, 38.5, 41.0, 44.0)
    assert "between 30 and 44" in report.advice[1]
    assert "Lowering it to 38 would have offered 3 of them" in report.advice[1]
    text = to_text(report)
    assert "similar_threshold 48" in text
    assert "60-65" in text
    assert text.index("80-85") < text.index("55-60") < text.index("30-35")


@pytest.mark.parametrize(
    ("outcomes", "says"),
    [
        # every suggestion declined: no threshold helps
        ([(60.0, "asked_anyway")] * 30, "No threshold up to duplicate_threshold (81)"),
        # the line between declined and taken lies above duplicate_threshold: not advised
        (
            [(85.0, "asked_anyway")] * 25 + [(95.0, "followed")] * 10,
            "No threshold up to duplicate_threshold (81)",
        ),
        # one taken suggestion is no evidence for a raise
        (
            [(50.0, "asked_anyway")] * 29 + [(99.0, "followed")],
            "No threshold up to duplicate_threshold (81)",
        ),
        # answered under an older, lower threshold: they say nothing about this one
        ([(40.0, "followed")] * 30, "0 of the 30 suggestions answered so far"),
        # just under the target is not rounded up to it
        ([(60.0, "followed")] * 35 + [(60.0, "asked_anyway")] * 4, "taken 89.7% of the time"),
    ],
)
def test_advice_at_the_edges(outcomes: list[tuple[float, str]], says: str) -> None:
    report = suggestion_report(outcomes, [], similar_threshold=48, duplicate_threshold=81)

    assert says in report.advice[0]
    assert "Raising" not in report.advice[0]


def test_an_empty_exchange_reports_nothing_yet() -> None:
    text = to_text(suggestion_report([], [], similar_threshold=48, duplicate_threshold=81))

    assert "nothing yet" in text
    assert "Taken: 0 of 0" in text


# -- the labels the exchange keeps --------------------------------------------------------


def test_taken_declined_and_merged_suggestions_are_counted(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    first = exchange.ask(alice, COCO)
    assert isinstance(first, NewQuestion)
    offered = exchange.ask(bob, COCO_AGAIN)
    assert isinstance(offered, OpenMatch)
    exchange.follow(bob, offered.question.ref, offered.draft_id)  # taken
    declined = exchange.ask(carol, COCO_AGAIN)
    assert isinstance(declined, OpenMatch)
    new = exchange.ask_anyway(carol, declined.draft_id)  # declined...
    exchange.merge(expert, new.question.ref, first.question.ref)  # ...but the same question

    report = exchange.suggestion_report(expert)

    assert (report.taken, report.declined) == (1, 1)
    [merged] = [e for e in exchange.store.events.all("merged")]
    score = json.loads(merged["detail"])["score"]
    assert score >= exchange.settings.matching.similar_threshold
    assert sum(b.merged for b in report.bands) == 1
    assert report.merged_below == ()


def test_following_another_suggestion_records_its_own_score(
    exchange: Exchange, alice: Actor, bob: Actor, carol: Actor, expert: Actor
) -> None:
    exchange.ask(alice, COCO)
    asked = exchange.ask(carol, "How much will GCSx Code of Connection compliance cost PSN?")
    if isinstance(asked, OpenMatch):
        exchange.ask_anyway(carol, asked.draft_id)
    offered = exchange.ask(
        bob, "Our GCSx CoCo compliance and PSN: carried forward, and at what cost?"
    )
    assert isinstance(offered, OpenMatch)
    other = offered.others[0]

    exchange.follow(bob, other.question.ref, offered.draft_id)

    [ask] = exchange.store.db["asks"].rows_where("link = ?", [Link.FOLLOWED.value])
    assert ask["score"] == pytest.approx(other.match.score, abs=0.01)
    assert ask["score"] != pytest.approx(offered.match.score, abs=0.01)
    followed = json.loads(exchange.store.events.all("followed")[-1]["detail"])
    assert followed["suggested"] == offered.question.id
    report = exchange.suggestion_report(expert)
    assert report.declined >= 1  # the best suggestion was not the one taken


@pytest.mark.parametrize("who", ["officer", "steering"])
def test_only_the_expert_and_admins_see_the_report(exchange: Exchange, who: str) -> None:
    actor = officer("Dee") if who == "officer" else STEERING
    with pytest.raises(NotAllowed, match="expert and exchange admins"):
        exchange.suggestion_report(actor)


def test_the_report_names_nobody_and_quotes_nothing(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    exchange.ask(alice, COCO)
    offered = exchange.ask(bob, COCO_AGAIN)
    assert isinstance(offered, OpenMatch)
    exchange.follow(bob, offered.question.ref, offered.draft_id)

    text = to_text(exchange.suggestion_report(expert))

    assert "Taken: 1 of 1" in text
    for private in (bob.display_name, alice.display_name, "CoCo", "Code of Connection"):
        assert private not in text


# -- the command ------------------------------------------------------------------------


def test_the_calibrate_command_prints_the_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "exchange.db"
    config = ["--config", str(REPO / "config.toml"), "--db", str(db)]
    assert main(["import", *config, str(REPO / "examples" / "workshop-questions.jsonl")]) == 0
    capsys.readouterr()

    assert main(["calibrate", *config, "--since", "2010-01-01"]) == 0
    out = capsys.readouterr().out

    assert out.startswith(
        "Suggestions since 2010-01-01 00:00, lexical matching (similar_threshold 47.5)"
    )
    assert "Taken: 0 of 0" in out


def test_the_calibrate_command_refuses_a_bad_date_and_a_missing_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = ["--config", str(REPO / "config.toml"), "--db", str(tmp_path / "none.db")]
    with pytest.raises(SystemExit):
        main(["calibrate", *config, "--since", "last tuesday"])
    assert "is not a date" in capsys.readouterr().err

    assert main(["calibrate", *config]) != 0
    assert "none.db" in capsys.readouterr().err


def test_a_merge_the_matcher_could_not_see_has_no_score(
    exchange: Exchange, alice: Actor, bob: Actor, expert: Actor
) -> None:
    first = exchange.ask(alice, "Who signs off the Code of Connection submission?")
    second = exchange.ask(bob, "Which officer approves our accreditation paperwork?")
    assert isinstance(first, NewQuestion)
    assert isinstance(second, NewQuestion)

    exchange.merge(expert, second.question.ref, first.question.ref)

    [merged] = exchange.store.events.all("merged")
    assert json.loads(merged["detail"])["score"] is None
    report = exchange.suggestion_report(expert)
    assert sum(b.merged for b in report.bands) == 0
    assert report.merged_below == ()
