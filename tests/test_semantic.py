"""The meaning-aware layer (knowledge/semantic.py): the real model, loaded the real way.

These tests need the semantic extra and the model package (`.ci/run` installs both); on a
plain install they are skipped, and everything else runs lexical only, as it should.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from knowledge import semantic
from knowledge.config import ConfigError, Settings
from knowledge.exchange import Exchange
from knowledge.matching import Matcher
from knowledge.models import Actor
from knowledge.semantic import SemanticUnavailable, VectorCache, load_embedder
from tests.conftest import Clock

if os.environ.get("CI_REQUIRE_SEMANTIC") != "1":  # CI (.ci/run) installs it: never skip
    pytest.importorskip("tokenizers")
    if semantic.packaged_model() is None:
        pytest.skip("the model package is not installed", allow_module_level=True)

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


@pytest.fixture(scope="module")
def embedder() -> semantic.MiniLM:
    return load_embedder()


def test_vectors_match_sentence_transformers(embedder: semantic.MiniLM) -> None:
    """Reference vectors computed by sentence-transformers on PyTorch (tests/data)."""
    rows = json.loads(REFERENCE.read_text())["rows"]
    ours = embedder.encode([row["text"] for row in rows])
    theirs = np.array([row["vector"] for row in rows], dtype=np.float32)
    assert (ours * theirs).sum(1).min() > 0.99999
    assert embedder.model_id == f"all-MiniLM-L6-v2@{semantic.PACKAGED_SHA256[:12]}"


def test_a_reworded_question_is_offered_only_with_meaning(embedder: semantic.MiniLM) -> None:
    stored = "Are there grants for PSN network procurement?"
    asked = "Is there any funding available to help authorities build PSN compliant networks?"
    settings = Settings().matching
    verdicts = {}
    for name, cache in (("lexical", None), ("semantic", VectorCache(embedder))):
        matcher = Matcher(settings, cache)
        matcher.add(1, stored)
        matcher.add(2, "Who owns the intellectual property in a shared regional network design?")
        found = matcher.find(asked, limit=1)
        verdicts[name] = (found[0].question_id, found[0].verdict) if found else None
    assert verdicts["lexical"] != (1, "similar")
    assert verdicts["semantic"] == (1, "similar")


def test_contrast_still_keeps_turned_round_questions_apart(embedder: semantic.MiniLM) -> None:
    matcher = Matcher(Settings().matching, VectorCache(embedder))
    matcher.add(1, "Can a county council join the PSN before its district councils do?")
    found = matcher.find("Can a district council join the PSN before its county council does?")
    assert found[0].verdict == "similar"
    assert found[0].differs == "district and county swapped"


@pytest.fixture(autouse=True)
def _mode_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Here the settings each test builds choose the mode (conftest sets "off")."""
    monkeypatch.delenv("PSNX_MATCHING__SEMANTIC", raising=False)


def _settings(tmp_path: Path, mode: str, model: str = "") -> Settings:
    return Settings.model_validate(
        {
            "database": {"path": str(tmp_path / "exchange.db")},
            "matching": {"semantic": mode, "model": model},
        }
    )


