"""Delivery benchmark: a release to 2,000 officers, sent through the fake Discord at the pace
Discord's rate limits allow.

    python -m benchmarks.delivery                           # 2,000 officers, the fake's limits
    python -m benchmarks.delivery --dm-opens-per-second 0   # only the global limit binds
    python -m benchmarks.delivery --officers 200            # a quicker look

`--officers` officers (100 asking, the rest following one of their questions, each officer
owed exactly one answer) are stored with the exchange; the expert's answers are published
as one release; then the real bot (bot/, its background delivery worker as it runs in
production) sends every DM through the fake Discord (tests/fakediscord) with Discord's
rate limits in force: 50 requests a second in all, 5 messages per 5 s per channel, and
`--dm-opens-per-second` DM opens a second (the fake's default 5; 0 lifts that bucket).
discord.py's own rate limiter paces the requests, as it would against Discord.

Time is on the fake's clock (tests/fakediscord/clock.py): work takes the real time it takes,
and only waits in which nothing could happen (a rate limit's window running out) are
skipped, so a run that would take minutes of real waiting takes seconds. The floor is the
time the rate limits alone force on the requests the release needs (one DM open and one
message per officer): for a limit of L requests per P seconds, n requests need at least
(ceil(n / L) - 1) * P seconds from the first to the last. The run is checked: every officer
got their answer exactly once, and nothing is left owed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import math
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import discord

from benchmarks.load import EXPERT, settings_for
from bot.app import build_bot
from knowledge.config import Settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, NewQuestion
from knowledge.runner import ExchangeThread
from tests.fakediscord import FakeDiscord, World, clock
from tests.fakediscord.ratelimits import MESSAGES, OPEN_DM, Bucket

QUESTIONS = 100


def seed(settings: Settings, world: World, officers: int) -> None:
    """Officers in the guild, each owed one answer once the release is published."""
    builder = FakeDiscord(discord.Client(intents=discord.Intents.none()), world)
    users = [builder.member(f"Officer {n}") for n in range(officers)]
    exchange = Exchange.open(settings)
    try:
        exchange.set_authority(EXPERT, "Cabinet Office")
        refs = []
        for n, user in enumerate(users[:QUESTIONS]):
            asker = Actor(f"discord:{user.id}", user.name)
            exchange.set_authority(asker, f"Authority {n % 60}")
            outcome = exchange.ask(asker, f"Question {n} about the PSN code of connection zq{n}x")
            if not isinstance(outcome, NewQuestion):
                outcome = exchange.ask_anyway(asker)
            refs.append(outcome.question.ref)
        for n, user in enumerate(users[QUESTIONS:]):
            follower = Actor(f"discord:{user.id}", user.name)
            exchange.set_authority(follower, f"Authority {n % 60}")
            exchange.follow(follower, refs[n % len(refs)])
        for ref in refs:
            exchange.answer(EXPERT, ref, f"The answer to {ref}.")
    finally:
        exchange.close()


def floor_seconds(requests: int, bucket: Bucket) -> float:
    """The least time from the first to the last of `requests` under one bucket."""
    return max(0, math.ceil(requests / bucket.limit) - 1) * bucket.per


async def release(settings: Settings, world: World, officers: int) -> dict[str, float]:
    """Publish, let the bot's worker send everything, and measure it on the fake's clock."""
    thread = ExchangeThread(lambda: Exchange.open(settings))
    bot = build_bot(settings, thread)
    fake = FakeDiscord(bot, world)
    try:
        await fake.start()
        begun, wall = fake.clock(), time.perf_counter()
        published = await bot.call(Exchange.publish, EXPERT)
        bot.deliveries_due.set()  # as /publish pokes the worker
        for _ in range(24 * 3600):  # look once a second (fake clock), for a day at most
            if len(dms(world)) >= published.deliveries_owed:
                break
            await asyncio.sleep(1)
        owed = await bot.call(Exchange.owed_deliveries, "discord:")
        wall = time.perf_counter() - wall
        sent = [c for c in fake.requests if c.status == 200 and c.at >= begun]
        posts = [c for c in sent if c.method == "POST"]
        gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
        return {
            "owed": published.deliveries_owed,
            "left owed": len(owed),
            "seconds": max(c.at for c in posts) - begun,
            "wall": wall,
            "posts": len(posts),
            "opens": len([c for c in posts if c.path == OPEN_DM[1]]),
            "requests": len([c for c in fake.requests if c.at >= begun]),
            "429s": fake.rate_limits.rejected,
            "longest pause": max(gaps, default=0.0),
            "dropped duplicates": len(fake.dropped_duplicates),
        }
    finally:
        await fake.close()
        thread.close()


def dms(world: World) -> list[int]:
    """The officers each DM the bot sent went to, one entry per DM."""
    return [m.user_id or 0 for m in world.messages.values() if m.via == "dm"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--officers", type=int, default=2_000)
    parser.add_argument(
        "--dm-opens-per-second", type=int, default=5, help="0 lifts the DM-open bucket"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # discord.py warns at each 429; they are counted

    world = World()
    limits = world.rate_limits
    if args.dm_opens_per_second:
        limits.routes[OPEN_DM] = Bucket(args.dm_opens_per_second, 1.0)
    else:
        del limits.routes[OPEN_DM]
    global_limit = Bucket(limits.global_per_second or 10**9, 1.0)
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_for(Path(folder) / "delivery.db")
        started = time.perf_counter()
        seed(settings, world, args.officers)
        seeded = time.perf_counter() - started
        figures = clock.run(release(settings, world, args.officers))

    owed = int(figures["owed"])
    received = Counter(dms(world))
    floors = {"global limit": floor_seconds(2 * owed, global_limit)}
    if OPEN_DM in limits.routes:
        floors["DM opens"] = floor_seconds(owed, limits.routes[OPEN_DM])
    floors["messages per channel"] = floor_seconds(max(received.values()), limits.routes[MESSAGES])
    binding = max(floors, key=lambda name: floors[name])
    floor = floors[binding]

    print(f"Release to {args.officers:,} officers: {owed:,} DMs owed (seeded in {seeded:.1f} s)")
    print(
        f"  limits: {limits.global_per_second} requests/s in all; "
        f"{limits.routes[MESSAGES].limit} messages per {limits.routes[MESSAGES].per:g} s "
        "per channel; "
        + (
            f"{limits.routes[OPEN_DM].limit} DM opens per {limits.routes[OPEN_DM].per:g} s"
            if OPEN_DM in limits.routes
            else "no DM-open bucket"
        )
    )
    print(
        f"  delivered in {figures['seconds']:.1f} s on the fake's clock "
        f"({figures['wall']:.1f} s real: rate-limit waits are skipped, work is not)"
    )
    print(
        "  rate-limit floor "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in floors.items())
        + f": {floor:.0f} s ({binding})"
    )
    ratio = figures["seconds"] / floor if floor else float("inf")
    print(f"  ratio to the floor {ratio:.2f} (goal: at most 1.5)")
    print(
        f"  POSTs per delivery {figures['posts'] / owed:.2f} "
        f"({figures['opens']:,.0f} DM opens); requests {figures['requests']:,.0f}, "
        f"of them 429s {figures['429s']:,.0f}; "
        f"longest pause between requests {figures['longest pause']:.2f} s"
    )
    twice = sum(1 for count in received.values() if count > 1)
    print(
        f"  officers who got their answer: {len(received):,} of {owed:,}; twice: {twice}; "
        f"duplicates Discord dropped: {figures['dropped duplicates']:.0f}; "
        f"left owed: {figures['left owed']:.0f}"
    )


if __name__ == "__main__":
    main()
