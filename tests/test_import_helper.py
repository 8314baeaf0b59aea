"""A large import's helper process (knowledge/helper.py) decides a share of each batch: the
import's outcome is exactly the one deciding every row in order gives, and a helper that
fails changes nothing but the time it takes."""

from __future__ import annotations

import json
import random
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from knowledge.cli import OPERATOR
from knowledge.config import Settings
from knowledge.exchange import Exchange
from knowledge.helper import LEAST, MOST, ImportHelper
from knowledge.importer import import_file
from tests.conftest import REPO, Clock


def workshop_file(path: Path, rows: int = 330) -> Path:
    """The workshop's questions, reworded and repeated, in and across batches of 200."""
    texts = [
        json.loads(line)["text"]
        for line in (REPO / "examples" / "workshop-questions.jsonl").read_text().splitlines()
    ]
    rng = random.Random(16)
    lines = []
    for n in range(rows):
        if n % 7 == 3 and lines:  # a repeat of an earlier row, often of an earlier batch
            text = json.loads(rng.choice(lines))["text"]
        elif n % 5 == 1:
            text = "Please could you tell us: " + rng.choice(texts)
        else:
            text = f"{rng.choice(texts)} (our reference {n})"
        record = {"text": text, "authority": f"Council {n % 9}", "officer": f"Officer {n % 23}"}
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def outcomes(settings: Settings, clock: Clock, path: Path, helper: Any) -> list[tuple[Any, ...]]:
    exchange = Exchange.open(settings, clock)
    try:
        report = import_file(exchange, OPERATOR, path, each_row=True, helper=helper)
    finally:
        exchange.close()
    return [(o.line, o.outcome, o.question_id, o.best, o.score, o.differs) for o in report.rows]


def twin(settings: Settings, name: str) -> Settings:
    database = settings.database.model_copy(update={"path": settings.database.path.with_name(name)})
    return settings.model_copy(update={"database": database})


