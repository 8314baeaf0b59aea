"""Nothing lost under kills and concurrency: real subprocesses, SIGKILL at chosen points."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from knowledge.config import Settings
from knowledge.errors import Conflict
from knowledge.exchange import Exchange
from knowledge.models import Actor, NewQuestion, OpenMatch, Status
from knowledge.runner import ExchangeThread
from tests.conftest import EXPERT, REPO, officer

PRELUDE = """
import os, signal, sys
from pathlib import Path
from knowledge.config import load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, Role
from knowledge.store.outbox import Outbox
from knowledge.store.questions import Asks

settings = load_settings(Path({config!r}))
settings = settings.model_copy(update={{"database": settings.database.model_copy(
    update={{"path": Path({db!r})}})}})
alice = Actor("test:alice", "Alice")
bob = Actor("test:bob", "Bob")
expert = Actor("test:geoff", "Geoff", frozenset({{Role.OFFICER, Role.EXPERT}}))

def die_on(cls, name, call=1):
    original = getattr(cls, name)
    calls = [0]
    def dying(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == call:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(cls, name, dying)

ex = Exchange.open(settings)
"""

COCO = "Will our GCSx Code of Connection compliance carry over to the Public Sector Network?"


def run_until_killed(db: Path, script: str) -> str:
    """Run `script` after the prelude in a fresh interpreter; it must die by SIGKILL."""
    code = PRELUDE.format(config=str(REPO / "config.toml"), db=str(db)) + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout


def reopen(settings: Settings, db: Path) -> Exchange:
    database = settings.database.model_copy(update={"path": db})
    return Exchange.open(settings.model_copy(update={"database": database}))


def test_an_acknowledged_ask_survives_a_kill(settings: Settings, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    out = run_until_killed(
        db,
        f"""
        ex.set_authority(alice, "Derbyshire County Council")
        outcome = ex.ask(alice, {COCO!r})
        print("ACK", outcome.question.ref, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    assert out.strip() == "ACK Q-1"

    after = reopen(settings, db)
    try:
        [mine] = after.mine(Actor("test:alice", "Alice"))
        assert mine.question.text == COCO
        assert after.store.check() == []
    finally:
        after.close()


def test_a_kill_inside_an_ask_leaves_nothing_half_done(settings: Settings, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    run_until_killed(
        db,
        f"""
        ex.set_authority(alice, "Derbyshire County Council")
        die_on(Asks, "add")
        ex.ask(alice, {COCO!r})
        """,
    )

    after = reopen(settings, db)
    try:
        assert after.store.db["questions"].count == 0
        assert after.store.db["asks"].count == 0
        assert [e["action"] for e in after.store.events.all()] == ["authority_set"]
        assert after.store.check() == []
    finally:
        after.close()


def test_a_kill_while_publishing_loses_no_owed_delivery(settings: Settings, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    run_until_killed(
        db,
        f"""
        ex.set_authority(alice, "Derbyshire County Council")
        ex.set_authority(bob, "Nottingham City Council")
        q = ex.ask(alice, {COCO!r}, place="test:#questions").question
        ex.follow(bob, q.ref)
        ex.answer(expert, q.ref, "Yes, with minimum rework.")
        die_on(Outbox, "owe", call=2)
        ex.publish(expert)
        """,
    )

    after = reopen(settings, db)
    try:
        assert after.store.db["releases"].count == 0
        assert after.store.db["outbox"].count == 0
        assert after.question("Q-1")[0].status is Status.IN_RELEASE
        release = after.publish(EXPERT)
        assert release.number == 1
        owed = sorted(d.recipient for d in after.owed_deliveries("test:"))
        assert owed == ["test:#questions", "test:alice", "test:bob"]
    finally:
        after.close()


def test_a_kill_between_sending_and_marking_leaves_the_delivery_owed(
    settings: Settings, tmp_path: Path
) -> None:
    db = tmp_path / "x.db"
    channel = tmp_path / "sent.txt"
    run_until_killed(
        db,
        f"""
        from bot.delivery import nonce_for
        ex.set_authority(alice, "Derbyshire County Council")
        q = ex.ask(alice, {COCO!r}).question
        ex.answer(expert, q.ref, "Yes, with minimum rework.")
        ex.publish(expert)
        [delivery] = ex.owed_deliveries("test:")
        Path({str(channel)!r}).write_text(nonce_for(delivery))  # the send reached Discord
        os.kill(os.getpid(), signal.SIGKILL)                     # ... and then we died
        """,
    )

    after = reopen(settings, db)
    try:
        [again] = after.owed_deliveries("test:")
        # Still owed, so it is sent again — with the nonce already used, which Discord
        # drops as a duplicate (the bot's resend is shown in test_bot_notices.py).
        assert again.id == int(channel.read_text().removeprefix("psnx-"))
        assert after.mark_sent(again.id) is True
        assert after.owed_deliveries("test:") == []
    finally:
        after.close()


def variants(n: int) -> list[str]:
    openings = ["", "Quick question: ", "Hello all - ", "Please could you confirm: ", "Urgent: "]
    bodies = [
        "will our GCSx Code of Connection compliance carry over to the Public Sector Network?",
        "will our GCSx CoCo compliance carry over to the PSN?",
        "does our GCSx Code of Connection compliance carry over into PSN?",
        "will GCSx CoCo compliance we already have carry over to the Public Sector Network?",
        "will our existing GCSx code of connection compliance carry over to PSN?",
    ]
    closings = ["", " Thanks.", " Many thanks", " (asking for our IT board)", " Cheers!"]
    texts = [o + b + c for o in openings for b in bodies for c in closings]
    return texts[:n]


def test_fifty_officers_asking_at_once_make_one_question(settings: Settings) -> None:
    """The documented equivalent of '50 asks on one question': the first ask creates it,
    every other one is offered it (never a second copy), and following links them all."""
    thread = ExchangeThread(lambda: Exchange.open(settings))
    officers = [officer(f"Officer{n}") for n in range(50)]
    try:
        for n, person in enumerate(officers):
            thread.run_sync(Exchange.set_authority, person, f"Authority {n}")

        async def everyone_asks() -> list[object]:
            return await asyncio.gather(
                *(
                    thread.run(Exchange.ask, p, t)
                    for p, t in zip(officers, variants(50), strict=True)
                )
            )

        outcomes = asyncio.run(everyone_asks())
        created = [o for o in outcomes if isinstance(o, NewQuestion)]
        offered = [o for o in outcomes if isinstance(o, OpenMatch)]
        assert len(created) == 1
        assert len(offered) == 49
        assert {o.question.id for o in offered} == {created[0].question.id}
        for person, outcome in zip(officers, outcomes, strict=True):
            if isinstance(outcome, OpenMatch):
                thread.run_sync(Exchange.follow, person, outcome.question.ref, outcome.draft_id)
        question, _ = thread.run_sync(Exchange.question, created[0].question.ref)
        assert question.asks == 50
        assert question.authorities == 50
        assert thread.run_sync(lambda ex: ex.store.db["questions"].count) == 1
    finally:
        thread.close()


def test_two_processes_asking_the_same_question_make_one(
    settings: Settings, tmp_path: Path
) -> None:
    first, second = Exchange.open(settings), Exchange.open(settings)
    try:
        alice, bob = officer("Alice"), officer("Bob")
        first.set_authority(alice, "Derbyshire County Council")
        second.set_authority(bob, "Nottingham City Council")

        assert isinstance(first.ask(alice, COCO), NewQuestion)
        # The second process never saw Q-1 being added, yet finds it.
        assert isinstance(second.ask(bob, COCO), OpenMatch)
    finally:
        first.close()
        second.close()


def test_concurrent_publishes_make_one_release(settings: Settings) -> None:
    setup = Exchange.open(settings)
    alice = officer("Alice")
    setup.set_authority(alice, "Derbyshire County Council")
    q = setup.ask(alice, COCO)
    assert isinstance(q, NewQuestion)
    setup.answer(EXPERT, q.question.ref, "Yes, with minimum rework.")
    setup.close()

    results: list[object] = []
    barrier = threading.Barrier(4)

    def publish() -> None:
        exchange = Exchange.open(settings)  # its own connection, like another process
        try:
            barrier.wait()
            results.append(exchange.publish(EXPERT).number)
        except Conflict as refused:
            results.append(refused)
        finally:
            exchange.close()

    workers = [threading.Thread(target=publish) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(r for r in results if isinstance(r, int)) == [1]
    assert sum(isinstance(r, Conflict) for r in results) == 3
    check = Exchange.open(settings)
    try:
        assert check.store.db["releases"].count == 1
        assert len(check.owed_deliveries("test:")) == 1
    finally:
        check.close()


def test_another_process_s_questions_are_caught_up_without_rebuilding_the_matcher(
    settings: Settings,
) -> None:
    bot, cli = Exchange.open(settings), Exchange.open(settings)
    try:
        alice, bob = officer("Alice"), officer("Bob")
        bot.set_authority(alice, "Derbyshire County Council")
        index = bot.matcher

        cli.my_data(alice)  # another process writes, but only an audit event
        bot.set_authority(alice, "Derby City Council")
        assert bot.matcher is index

        cli.set_authority(bob, "Nottingham City Council")
        cli.ask(bob, COCO)  # another process adds a question
        assert isinstance(bot.ask(alice, COCO), OpenMatch)
        assert bot.matcher is index  # just that question was indexed, nothing rebuilt
    finally:
        bot.close()
        cli.close()
