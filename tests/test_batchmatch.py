"""`psn-exchange match` follows the batch contract in DESIGN.md §5."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from knowledge.batchmatch import run_batch_match
from knowledge.config import MatchingSettings
from knowledge.errors import InvalidInput


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_one_line_per_query_in_order_with_verdicts(tmp_path: Path) -> None:
    corpus = write(
        tmp_path / "corpus.jsonl",
        [
            {"id": "c1", "text": "Will our GCSx Code of Connection count towards PSN?"},
            {"id": "c2", "text": "How do we mark VoIP traffic for quality of service?"},
            {"id": 3, "text": "Who pays for the regional network core?"},
        ],
    )
    queries = write(
        tmp_path / "queries.jsonl",
        [
            {"id": "q2", "text": "How do we mark voice over IP traffic for QoS?"},
            {"id": "q1", "text": "will our gcsx coco count towards the public sector network"},
            {"id": "q3", "text": "zebra"},
        ],
    )
    out, err = io.StringIO(), io.StringIO()
    run_batch_match(corpus, queries, 2, MatchingSettings(), out, err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["id"] for line in lines] == ["q2", "q1", "q3"]
    assert lines[0]["matches"][0] == {"id": "c2", "score": 100.0, "duplicate": True}
    assert lines[1]["matches"][0]["id"] == "c1"
    assert lines[1]["matches"][0]["duplicate"] is True
    assert all(len(line["matches"]) <= 2 for line in lines)
    assert lines[2]["matches"] == []
    for line in lines:
        for match in line["matches"]:
            assert match["score"] == round(match["score"], 1)
    assert "indexed 3 questions" in err.getvalue()


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["c9", "text"]', "expected an object"),
        ('{"id": "", "text": "x"}', '"id" must be'),
        ('{"id": "c9"}', '"text" must be a string'),
        ('{"id": "c1", "text": "again"}', "appears more than once"),
    ],
)
def test_a_malformed_line_is_named_and_nothing_is_written(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "c1", "text": "PSN accreditation"}\n\n' + bad_line + "\n")
    queries = write(tmp_path / "queries.jsonl", [{"id": "q1", "text": "PSN accreditation"}])
    out = io.StringIO()
    with pytest.raises(InvalidInput) as raised:
        run_batch_match(corpus, queries, 5, MatchingSettings(), out, io.StringIO())
    assert f"{corpus}, line 3" in str(raised.value)
    assert message in str(raised.value)
    assert out.getvalue() == ""


def test_a_bad_query_file_also_stops_before_output(tmp_path: Path) -> None:
    corpus = write(tmp_path / "corpus.jsonl", [{"id": "c1", "text": "PSN accreditation"}])
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"id": "q1", "text": "ok"}\n{"id": "q2", "text": 5}\n')
    out = io.StringIO()
    with pytest.raises(InvalidInput, match="line 2"):
        run_batch_match(corpus, queries, 5, MatchingSettings(), out, io.StringIO())
    assert out.getvalue() == ""


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    queries = write(tmp_path / "queries.jsonl", [{"id": "q1", "text": "PSN"}])
    with pytest.raises(InvalidInput, match="no such file"):
        run_batch_match(
            tmp_path / "nope.jsonl", queries, 5, MatchingSettings(), io.StringIO(), io.StringIO()
        )