def test_a_helper_process_decides_exactly_as_one_process_does(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    path = workshop_file(tmp_path / "rows.jsonl")
    alone = outcomes(twin(settings, "alone.db"), clock, path, None)
    helped_settings = twin(settings, "helped.db")
    Exchange.open(helped_settings, clock).close()  # the helper opens an existing database
    helper = ImportHelper(helped_settings)
    try:
        helped = outcomes(helped_settings, clock, path, helper)
    finally:
        helper.close()
    assert helper.answered == 2  # both batches (200 rows, then 130) were shared
    assert helped == alone
    kinds = {outcome for _, outcome, *_ in alone}
    assert {"new", "joined", "proposed"} <= kinds  # the file exercises every decision


class DeadHelper:
    """A helper whose process has died: every request fails, sooner or later."""

    share = 0.5

    def __init__(self) -> None:
        self.asked = 0

    def decide(
        self, import_id: int, wordings: Any, first: int, start: int, *, best_matches: bool
    ) -> Any:
        self.asked += 1
        if self.asked % 2:
            raise RuntimeError("the pool is broken")
        failed: Future[list[Any]] = Future()
        failed.set_exception(RuntimeError("the helper process was killed"))
        return failed

    def waited(self, seconds: float) -> None:
        raise AssertionError("no decisions came back to wait for")


def test_a_helper_that_fails_leaves_the_same_import(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    path = workshop_file(tmp_path / "rows.jsonl")
    alone = outcomes(twin(settings, "alone.db"), clock, path, None)
    dead = DeadHelper()
    assert outcomes(twin(settings, "dead.db"), clock, path, dead) == alone
    assert dead.asked == 1  # it failed at once: every batch was decided here instead

    late = DeadHelper()
    late.asked = 1  # its first answer is a failed one
    assert outcomes(twin(settings, "late.db"), clock, path, late) == alone
    assert late.asked == 3  # both batches were asked for at once; then it was given up


def test_the_helpers_share_follows_who_waits_within_bounds(settings: Settings) -> None:
    helper = ImportHelper.__new__(ImportHelper)  # its tuning alone, no process
    helper.share, helper.answered = 0.4, 0
    helper.waited(0.05)  # the importer waits: the helper takes less, at once …
    assert helper.share < 0.4 - 0.02
    for _ in range(20):
        helper.waited(0.05)
    assert helper.share == LEAST
    helper.waited(0.0)  # … it never waits: the helper takes more, slowly
    assert LEAST < helper.share < LEAST + 0.02
    for _ in range(200):
        helper.waited(0.0)
    assert helper.share == MOST


def test_the_cli_starts_a_helper_for_a_large_file_unless_told_one_process(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge import helper as helper_module
    from knowledge.cli import main

    started: list[Settings] = []

    class Recorded(ImportHelper):
        def __init__(self, settings: Settings) -> None:
            started.append(settings)
            super().__init__(settings)

        @staticmethod
        def worth_it(settings: Settings) -> bool:  # whatever this machine's cores
            return True

    monkeypatch.setattr(helper_module, "ImportHelper", Recorded)
    path = workshop_file(tmp_path / "rows.jsonl", rows=900)
    assert path.stat().st_size > 100_000  # large enough to be worth a helper
    common = ["--config", str(REPO / "config.toml")]
    assert (
        main(["import", str(path), "--db", str(tmp_path / "a.db"), "--one-process", *common]) == 0
    )
    assert started == []
    assert main(["import", str(path), "--db", str(tmp_path / "b.db"), *common]) == 0
    assert len(started) == 1


def test_a_helper_that_cannot_open_the_database_says_nothing_and_changes_nothing(
    settings: Settings, clock: Clock, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Started before the importer opens the database, the helper may find none it can use
    (not made yet, damaged, being upgraded): no traceback reaches the terminal, and the
    importer decides every row itself, exactly as alone."""
    path = workshop_file(tmp_path / "rows.jsonl")
    alone = outcomes(twin(settings, "alone.db"), clock, path, None)
    (tmp_path / "damaged.db").write_text("not a database")
    helper = ImportHelper(twin(settings, "damaged.db"))
    try:
        assert outcomes(twin(settings, "helped.db"), clock, path, helper) == alone
        assert helper.answered == 0
    finally:
        helper.close()
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out


def test_a_batch_that_fails_to_be_written_ends_the_import_and_leaves_nothing(
    settings: Settings, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch rolled back part-way (the disk filled, say): the session's own record of it
    is no longer the database's, so the import takes no more rows; abandoned, it leaves
    nothing, and the file imported again gives exactly what a clean import gives."""
    from knowledge.importer import read_rows
    from knowledge.usecases.imports import ImportUseCases

    path = workshop_file(tmp_path / "rows.jsonl")
    alone = outcomes(twin(settings, "alone.db"), clock, path, None)
    again = twin(settings, "again.db")
    exchange = Exchange.open(again, clock)
    write = ImportUseCases._write
    calls = 0

    def fails_once(self: ImportUseCases, *args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 250:
            raise OSError("disk full")
        return write(self, *args)

    try:
        rows, _ = read_rows(path, exchange, skip_bad=False)
        session = exchange.begin_import(OPERATOR)
        monkeypatch.setattr(ImportUseCases, "_write", fails_once)
        exchange.import_rows(OPERATOR, session, rows[:200])
        with pytest.raises(OSError, match="disk full"):
            exchange.import_rows(OPERATOR, session, rows[200:])
        with pytest.raises(RuntimeError, match="failed part-way"):
            exchange.import_rows(OPERATOR, session, rows[200:])
        exchange.abandon_import(session)
        assert exchange.store.db["questions"].count == 0
        assert not exchange.uow._matcher.has_spares
    finally:
        exchange.close()
    assert outcomes(again, clock, path, None) == alone


def test_a_helper_is_worth_it_only_for_lexical_matching_with_a_core_free(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By meaning, each process would encode every row with a model that already uses every
    core (measured slower with a helper): an import by meaning runs in one process."""
    from knowledge import helper as helper_module

    def matching(mode: str) -> Settings:
        chosen = settings.matching.model_copy(update={"semantic": mode})
        return settings.model_copy(update={"matching": chosen})

    monkeypatch.setattr(helper_module.os, "cpu_count", lambda: 2)
    assert ImportHelper.worth_it(matching("off"))
    assert not ImportHelper.worth_it(matching("on"))
    monkeypatch.setattr(helper_module, "expected_on", lambda mode, folder: False)
    assert ImportHelper.worth_it(matching("auto"))  # no model installed: lexical
    monkeypatch.setattr(helper_module.os, "cpu_count", lambda: 1)
    assert not ImportHelper.worth_it(matching("off"))
