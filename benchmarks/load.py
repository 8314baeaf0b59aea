"""Load benchmark: the exchange under a national-scale store and a busy week.

    python -m benchmarks.load                  # 100,000 stored, 10,000 asks, 500 officers
    python -m benchmarks.load --stored 20000 --asks 2000   # a quicker look

Part 1 drives `--asks` asks from `--officers` officers in `--authorities` authorities
through the same path the bot uses (coroutines awaiting the exchange's own thread, with
`--concurrency` in flight), against a store of `--stored` questions, and reports throughput,
p50/p95/p99 ask latency and peak memory. A baseline in the same run and on the same file —
one bare INSERT committed with the same durability settings — shows how much of an ask is
the unavoidable disk commit. Part 2 publishes a release of 100 answers owed to 2,000
recipients and drains the deliveries.

Officers' rate limits are lifted for the run (a benchmark officer asks far more than 20 an
hour); everything else is the shipped config.toml.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dataset import load
from benchmarks.matching import pad
from knowledge.config import Settings, load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, Link, NewQuestion, Role
from knowledge.runner import ExchangeThread
from knowledge.store import Store

REPO = Path(__file__).resolve().parent.parent
EXPERT = Actor("bench:expert", "Expert", frozenset({Role.OFFICER, Role.EXPERT}))


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings_for(db: Path, semantic: str = "off") -> Settings:
    """The repository's settings on `db`, with no ask limits, and the matcher mode chosen
    (lexical unless asked: the figures in benchmarks/README.md are per mode)."""
    settings = load_settings(REPO / "config.toml")
    limits = settings.exchange.model_copy(
        update={"asks_per_hour": 1_000_000, "max_open_questions_per_officer": 1_000_000}
    )
    return settings.model_copy(
        update={
            "exchange": limits,
            "database": settings.database.model_copy(update={"path": db}),
            "matching": settings.matching.model_copy(update={"semantic": semantic}),
        }
    )


def seed_store(db: Path, texts: Sequence[str], authorities: int) -> float:
    """Store already de-duplicated questions in one transaction; returns seconds."""
    started = time.perf_counter()
    store = Store.open(db)
    rng = random.Random(7)
    with store.transaction():
        ids = [store.officers.authority_id(f"Authority {n}", _now()) for n in range(authorities)]
        officer = store.officers.save("bench:seed", "Seed", _now()).id
        for text in texts:
            question = store.questions.add(text, "technical", None, _now())
            store.asks.add(
                question_id=question,
                officer_id=officer,
                authority_id=rng.choice(ids),
                text=text,
                link=Link.IMPORTED,
                score=None,
                place=None,
                now=_now(),
            )
    store.close()
    return time.perf_counter() - started


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def baseline_commit_ms(db: Path, samples: int = 300) -> list[float]:
    """One INSERT + COMMIT per sample, same file, WAL, synchronous=FULL."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id INTEGER PRIMARY KEY, t TEXT)")
    timings = []
    for n in range(samples):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_baseline (t) VALUES (?)", [f"row {n}"])
        conn.execute("COMMIT")
        timings.append((time.perf_counter() - started) * 1000)
    conn.execute("DROP TABLE bench_baseline")
    conn.close()
    return timings


def timed_ask(exchange: Exchange, officer: Actor, text: str) -> tuple[object, float]:
    """An ask, timed on the exchange's own thread (service time, without queueing)."""
    started = time.perf_counter()
    outcome = exchange.ask(officer, text)
    return outcome, (time.perf_counter() - started) * 1000


async def drive_asks(
    thread: ExchangeThread, officers: list[Actor], texts: list[str], concurrency: int
) -> tuple[list[float], list[float], dict[str, int]]:
    latencies: list[float] = []
    service: list[float] = []
    outcomes: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(officer: Actor, text: str) -> None:
        async with gate:
            started = time.perf_counter()
            outcome, spent = await thread.run(timed_ask, officer, text)
            latencies.append((time.perf_counter() - started) * 1000)
            service.append(spent)
            name = type(outcome).__name__
            outcomes[name] = outcomes.get(name, 0) + 1

    rng = random.Random(11)
    await asyncio.gather(*(one(rng.choice(officers), text) for text in texts))
    return latencies, service, outcomes


def ask_texts(stored: Sequence[str], originals: Sequence[str], count: int) -> list[str]:
    """A third repeat stored questions in other words; the rest are new questions."""
    rng = random.Random(3)
    fresh = pad(originals, len(stored) + count, seed=99)[len(stored) :]
    texts = []
    for n in range(count):
        if n % 3 == 0:
            words = rng.choice(stored).split()
            if len(words) > 4:
                words.pop(rng.randrange(len(words)))
            texts.append("Please could you tell us: " + " ".join(words))
        else:
            texts.append(fresh[n])
    return texts


