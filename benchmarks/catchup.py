"""Catch-up benchmark: how long a use case waits after another process wrote.

    python -m benchmarks.catchup                      # 100,000 stored, 1,000-row import
    python -m benchmarks.catchup --stored 20000 --imported 200 --rounds 3

A store of `--stored` questions is seeded and the exchange opened on it (its matcher
built). Then, `--rounds` times: another connection to the same file (as `psn-exchange
import` in another process would) commits `--imported` new questions, each with its ask,
in one transaction; the exchange's next use case (an officer's ask, which has to see them
to de-duplicate) is timed, and it is checked that it found the imported question. The
baseline, in the same run on the same database: rebuilding the whole matcher, which is
what the exchange did before the change log (and still does if it falls 100,000 changes
behind), and a plain ask with nothing to catch up.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.dataset import load
from benchmarks.load import REPO, seed_store, settings_for
from benchmarks.matching import pad
from knowledge.exchange import Exchange
from knowledge.models import Actor, Link, OpenMatch
from knowledge.store import Store


def import_elsewhere(db: Path, texts: list[str], round_no: int) -> None:
    """What another process's import commits: questions and their asks, one transaction."""
    store = Store.open(db)
    try:
        with store.transaction():
            now = _now()
            authority = store.officers.authority_id("Imported Council", now)
            officer = store.officers.save(f"import:round{round_no}@imported", "Importer", now)
            for text in texts:
                question = store.questions.add(text, "technical", None, now)
                store.asks.add(
                    question_id=question,
                    officer_id=officer.id,
                    authority_id=authority,
                    text=text,
                    link=Link.IMPORTED,
                    score=None,
                    place=None,
                    now=now,
                )
    finally:
        store.close()


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--imported", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    originals = [text for _, text in load(REPO / "benchmarks" / "data" / "psn").corpus]
    texts = pad(originals, args.stored + args.imported * args.rounds, seed=7)
    stored, fresh = texts[: args.stored], texts[args.stored :]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "catchup.db"
        seed_store(db, stored, authorities=60)
        exchange = Exchange.open(settings_for(db))
        try:
            officers = [Actor(f"bench:officer{n}", f"Officer {n}") for n in range(args.rounds)]
            for officer in officers:
                exchange.set_authority(officer, "Authority 1")

            plain = []
            for n, officer in enumerate(officers):
                started = time.perf_counter()
                exchange.ask(officer, stored[n * 7])  # found as a duplicate, nothing to catch up
                plain.append((time.perf_counter() - started) * 1000)

            caught_up = []
            for n, officer in enumerate(officers):
                batch = fresh[n * args.imported : (n + 1) * args.imported]
                batch = [f"{text} zqimported{n}x{i}" for i, text in enumerate(batch)]
                import_elsewhere(db, batch, n)
                started = time.perf_counter()
                outcome = exchange.ask(officer, batch[-1])
                caught_up.append((time.perf_counter() - started) * 1000)
                if not isinstance(outcome, OpenMatch):
                    raise SystemExit(f"round {n}: the imported question was not found")

            started = time.perf_counter()
            exchange.uow.rebuild_matcher()
            rebuild = (time.perf_counter() - started) * 1000
        finally:
            exchange.close()

    print(f"store: {args.stored:,} questions; another process imports {args.imported:,} per round")
    print(f"ask with nothing to catch up     median {statistics.median(plain):8.1f} ms")
    print(
        f"ask after a {args.imported:,}-row import   median {statistics.median(caught_up):8.1f} ms"
        f"   max {max(caught_up):8.1f} ms   (rounds: {', '.join(f'{t:.0f}' for t in caught_up)})"
    )
    print(f"baseline: rebuild the matcher         {rebuild:8.1f} ms")
    print(f"  catch-up is x{rebuild / statistics.median(caught_up):.1f} faster than a rebuild")


if __name__ == "__main__":
    main()