def test_vectors_are_stored_and_not_computed_again(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    officer = Actor("discord:1", "Priya")
    exchange = Exchange.open(_settings(tmp_path, "on"), clock)
    try:
        assert exchange.matcher.mode.startswith("semantic (all-MiniLM-L6-v2@")
        exchange.set_authority(officer, "Derby City Council")
        exchange.ask(officer, "Is MPLS mandatory for the PSN?")
        exchange.ask(officer, "When will the PSN be available in the East Midlands?")
        model = f"all-MiniLM-L6-v2@{semantic.PACKAGED_SHA256[:12]}"
        assert exchange.store.vectors.count(model) == 2
    finally:
        exchange.close()
    encoded: list[str] = []
    real = semantic.MiniLM.encode

    def counting(self: semantic.MiniLM, texts: list[str]) -> np.ndarray:
        encoded.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(semantic.MiniLM, "encode", counting)
    again = Exchange.open(_settings(tmp_path, "on"), clock)
    try:
        assert len(again.matcher) == 2
        assert encoded == []  # both read back from the database
        found = again.matcher.find("Do we have to use MPLS on the Public Sector Network?")
        assert found[0].verdict in ("similar", "duplicate")
    finally:
        again.close()


def test_on_without_a_model_refuses_to_start_and_says_why(tmp_path: Path, clock: Clock) -> None:
    with pytest.raises(ConfigError, match=r"semantic = \"on\", but .*has no config.json"):
        Exchange.open(_settings(tmp_path, "on", model=str(tmp_path)), clock)


def test_auto_without_a_model_runs_lexical_and_logs_it(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    exchange = Exchange.open(_settings(tmp_path, "auto", model=str(tmp_path)), clock)
    try:
        assert exchange.matcher.mode.startswith("lexical")
    finally:
        exchange.close()
    assert "semantic matching off (lexical only)" in caplog.text


def test_a_changed_weights_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    packaged = semantic.packaged_model()
    assert packaged is not None
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_bytes((packaged / name).read_bytes())
    (folder / "model.safetensors").write_bytes(b"not the weights")
    monkeypatch.setattr(semantic, "packaged_model", lambda: folder)
    with pytest.raises(SemanticUnavailable, match="not the published"):
        load_embedder()


class _Counting:
    """A stand-in embedder that counts what it encodes (the cache's own logic under test)."""

    model_id = "counting"

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> semantic.Vectors:
        self.encoded += texts
        vectors = np.zeros((len(texts), semantic.DIMENSIONS), np.float32)
        for n, text in enumerate(texts):
            vectors[n, len(text) % semantic.DIMENSIONS] = 1.0
        return vectors


def test_a_batch_larger_than_the_cache_keeps_every_vector_it_was_asked_for() -> None:
    embedder = _Counting()
    cache = VectorCache(embedder, size=2)
    cache.get(["a", "bb"])

    # "a" is known, but the two new ones evict it before the batch is put together.
    vectors = cache.get(["a", "ccc", "dddd"])

    assert [int(np.argmax(v)) for v in vectors] == [1, 3, 4]
    assert embedder.encoded == ["a", "bb", "ccc", "dddd"]  # "a" was not encoded again


def test_the_first_start_by_meaning_encodes_what_is_stored_and_says_how_it_goes(
    tmp_path: Path, clock: Clock
) -> None:
    officer = Actor("discord:1", "Priya")
    lexical = Exchange.open(_settings(tmp_path, "off"), clock)
    try:
        lexical.set_authority(officer, "Derby City Council")
        lexical.ask(officer, "Is MPLS mandatory for the PSN?")
        lexical.ask(officer, "When will the PSN be available in the East Midlands?")
    finally:
        lexical.close()
    said: list[str] = []

    turned_on = Exchange.open(_settings(tmp_path, "on"), clock, progress=said.append)
    try:
        assert said == ["indexing 2/2 wordings (2 encoded by the model)"]
        model = f"all-MiniLM-L6-v2@{semantic.PACKAGED_SHA256[:12]}"
        assert turned_on.store.vectors.count(model) == 2
    finally:
        turned_on.close()
    said.clear()
    Exchange.open(_settings(tmp_path, "on"), clock, progress=said.append).close()
    assert said == []  # read back: nothing to say


def test_past_the_exact_size_the_coarse_pass_finds_what_the_exact_one_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(semantic, "EXACT_UP_TO", 300)
    rng = np.random.default_rng(3)
    # Anisotropic, as sentence vectors are: most of the spread in a few directions.
    scale = np.linspace(3.0, 0.05, semantic.DIMENSIONS).astype(np.float32)
    vectors = rng.standard_normal((1200, semantic.DIMENSIONS)).astype(np.float32) * scale
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = semantic.VectorIndex()
    for key, vector in enumerate(vectors[:1000]):
        index.add(key, vector)
    for key in range(0, 1000, 7):
        index.remove(key)  # rows freed, then some reused below
    for key, vector in enumerate(vectors[1000:], start=1000):
        index.add(key, vector)

    for key in (1, 500, 999, 1100, 1199):
        fast, exact = index.nearest(vectors[key], 5), index.nearest(vectors[key], 5, exact=True)
        assert fast[0] == exact[0] == key  # itself, found by the coarse pass too
        assert len(set(fast) & set(exact)) >= 3
    assert all(key % 7 or key >= 1000 for key in index.nearest(vectors[7], 50))  # no removed


def test_an_import_by_meaning_decides_alike_in_two_processes_and_keeps_its_vectors(
    tmp_path: Path, clock: Clock
) -> None:
    """Rows indexed to decide them keep their vectors when their questions take them over:
    after the import the matcher finds exactly what one built afresh from the database
    finds, and a helper process decides every row as this one does."""
    from knowledge.cli import OPERATOR
    from knowledge.helper import ImportHelper
    from knowledge.importer import import_file
    from tests.test_import_helper import workshop_file

    path = workshop_file(tmp_path / "rows.jsonl")  # 330 rows: batches of 200 and 130
    decided = {}
    for name in ("alone", "helped"):
        settings = _settings(tmp_path / name, "on")
        settings.database.path.parent.mkdir()
        exchange = Exchange.open(settings, clock)
        helper = ImportHelper(settings) if name == "helped" else None
        try:
            report = import_file(exchange, OPERATOR, path, each_row=True, helper=helper)
            decided[name] = [(r.line, r.outcome, r.question_id, r.score) for r in report.rows]
            live = exchange.uow._matcher
            fresh = live.emptied()
            with exchange.store.database.reading():
                fresh.add_many(exchange.store.questions.all_wordings())
            for text in [json.loads(line)["text"] for line in path.read_text().splitlines()][:40]:
                assert [(m.question_id, m.score) for m in live.find(text)] == [
                    (m.question_id, m.score) for m in fresh.find(text)
                ]
        finally:
            if helper is not None:
                assert helper.answered == 2
                helper.close()
            exchange.close()
    assert decided["helped"] == decided["alone"]


def test_auto_is_expected_on_where_the_model_is_installed() -> None:
    """What the importer judges, without loading the model, to leave out a helper process
    (knowledge/helper.py: by meaning, each process would encode every row)."""
    assert semantic.expected_on("auto", "")
    assert semantic.expected_on("on", "")
    assert not semantic.expected_on("off", "/models/minilm")
