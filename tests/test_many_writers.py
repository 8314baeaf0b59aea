"""Many processes, one database: what one process commits, every other one sees and never
duplicates, whenever it happens."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from knowledge.config import Settings
from knowledge.exchange import Exchange
from knowledge.matching import Matcher
from knowledge.migrations import MIGRATIONS
from knowledge.models import OpenMatch
from knowledge.store import Store
from tests.conftest import REPO, officer
from tests.stories import store_question

COCO = "Will our GCSx Code of Connection compliance carry over to the Public Sector Network?"


def commit_elsewhere(db: Path, text: str) -> None:
    """What another process's import commits: one question with its ask."""
    store = Store.open(db)
    try:
        with store.transaction():
            store_question(store, text, datetime.now(UTC), "import:jo@rutland county council")
    finally:
        store.close()


def test_a_question_committed_while_the_matcher_is_built_is_seen(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Path(settings.database.path)
    first = Exchange.open(settings)  # creates the database, with a question in it
    first.set_authority(officer("Ann"), "Derby City Council")
    first.ask(officer("Ann"), "How is quality of service handled in the PSN?")
    first.close()
    build = Matcher.add_many

    def build_while_another_process_commits(
        matcher: Matcher, items: Iterable[tuple[int, str]]
    ) -> None:
        wordings = iter(items)
        first = next(wordings)  # the build has started reading the database
        commit_elsewhere(db, COCO)
        build(matcher, itertools.chain([first], wordings))

    monkeypatch.setattr(Matcher, "add_many", build_while_another_process_commits)
    bot = Exchange.open(settings)
    monkeypatch.undo()
    try:
        bob = officer("Bob")
        bot.set_authority(bob, "Nottingham City Council")
        outcome = bot.ask(bob, COCO)
        assert isinstance(outcome, OpenMatch)  # the other process's question, not a second one
        assert bot.store.db["questions"].count == 2
    finally:
        bot.close()


OPEN_A_NEW_DATABASE = """
import sys
from knowledge.store import Store
store = Store.open(sys.argv[1])
print(store.schema_version)
store.close()
"""


def test_eight_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    program = textwrap.dedent(OPEN_A_NEW_DATABASE)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", program, str(db)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(run.wait(timeout=60), *run.communicate()) for run in runs]

    assert [(code, out.strip()) for code, out, _ in results] == [(0, str(len(MIGRATIONS)))] * 8, [
        err for _, _, err in results
    ]
    store = Store.open(db)
    try:
        assert store.check() == []
    finally:
        store.close()


def test_catching_up_between_rounds_indexes_what_another_process_wrote(
    settings: Settings,
) -> None:
    bot = Exchange.open(settings)
    try:
        before = len(bot.matcher)
        commit_elsewhere(Path(settings.database.path), COCO)  # an import completing, say
        assert len(bot.matcher) == before  # not yet: nothing has looked
        bot.catch_up()  # what the bot's delivery worker does between rounds
        assert len(bot.matcher) == before + 1
        [found] = bot.matcher.find(COCO, limit=1)
        assert bot.store.questions.get(found.question_id) is not None
    finally:
        bot.close()
