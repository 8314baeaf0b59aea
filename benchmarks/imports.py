"""Import benchmark: a large `psn-exchange import` beside a running exchange.

    python -m benchmarks.imports                     # 20,000 rows into 20,000 stored
    python -m benchmarks.imports --rows 5000 --stored 5000

A store of `--stored` questions is seeded. Then `psn-exchange import` runs in another
process with a file of `--rows` questions (about one in ten a reworded repeat of a stored
one, one in twenty a repeat of an earlier row), while this process, as the bot would, asks a
new question every `--every` seconds through its own exchange on the same file. Printed:
how long the import took, and the latency of the asks made while it ran (p50, p95, max,
and how many were refused as busy). The baseline, in the same run: the same asks with no
import running.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.dataset import load
from benchmarks.load import REPO, percentile, seed_store, settings_for
from benchmarks.matching import pad
from knowledge.errors import StoreError
from knowledge.exchange import Exchange
from knowledge.models import Actor


def write_import_file(path: Path, stored: list[str], fresh: list[str], rows: int) -> None:
    rng = random.Random(11)
    lines = []
    for n in range(rows):
        if n % 10 == 3:
            text = "Please could you tell us: " + stored[rng.randrange(len(stored))]
        elif n % 20 == 7 and n > 20:
            text = json.loads(lines[rng.randrange(len(lines))])["text"]
        else:
            text = f"{fresh[n]} (ref {n})"
        record = {
            "text": text,
            "authority": f"Imported Authority {n % 40}",
            "officer": f"Officer {n % 300}",
            "topic": "technical",
            "asked_at": "2026-11-02T09:00:00+00:00",
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


_ASKS = itertools.count()


def ask_timings(exchange: Exchange, texts: list[str], every: float, until: float) -> list[float]:
    """Ask one new question every `every` s until `until` (perf_counter); ms each, or inf
    for an ask refused as busy."""
    timings: list[float] = []
    while time.perf_counter() < until or not timings:
        n = next(_ASKS)
        officer = Actor(f"bench:asker{n}", f"Asker {n}")
        started = time.perf_counter()
        try:
            exchange.set_authority(officer, "Bench Council")
            exchange.ask(officer, texts[n % len(texts)] + f" zq{n}x{int(started * 1000)}")
            timings.append((time.perf_counter() - started) * 1000)
        except StoreError:
            timings.append(float("inf"))
        time.sleep(max(0.0, every - (time.perf_counter() - started)))
    return timings


def summary(label: str, timings: list[float]) -> str:
    finite = [t for t in timings if t != float("inf")] or [0.0]
    busy = len(timings) - len([t for t in timings if t != float("inf")])
    return (
        f"{label:34} asks {len(timings):4}  p50 {percentile(finite, 50):7.1f} ms  "
        f"p95 {percentile(timings, 95):8.1f} ms  max {max(timings):8.1f} ms  refused {busy}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--stored", type=int, default=20_000)
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument(
        "--semantic", choices=["off", "on"], default="off", help="the matcher mode of both sides"
    )
    parser.add_argument(
        "--one-process", action="store_true", help="import without the helper process"
    )
    args = parser.parse_args()

    originals = [text for _, text in load(REPO / "benchmarks" / "data" / "psn").corpus]
    texts = pad(originals, args.stored + args.rows + 2_000, seed=3)
    stored = texts[: args.stored]
    fresh = texts[args.stored : args.stored + args.rows]
    askable = texts[args.stored + args.rows :]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "imports.db"
        seed_store(db, stored, authorities=60)
        rows_file = Path(folder) / "rows.jsonl"
        write_import_file(rows_file, stored, fresh, args.rows)
        exchange = Exchange.open(settings_for(db, args.semantic))
        try:
            quiet = ask_timings(exchange, askable, args.every, time.perf_counter() + 3)
            started = time.perf_counter()
            importer = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "knowledge.cli",
                    "import",
                    str(rows_file),
                    "--db",
                    str(db),
                    *(["--one-process"] if args.one_process else []),
                ],
                cwd=REPO,
                env={**os.environ, "PSNX_MATCHING__SEMANTIC": args.semantic},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            busy: list[float] = []
            while importer.poll() is None:
                busy += ask_timings(exchange, askable[500:], args.every, time.perf_counter() + 1)
            took = time.perf_counter() - started
            out, err = importer.communicate()
        finally:
            exchange.close()
    if importer.returncode != 0:
        raise SystemExit(f"the import failed: {err.strip()}")
    print("matcher:", "semantic" if args.semantic == "on" else "lexical")
    print(f"store: {args.stored:,} questions; import: {args.rows:,} rows -> {out.strip()}")
    print(f"import took {took:6.1f} s")
    print(summary("asks with no import running", quiet))
    print(summary("asks while the import ran", busy))


if __name__ == "__main__":
    main()
