"""Digests, reminders and privacy in Discord, against the fake Discord, with a fixed clock."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.app import build_bot
from bot.client import ExchangeBot
from bot.delivery import grouped
from bot.markdown import markdown_embeds
from knowledge.config import Settings, load_settings
from knowledge.exchange import Exchange
from knowledge.models import Actor, Delivery, NewQuestion, Notice, Role
from knowledge.runner import ExchangeThread
from tests.botkit import backoff_passed, stop_worker
from tests.conftest import Clock
from tests.fakediscord import FakeDiscord, FakeUser, World, async_test

REPO = Path(__file__).resolve().parent.parent
MONDAY_AFTER_NINE = datetime.fromisoformat("2010-05-17T10:00:00+01:00")
LAST_WEDNESDAY = datetime.fromisoformat("2010-05-12T11:00:00+01:00")


class Setting:
    """A world with general, steering and expert channels, and settings pointing at it."""

    def __init__(self, tmp_path: Path) -> None:
        self.world = World()
        builder = FakeDiscord(discord.Client(intents=discord.Intents.none()), self.world)
        self.general = builder.text_channel("general")
        self.steering = builder.text_channel("steering-group")
        self.expert = builder.text_channel("psn-expert")
        loaded = load_settings(REPO / "config.toml")
        self.settings: Settings = loaded.model_copy(
            update={
                "database": loaded.database.model_copy(update={"path": tmp_path / "x.db"}),
                "discord": loaded.discord.model_copy(
                    update={
                        "guild_ids": (self.world.guild_id,),
                        "steering_channel_id": self.steering,
                        "expert_channel_id": self.expert,
                    }
                ),
            }
        )
        self.clock = Clock(MONDAY_AFTER_NINE)
        self.threads: list[ExchangeThread] = []

    def exchange_at(self, moment: datetime) -> Exchange:
        return Exchange.open(self.settings, Clock(moment))

    def bot(self) -> ExchangeBot:
        thread = ExchangeThread(lambda: Exchange.open(self.settings, self.clock))
        self.threads.append(thread)
        return build_bot(self.settings, thread)


@pytest.fixture
def setting(tmp_path: Path) -> Iterator[Setting]:
    made = Setting(tmp_path)
    yield made
    for thread in made.threads:
        thread.close()


def ask_last_week(setting: Setting) -> None:
    exchange = setting.exchange_at(LAST_WEDNESDAY)
    try:
        alice = Actor("discord:1", "Alice")
        exchange.set_authority(alice, "Derbyshire County Council")
        exchange.ask(alice, "How is quality of service handled in the PSN?")
    finally:
        exchange.close()


def posted_text(fake: FakeDiscord, channel: int) -> str:
    return "\n".join(m.text for m in fake.sent_messages(channel_id=channel))


@async_test
async def test_a_digest_due_while_the_bot_was_down_is_posted_once_at_start_up(
    setting: Setting,
) -> None:
    ask_last_week(setting)

    fake = FakeDiscord(setting.bot(), setting.world)
    await fake.start()
    await stop_worker(fake)
    await fake.settle()

    text = posted_text(fake, setting.steering)
    assert "PSN Exchange digest" in text
    assert "1 ask" in text
    assert "Derbyshire County Council" in text
    assert "Alice" not in text
    fake = await fake.restart(setting.bot())
    await stop_worker(fake)
    await fake.settle()
    assert "PSN Exchange digest" not in posted_text(fake, setting.steering)
    await fake.close()


@async_test
async def test_the_bot_leaves_the_email_copy_of_a_digest_to_the_mail_sender(
    setting: Setting,
) -> None:
    email = setting.settings.email.model_copy(
        update={"address": "q@psnx.test", "steering_recipients": ("chair@psnx.test",)}
    )
    setting.settings = setting.settings.model_copy(update={"email": email})
    ask_last_week(setting)

    fake = FakeDiscord(setting.bot(), setting.world)
    await fake.start()
    await stop_worker(fake)
    await fake.settle()
    assert posted_text(fake, setting.steering).count("PSN Exchange digest") == 1
    owed = fake.bot.exchange.run_sync(Exchange.owed_messages, None, ("steering",))
    assert [n.place for n in owed if isinstance(n, Notice)] == ["email:chair@psnx.test"]
    await fake.close()


@async_test
async def test_the_schedule_uses_london_time_and_the_configured_crons(setting: Setting) -> None:
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        bot = fake.bot
        assert isinstance(bot, ExchangeBot)
        scheduler = bot.notices.scheduler
        assert scheduler.running
        digest = scheduler.get_job("digest").trigger
        # Summer: 09:00 BST is 08:00 UTC; winter: 09:00 GMT is 09:00 UTC.
        summer = digest.get_next_fire_time(None, datetime(2026, 6, 2, tzinfo=UTC))
        winter = digest.get_next_fire_time(None, datetime(2026, 11, 3, tzinfo=UTC))
        assert summer.astimezone(UTC) == datetime(2026, 6, 8, 8, 0, tzinfo=UTC)
        assert winter.astimezone(UTC) == datetime(2026, 11, 9, 9, 0, tzinfo=UTC)
        release = scheduler.get_job("release").trigger
        assert release.get_next_fire_time(None, datetime(2026, 6, 2, tzinfo=UTC)).astimezone(
            UTC
        ) == datetime(2026, 6, 5, 15, 0, tzinfo=UTC)


@async_test
async def test_the_expert_is_reminded_before_the_release(setting: Setting) -> None:
    ask_last_week(setting)
    setting.clock.now = datetime.fromisoformat("2010-05-20T17:00:00+01:00")  # Thursday

    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        await fake.settle()
        text = posted_text(fake, setting.expert)
        assert "Release due Fri 21 May 16:00" in text
        assert "Q-1" in text
        assert fake.bot.notices.check is not None  # type: ignore[attr-defined]
        before = len(fake.sent_messages(channel_id=setting.expert))
        await fake.bot.notices.check()  # type: ignore[attr-defined]
        assert len(fake.sent_messages(channel_id=setting.expert)) == before


@async_test
async def test_digest_command_for_the_steering_group_only(setting: Setting) -> None:
    ask_last_week(setting)
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        merlin = fake.member("Merlin", roles=["Steering Group"])
        officer = fake.member("Olive")

        allowed = await fake.slash(merlin, "digest", channel=setting.general)
        refused = await fake.slash(officer, "digest", channel=setting.general)

        assert allowed.followups
        assert allowed.followups[0].ephemeral
        assert "PSN Exchange digest" in allowed.followups[0].text
        assert refused.followups[0].ephemeral
        assert "Only the steering group" in refused.followups[0].text


@async_test
async def test_mydata_sends_a_file_and_forget_me_needs_the_owner_to_confirm(
    setting: Setting,
) -> None:
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        alice = fake.member("Alice")
        mallory = fake.member("Mallory")
        bot = fake.bot
        assert isinstance(bot, ExchangeBot)
        me = Actor(f"discord:{alice.id}", "Alice")
        bot.exchange.run_sync(Exchange.set_authority, me, "Derbyshire County Council")

        exported = await fake.slash(alice, "mydata", channel=setting.general)
        assert exported.followups[0].ephemeral
        assert any("psn-exchange-my-data.json" in c.files for c in exported.requests)

        asked = await fake.slash(alice, "forget-me", channel=setting.general)
        [button] = asked.response.custom_ids  # type: ignore[union-attr]
        stolen = await fake.click(mallory, button)
        assert "Only the person who asked" in stolen.text
        assert bot.exchange.run_sync(Exchange.authority_of, me) == "Derbyshire County Council"

        confirmed = await fake.click(alice, button)
        assert "erased" in confirmed.text
        assert bot.exchange.run_sync(Exchange.authority_of, me) is None


@async_test
async def test_roles_count_only_in_the_configured_servers(setting: Setting) -> None:
    elsewhere = setting.settings.discord.model_copy(update={"guild_ids": (424242,)})
    setting.settings = setting.settings.model_copy(update={"discord": elsewhere})
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        impostor = fake.member("Mallory", roles=["PSN Expert"])

        turn = await fake.slash(impostor, "publish", channel=setting.general)

        assert "Only the PSN expert" in turn.text


@async_test
async def test_overdue_flags_go_out_together_in_one_message(setting: Setting) -> None:
    exchange = setting.exchange_at(LAST_WEDNESDAY)
    try:
        for n, text in enumerate(
            [
                "How is quality of service handled in the PSN?",
                "Who will decide IP addressing and naming across the region?",
                "Can staff working for several agencies avoid having many employee IDs?",
            ]
        ):
            officer = Actor(f"discord:{n + 1}", f"Officer {n}")
            exchange.set_authority(officer, "Rutland County Council")
            assert isinstance(exchange.ask(officer, text), NewQuestion)
    finally:
        exchange.close()
    setting.clock.now = datetime.fromisoformat("2010-06-02T10:00:00+01:00")  # 3 weeks later

    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        await fake.settle()
        flags = [
            m for m in fake.sent_messages(channel_id=setting.steering) if "waited past" in m.text
        ]
        assert len(flags) == 1
        assert "3 questions have waited past the limit" in flags[0].text
        assert all(f"Q-{n}" in flags[0].text for n in (1, 2, 3))
        assert fake.bot.exchange.run_sync(Exchange.owed_notices) == []  # type: ignore[attr-defined]


def ann_and_ben_await_an_answer(
    setting: Setting,
) -> tuple[FakeDiscord, tuple[FakeUser, FakeUser], tuple[Actor, Actor], Actor]:
    """A bot on a fresh world where Ann asked and Ben followed, and the expert has written
    the answer (not yet published)."""
    fake = FakeDiscord(setting.bot(), setting.world)
    first, second = fake.member("Ann"), fake.member("Ben")
    ann, ben = (Actor(f"discord:{m.id}", m.name) for m in (first, second))
    expert = Actor("discord:99", "Geoff", frozenset({Role.OFFICER, Role.EXPERT}))
    exchange = setting.exchange_at(LAST_WEDNESDAY)
    try:
        exchange.set_authority(ann, "Rutland County Council")
        exchange.set_authority(ben, "Derby City Council")
        q = exchange.ask(ann, "How is QoS handled in the PSN?")
        assert isinstance(q, NewQuestion)
        exchange.follow(ben, q.question.ref)
        exchange.answer(expert, q.question.ref, "Six classes of service.")
    finally:
        exchange.close()
    return fake, (first, second), (ann, ben), expert


@async_test
async def test_one_broken_delivery_never_holds_up_the_others(
    setting: Setting, caplog: pytest.LogCaptureFixture
) -> None:
    fake, (_, second), (ann, _), expert = ann_and_ben_await_an_answer(setting)

    async with fake:
        await stop_worker(fake)
        publisher = setting.exchange_at(LAST_WEDNESDAY)
        publisher.publish(expert)  # after the background worker stopped: we drive the rounds
        publisher.close()
        worker = fake.bot.worker  # type: ignore[attr-defined]
        real_send = worker.send

        async def send(delivery: Delivery) -> None:
            if delivery.recipient == ann.user_key:
                raise ValueError("a bug in rendering")
            await real_send(delivery)

        worker.send = send
        assert await worker.deliver_due() == 1
        assert "failed unexpectedly" in caplog.text
        assert len(fake.dms(second)) == 1
        worker.max_attempts = 1  # the broken one has now used its attempts
        backoff_passed(fake)
        assert await worker.deliver_due() == 0
        [left] = fake.bot.exchange.run_sync(Exchange.owed_deliveries, "discord:")  # type: ignore[attr-defined]
        assert left.recipient == ann.user_key
        assert left.attempts == 1


@async_test
async def test_a_delivery_sent_but_not_marked_is_resent_with_the_same_nonce(
    setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDiscord(setting.bot(), setting.world)
    member = fake.member("Ann")
    ann = Actor(f"discord:{member.id}", member.name)
    expert = Actor("discord:99", "Geoff", frozenset({Role.OFFICER, Role.EXPERT}))
    exchange = setting.exchange_at(LAST_WEDNESDAY)
    try:
        exchange.set_authority(ann, "Rutland County Council")
        q = exchange.ask(ann, "How is QoS handled in the PSN?")
        assert isinstance(q, NewQuestion)
        exchange.answer(expert, q.question.ref, "Six classes of service.")
    finally:
        exchange.close()

    await fake.start()
    await stop_worker(fake)
    publisher = setting.exchange_at(LAST_WEDNESDAY)
    publisher.publish(expert)
    publisher.close()

    def crash(self: Exchange, delivery_id: int) -> bool:
        raise RuntimeError("the bot died here")

    with monkeypatch.context() as patched:  # Discord took the DM; then the bot died
        patched.setattr(Exchange, "mark_sent", crash)
        await fake.bot.worker.deliver_due()  # type: ignore[attr-defined]
        await fake.bot.worker.deliver_due()  # type: ignore[attr-defined]  # not sent again
    before = nonces(fake)
    fake = await fake.restart(setting.bot())  # its worker resumes with what is owed
    await fake.settle()
    after = nonces(fake)
    await fake.close()

    assert len(before) == 1
    assert after == before  # the same message again: Discord drops it as a duplicate
    assert [c.json["nonce"] for c in fake.dropped_duplicates] == [before[0][0]]
    assert len([m for m in setting.world.messages.values() if m.via == "dm"]) == 1
    check = setting.exchange_at(LAST_WEDNESDAY)
    try:
        assert check.owed_deliveries("discord:") == []
    finally:
        check.close()


def nonces(fake: FakeDiscord) -> list[tuple[str, bool]]:
    """(nonce, enforce_nonce) of every delivery (not digest) the bot posted through REST."""
    return [
        (c.json["nonce"], c.json["enforce_nonce"])
        for c in fake.requests
        if c.method == "POST"
        and c.path.endswith("/messages")
        and re.fullmatch(r"psnx-\d+", str((c.json or {}).get("nonce", "")))
    ]


@async_test
async def test_a_long_digest_that_failed_part_way_resumes_without_repeating(
    setting: Setting, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "# A long digest\n\n## Waiting\n\n" + "\n".join(
        f"- **Q-{n}** question number {n} " + "x" * 150 for n in range(400)
    )
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        exchange = setting.exchange_at(LAST_WEDNESDAY)  # owed after start-up's round
        with exchange.store.transaction():
            exchange.store.outbox.add_notice(
                key="digest:test",
                kind="digest",
                audience="steering",
                body=body,
                now=LAST_WEDNESDAY,
            )
        exchange.close()
        worker = fake.bot.worker  # type: ignore[attr-defined]
        real_send = discord.TextChannel.send
        calls = []

        async def flaky_send(self: discord.TextChannel, *args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs.get("nonce"))
            if len(calls) == 2:
                raise discord.HTTPException(SimpleNamespace(status=500, reason="boom"), "boom")
            return await real_send(self, *args, **kwargs)

        with monkeypatch.context() as patched:
            patched.setattr(discord.TextChannel, "send", flaky_send)
            assert await worker.deliver_due() == 0
        backoff_passed(fake)
        assert await worker.deliver_due() == 1

        posted = [
            c.json["nonce"]
            for c in fake.requests
            if c.method == "POST" and str((c.json or {}).get("nonce", "")).startswith("psnx-n")
        ]
        assert len(posted) == len(set(posted))  # no part posted twice
        assert posted[0].endswith("-0")
        assert len(posted) > 2


@async_test
async def test_answer_refuses_an_unknown_question_before_any_form_opens(setting: Setting) -> None:
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        geoff = fake.member("Geoff", roles=["PSN Expert"])

        turn = await fake.slash(geoff, "answer", {"question": "Q-999"}, channel=setting.general)

        assert turn.response is not None
        assert turn.response.type != 9  # no form
        assert "There is no question Q-999." in turn.text


def test_overdue_flags_go_together_only_if_none_has_failed_before() -> None:
    fresh = [Notice(i, "overdue", "expert", f"# Q-{i}") for i in (1, 2)]
    retried = Notice(3, "overdue", "expert", "# Q-3", attempts=0, failed_before=True)
    trying = Notice(4, "overdue", "expert", "# Q-4", attempts=2, failed_before=True)
    digest = Notice(5, "digest", "steering", "# Digest")

    groups = grouped([*fresh, retried, trying, digest])

    assert sorted([n.id for n in g] for g in groups) == [[1, 2], [3], [4], [5]]


@async_test
async def test_a_busy_database_is_a_retry_never_a_resend(setting: Setting) -> None:
    """Another process holds the write lock across several rounds and sweeps: every answer
    and every part of a long digest is posted once, and recorded once the lock is gone."""
    database = setting.settings.database.model_copy(update={"busy_timeout_ms": 50})
    setting.settings = setting.settings.model_copy(update={"database": database})
    fake = FakeDiscord(setting.bot(), setting.world)
    ann, ben = fake.member("Ann"), fake.member("Ben")
    expert = Actor("discord:99", "Geoff", frozenset({Role.OFFICER, Role.EXPERT}))
    exchange = setting.exchange_at(LAST_WEDNESDAY)
    try:
        for member, authority in ((ann, "Rutland County Council"), (ben, "Derby City Council")):
            exchange.set_authority(Actor(f"discord:{member.id}", member.name), authority)
        q = exchange.ask(Actor(f"discord:{ann.id}", ann.name), "How is QoS handled in the PSN?")
        assert isinstance(q, NewQuestion)
        exchange.follow(Actor(f"discord:{ben.id}", ben.name), q.question.ref)
        exchange.answer(expert, q.question.ref, "Six classes of service.")
    finally:
        exchange.close()
    body = "# A long digest\n\n## Waiting\n\n" + "\n".join(
        f"- **Q-{n}** question number {n} " + "x" * 150 for n in range(200)
    )

    async with fake:
        await stop_worker(fake)
        publisher = setting.exchange_at(LAST_WEDNESDAY)
        publisher.publish(expert)
        with publisher.store.transaction():
            publisher.store.outbox.add_notice(
                key="digest:busy", kind="digest", audience="steering", body=body, now=LAST_WEDNESDAY
            )
        publisher.close()
        worker, board = fake.bot.worker, fake.bot.notices  # type: ignore[attr-defined]
        other_process = sqlite3.connect(setting.settings.database.path, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        try:
            for _ in range(3):
                await worker.deliver_due()
                await board.check()
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        for _ in range(3):
            await worker.deliver_due()

        posted = [
            c.json["nonce"]
            for c in fake.requests
            if c.method == "POST"
            and c.path.endswith("/messages")
            and str((c.json or {}).get("nonce", "")).startswith("psnx-")
        ]
        parts = len(markdown_embeds(body, discord.Colour.blue()))
        assert parts > 1
        assert len(posted) == len(set(posted))  # nothing posted twice
        assert len([n for n in posted if re.fullmatch(r"psnx-\d+", n)]) == 2  # Ann's, Ben's
        check = setting.exchange_at(LAST_WEDNESDAY)
        try:
            [digest] = check.store.db["outbox"].rows_where("key = 'digest:busy'")
        finally:
            check.close()
        assert sorted(n for n in posted if n.startswith(f"psnx-n{digest['id']}-")) == sorted(
            f"psnx-n{digest['id']}-{part}" for part in range(parts)
        )
        check = setting.exchange_at(LAST_WEDNESDAY)
        try:
            assert check.store.db["outbox"].count_where("status = 'owed'") == 0
        finally:
            check.close()


@async_test
async def test_a_message_gone_before_it_is_marked_never_stops_the_sender(
    setting: Setting,
) -> None:
    """Ann erases her data just as her answer goes out: there is nothing left to mark, and
    Ben's answer, and everything after it, still goes out."""
    fake, (first, second), (ann, _), expert = ann_and_ben_await_an_answer(setting)

    async with fake:
        await stop_worker(fake)
        publisher = setting.exchange_at(LAST_WEDNESDAY)
        publisher.publish(expert)
        publisher.close()
        worker = fake.bot.worker  # type: ignore[attr-defined]
        real_send = worker.send

        async def send_then_erase(delivery: Delivery) -> None:
            await real_send(delivery)
            if delivery.recipient == ann.user_key:
                other = setting.exchange_at(LAST_WEDNESDAY)  # e.g. `psn-exchange privacy`
                other.forget_me(ann)
                other.close()

        worker.send = send_then_erase
        assert await worker.deliver_due() == 2
        assert worker.unrecorded == {}
        assert await worker.deliver_due() == 0
        assert (len(fake.dms(first)), len(fake.dms(second))) == (1, 1)


@async_test
async def test_a_notice_to_a_channel_the_bot_may_not_post_in_is_given_up_on_at_once(
    setting: Setting,
) -> None:
    async with FakeDiscord(setting.bot(), setting.world) as fake:
        await stop_worker(fake)
        exchange = setting.exchange_at(LAST_WEDNESDAY)
        with exchange.store.transaction():
            exchange.store.outbox.add_notice(
                key="digest:test",
                kind="digest",
                audience="steering",
                body="# Digest",
                now=LAST_WEDNESDAY,
            )
        exchange.close()
        path = f"/channels/{setting.steering}/messages"
        fake.fail("POST", path, 403, code=50001, message="Missing Access")
        worker = fake.bot.worker  # type: ignore[attr-defined]
        assert await worker.deliver_due() == 0
        admin = Actor("discord:9", "Ada", frozenset({Role.ADMIN}))
        [failing] = worker.bot.exchange.run_sync(Exchange.failing_messages, admin)
        assert (failing.what, failing.given_up) == ("digest", True)
        assert "error code: 50001" in failing.last_error

        backoff_passed(fake)
        fake.requests.clear()
        assert await worker.deliver_due() == 0  # not tried again until an admin retries it
        assert fake.requests_to("POST", path) == []
