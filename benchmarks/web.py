"""Web site benchmark: pages and search at 100,000 stored questions.

    python -m benchmarks.web                    # 100,000 questions, a fifth answered
    python -m benchmarks.web --stored 20000 --samples 200

A store of `--stored` questions is seeded (one in five answered, in releases of 200
answers), then each kind of page is requested `--samples` times through the whole ASGI
stack (Starlette's test client: routing, rendering, headers; no network), on the
database opened read-only as `psn-exchange web` opens it. Printed per page: mean, p50 and
p95 in milliseconds, first with no page kept (every request rendered from the database,
as just after another process committed), then as served (rendered pages kept until the
database changes; the question page is never kept). The baseline, in the same run: the
minimum any question page reads, the question's row and its answers by primary key in raw
SQLite, so the ratio shows what the site adds. Goals (issue 16): a page under 50 ms p95,
search under 100 ms p95.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.testclient import TestClient

from benchmarks.dataset import load
from benchmarks.load import REPO, percentile, seed_store, settings_for
from benchmarks.matching import pad
from knowledge.models import Status
from knowledge.store import Store
from knowledge.web.app import create_app

SEARCHES = [
    "coco",
    "Code of Connection",
    "GCSx accreditation",
    "PSN procurement framework",
    "broadband consortium",
    "N3 health network",
    "governance",
    "IL3",
    "shared services data centre",
    "cost",
]


def answer_some(db: Path, every: int = 5, per_release: int = 200) -> int:
    """Answer one question in `every` and publish them in releases; returns how many."""
    store = Store.open(db)
    now = datetime.now(UTC) - timedelta(days=60)
    ids = list(range(1, store.questions.queue_size() + 1, every))
    with store.transaction():
        officer = store.officers.save("bench:expert", "Expert", now).id
        for start in range(0, len(ids), per_release):
            number = start // per_release + 1
            moment = now + timedelta(hours=number)
            release = store.answers.add_release(number, officer, moment)
            answer_ids = []
            for question_id in ids[start : start + per_release]:
                answer_ids.append(
                    store.answers.save(
                        question_id=question_id,
                        body=f"The answer to question {question_id}.\n\nSecond paragraph.",
                        links=("https://www.gov.uk/government/groups/public-services-network",),
                        author_id=officer,
                        now=moment,
                    )
                )
                store.questions.set_status(question_id, Status.ANSWERED, moment)
            store.answers.attach(answer_ids, release)
    store.close()
    return len(ids)


def timed(get: Callable[[str], object], urls: Sequence[str]) -> list[float]:
    timings = []
    for url in urls:
        started = time.perf_counter()
        get(url)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def baseline(db: Path, ids: Sequence[int]) -> list[float]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    timings = []
    for question_id in ids:
        started = time.perf_counter()
        conn.execute("SELECT * FROM questions WHERE id = ?", [question_id]).fetchall()
        conn.execute("SELECT * FROM answers WHERE question_id = ?", [question_id]).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    conn.close()
    return timings


def line(name: str, timings: Sequence[float], base: float | None = None) -> str:
    mean = statistics.fmean(timings)
    ratio = f"  {mean / base:7.1f}× baseline" if base else ""
    return (
        f"{name:<28} mean {mean:7.2f} ms  p50 {percentile(timings, 50):7.2f}  "
        f"p95 {percentile(timings, 95):7.2f}  max {max(timings):7.2f}{ratio}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args(argv)
    originals = [text for _, text in load(REPO / "benchmarks" / "data" / "psn").corpus]
    texts = pad(originals, args.stored, seed=5)
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "web.db"
        seconds = seed_store(db, texts, authorities=60)
        answered = answer_some(db)
        print(f"seeded {args.stored:,} questions ({answered:,} answered) in {seconds:.1f} s")
        settings = settings_for(db)
        n = args.samples
        question_ids = [rng.randint(1, args.stored) for _ in range(n)]
        releases = -(-answered // 200)
        for kept in (0, 512):
            started = time.perf_counter()
            with TestClient(create_app(settings, cached_pages=kept)) as client:
                ready = time.perf_counter() - started
                print(f"\n{'no page kept' if not kept else 'as served'} (ready in {ready:.1f} s)")

                def get(url: str, client: TestClient = client) -> object:
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                    return response

                base = statistics.fmean(baseline(db, question_ids))
                print(line("baseline (2 SELECTs by id)", baseline(db, question_ids)))
                for name, urls in pages(rng, n, question_ids, args.stored, releases).items():
                    get(urls[0])  # warm
                    print(line(name, timed(get, urls), base))


def pages(
    rng: random.Random, n: int, question_ids: list[int], stored: int, releases: int
) -> dict[str, list[str]]:
    return {
        "question page /q/Q-N": [f"/q/Q-{i}" for i in question_ids],
        "home /": ["/"] * (n // 3),
        "waiting (page N)": [f"/waiting/page-{rng.randint(1, 50)}" for _ in range(n // 3)],
        "topic (page N)": [f"/topics/technical/page-{rng.randint(1, 50)}" for _ in range(n // 3)],
        "release /releases/N": [f"/releases/{rng.randint(1, releases)}" for _ in range(n // 3)],
        "releases.atom": ["/releases.atom"] * (n // 10),
        "figures": ["/figures"] * max(3, n // 30),
        "search /search?q=…": [f"/search?q={rng.choice(SEARCHES)}" for _ in range(n)],
    }


if __name__ == "__main__":
    main()