def part_one(args: argparse.Namespace, folder: Path) -> None:
    db = folder / "load.db"
    originals = [text for _, text in load(REPO / "benchmarks" / "data" / "psn").corpus]
    stored = pad(originals, args.stored)
    seeded = seed_store(db, stored, args.authorities)
    settings = settings_for(db)
    started = time.perf_counter()
    thread = ExchangeThread(lambda: Exchange.open(settings))
    opened = time.perf_counter() - started
    officers = [Actor(f"bench:officer{n}", f"Officer {n}") for n in range(args.officers)]
    for n, officer in enumerate(officers):
        thread.run_sync(Exchange.set_authority, officer, f"Authority {n % args.authorities}")
    texts = ask_texts(stored, originals, args.asks)
    baseline = baseline_commit_ms(db)

    started = time.perf_counter()
    latencies, service, outcomes = asyncio.run(
        drive_asks(thread, officers, texts, args.concurrency)
    )
    elapsed = time.perf_counter() - started
    thread.close()

    base50 = percentile(baseline, 50)
    print(
        f"Part 1 — {args.asks:,} asks from {args.officers} officers in {args.authorities} "
        f"authorities, store of {args.stored:,} questions"
    )
    print(f"  seeded store in {seeded:.1f} s; opened exchange (index build) in {opened:.1f} s")
    print("  outcomes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())))
    print(
        f"  throughput {args.asks / elapsed:,.0f} asks/s "
        f"({elapsed:.1f} s, {args.concurrency} in flight, one writer thread)"
    )
    print("  ask latency, ms      service (on the exchange thread)   awaited (with queueing)")
    for pct in (50, 95, 99):
        print(
            f"    p{pct:<3}              {percentile(service, pct):8.2f}"
            f"                         {percentile(latencies, pct):8.2f}"
        )
    print(
        f"  baseline: bare INSERT+COMMIT on the same file, p50 {base50:.2f} ms, "
        f"p95 {percentile(baseline, 95):.2f} ms"
    )
    print(
        f"  ratio: ask service p50 / bare commit p50 = {percentile(service, 50) / base50:.0f}x "
        "(the rest is matching, validation and the event log)"
    )
    print(f"  peak memory (max RSS) {peak_mb():,.0f} MB")


def part_two(args: argparse.Namespace, folder: Path) -> None:
    db = folder / "release.db"
    settings = settings_for(db)
    exchange = Exchange.open(settings)
    exchange.set_authority(EXPERT, "Cabinet Office")
    questions = []
    rng = random.Random(5)
    subjects = pad([text for _, text in load(REPO / "benchmarks" / "data" / "psn").corpus], 400)
    for n in range(100):
        asker = Actor(f"bench:asker{n}", f"Asker {n}")
        exchange.set_authority(asker, f"Authority {n % 60}")
        outcome = exchange.ask(asker, f"Question {n}: {subjects[n * 4]} zq{n}x")
        if not isinstance(outcome, NewQuestion):
            outcome = exchange.ask_anyway(asker)
        questions.append(outcome.question)
    for n in range(1900):
        follower = Actor(f"bench:follower{n}", f"Follower {n}")
        exchange.set_authority(follower, f"Authority {rng.randrange(60)}")
        exchange.follow(follower, questions[n % 100].ref)
    for question in questions:
        exchange.answer(EXPERT, question.ref, f"The answer to {question.ref}.")

    started = time.perf_counter()
    release = exchange.publish(EXPERT)
    published = time.perf_counter() - started
    started = time.perf_counter()
    sent = 0
    while owed := exchange.owed_deliveries("bench:", 200):
        for delivery in owed:
            sent += exchange.mark_sent(delivery.id)
    drained = time.perf_counter() - started
    exchange.close()
    print(
        f"Part 2 — release of {len(release.question_ids)} answers owed to "
        f"{release.deliveries_owed:,} recipients"
    )
    print(
        f"  publish (one transaction) {published * 1000:,.0f} ms; "
        f"listing and marking {sent:,} deliveries {drained:.1f} s "
        f"({drained / max(sent, 1) * 1000:.2f} ms each, one commit per mark)"
    )
    print(f"  peak memory (max RSS) {peak_mb():,.0f} MB")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--asks", type=int, default=10_000)
    parser.add_argument("--officers", type=int, default=500)
    parser.add_argument("--authorities", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--skip-release", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        part_one(args, Path(folder))
        if not args.skip_release:
            part_two(args, Path(folder))


if __name__ == "__main__":
    main()
