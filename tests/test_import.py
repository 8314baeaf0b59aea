"""Importing question lists: all or nothing, the file's own duplicates joined, drafts kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.cli import OPERATOR
from knowledge.errors import InvalidInput
from knowledge.exchange import Exchange
from knowledge.importer import import_file
from knowledge.models import Actor, NewQuestion, Status
from knowledge.usecases.expert import ExpertUseCases

QOS = "How is quality of service handled in the PSN?"


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def row(text: str, **extra: object) -> dict[str, object]:
    return {"text": text, "authority": "Rutland County Council", "officer": "Ruth", **extra}


def test_an_import_publishes_its_own_answers_never_the_experts_drafts(
    exchange: Exchange, alice: Actor, expert: Actor, tmp_path: Path
) -> None:
    draft = exchange.ask(alice, "Will our GCSx CoCo compliance carry over to the PSN?")
    assert isinstance(draft, NewQuestion)
    exchange.answer(expert, draft.question.ref, "Still checking with the PSN team.")
    path = write_jsonl(tmp_path / "q.jsonl", [row(QOS, answer="Six classes of service.")])

    report = import_file(exchange, OPERATOR, path)

    assert report.release == 1
    assert exchange.question(draft.question.ref)[0].status is Status.IN_RELEASE
    assert [e.question.text for e in exchange.knowledge_base()] == [QOS]


def test_a_file_is_imported_whole_or_not_at_all(
    exchange: Exchange, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_jsonl(
        tmp_path / "q.jsonl",
        [
            row(QOS, answer="Six classes of service."),
            row("Who decides how PSN addressing and naming will work?", answer="The PSIT."),
        ],
    )
    original = ExpertUseCases.answer
    calls = []

    def failing_answer(self: ExpertUseCases, *args: object, **kwargs: object) -> object:
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("disk unplugged")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ExpertUseCases, "answer", failing_answer)

    with pytest.raises(RuntimeError):
        import_file(exchange, OPERATOR, path)

    assert exchange.store.db["questions"].count == 0
    assert exchange.store.db["answers"].count == 0
    assert len(exchange.matcher) == 0  # the index forgot the rolled-back questions too


def test_duplicates_within_one_file_join_each_other(exchange: Exchange, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "q.jsonl",
        [
            row(QOS),
            {"text": QOS, "authority": "Derby City Council", "officer": "Dev"},
        ],
    )

    report = import_file(exchange, OPERATOR, path)

    assert (report.new, report.joined) == (1, 1)
    assert exchange.question("Q-1")[0].authorities == 2


def test_a_non_text_topic_is_named_with_its_line(exchange: Exchange, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [row(QOS), row(QOS + " Please.", topic=5)])

    with pytest.raises(InvalidInput, match="line 2: 'topic' must be text"):
        import_file(exchange, OPERATOR, path)
    assert exchange.store.db["questions"].count == 0


@pytest.mark.parametrize(
    "asked_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31"]
)
def test_an_asked_at_outside_1900_to_2200_is_named_with_its_line(
    exchange: Exchange, tmp_path: Path, asked_at: str
) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", [row(QOS), row(QOS + " Please.", asked_at=asked_at)])

    with pytest.raises(InvalidInput) as refused:
        import_file(exchange, OPERATOR, path)

    assert f"line 2: asked_at {asked_at!r} is not between the years 1900 and 2200" in str(
        refused.value
    )
    assert exchange.store.db["questions"].count == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"text": [[[[' + "[" * 100_000, "nested too deeply"),
        ("9" * 5_000, "a number with too many digits"),
        ('{"text": "Why PSN?", "officer": ' + "9" * 5_000 + "}", "a number with too many digits"),
    ],
    ids=["nested", "nested-in-a-row", "digits", "digits-in-a-row"],
)
def test_a_line_json_cannot_read_is_one_bad_row(
    exchange: Exchange, tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(f"{json.dumps(row(QOS))}\n{line}\n", encoding="utf-8")

    with pytest.raises(InvalidInput, match=rf"line 2: not valid JSON \({reason}\)"):
        import_file(exchange, OPERATOR, path)
    assert exchange.store.db["questions"].count == 0
    report = import_file(exchange, OPERATOR, path, skip_bad=True)

    assert report.new == 1
    assert report.skipped == [f"line 2: not valid JSON ({reason})"]


def test_a_huge_csv_field_is_one_bad_row_and_the_rows_after_it_still_count(
    exchange: Exchange, tmp_path: Path
) -> None:
    path = tmp_path / "q.csv"
    huge = "x" * 90_000
    path.write_text(
        "text,authority,officer\n"
        f'"How is QoS handled in the PSN?",Rutland,Ruth\n"{huge}",Derby,Dev\n'
        '"Who runs the PSN core network?",Derby,Dev\n"When is PSN available here?",Derby,Dev\n',
        encoding="utf-8",
    )

    with pytest.raises(InvalidInput, match="line 3: 'text' is longer than 20,000 characters"):
        import_file(exchange, OPERATOR, path)
    report = import_file(exchange, OPERATOR, path, skip_bad=True)

    assert report.new + report.joined == 3
    assert [s.split(":")[0] for s in report.skipped] == ["line 3"]


def test_importing_records_who_imported(exchange: Exchange, tmp_path: Path) -> None:
    import_file(exchange, OPERATOR, write_jsonl(tmp_path / "q.jsonl", [row(QOS)]))

    [event] = exchange.store.events.all("imported")
    operator = exchange.store.officers.get(OPERATOR.user_key)
    assert operator is not None
    assert event["actor_id"] == operator.id
