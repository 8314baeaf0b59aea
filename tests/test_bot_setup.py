"""The bot starting and running: token, intents, command sync, unexpected errors."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import discord
import pytest

from bot import app
from bot.app import EXIT_INTENT_NOT_ENABLED, EXIT_TOKEN_REFUSED
from bot.client import intents_for
from knowledge.exchange import Exchange
from tests.botkit import (
    DERBYSHIRE,
    NOTTINGHAM,
    Q1_DERBYSHIRE,
    Q1_NOTTINGHAM,
    REPO,
    Place,
    ask,
    button,
    refused_kindly,
    reply_of,
    running,
    started,
    stop_worker,
)
from tests.fakediscord import FakeDiscord, async_test


@async_test
async def test_starting_logs_no_voice_library_warnings(
    place: Place, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As on a fresh install without PyNaCl and davey (the bot never joins voice).
    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)
    monkeypatch.setattr(discord.VoiceClient, "warn_dave", True)
    caplog.set_level(logging.WARNING, logger="discord")

    async with running(place):
        pass

    assert not [r for r in caplog.records if "voice" in r.getMessage()]


@async_test
async def test_only_an_admin_can_resync_the_commands(place: Place) -> None:
    async with running(place) as fake:
        # First start, empty db: the server's commands, then an empty global list.
        assert len(fake.requests_to("PUT", "/applications/*")) == 2
        fake.requests.clear()
        bob = fake.member("Bob")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        for user in (bob, geoff):
            turn = await fake.slash(user, "exchange-sync", channel=place.general)
            refused_kindly(turn, "Only an exchange admin can re-sync the commands.")
        assert fake.requests_to("PUT", "/applications/*") == []

        admin = fake.member("Ada", roles=["Exchange Admin"])
        turn = await fake.slash(admin, "exchange-sync", channel=place.general)
        assert "Slash commands re-synced with Discord." in reply_of(turn).text
        put, _ = fake.requests_to("PUT", "/applications/*")
        assert (
            put.path == f"/applications/{place.world.app_id}/guilds/{place.world.guild_id}/commands"
        )


@async_test
async def test_an_unexpected_error_is_logged_with_ids_and_answered_generically(
    place: Place, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Exchange, *args: object) -> None:
        raise RuntimeError("disk on fire at /var/lib/secret")

    caplog.set_level(logging.ERROR, logger="bot.interactions")
    # The fake's guard watches discord.* and asyncio; this ERROR from bot.interactions is expected.
    async with running(place) as fake:
        alice = fake.member("Alice")
        monkeypatch.setattr(Exchange, "mine", broken)
        turn = await fake.slash(alice, "mine", channel=place.general)
        shown = reply_of(turn)
        assert shown.ephemeral
        assert shown.text == (
            "Sorry — something went wrong on our side and nothing was changed. Please try "
            "again in a minute; if it keeps happening, tell an exchange admin "
            f"(reference {turn.interaction_id})."
        )
        assert "Traceback" not in shown.text
        assert "disk on fire" not in shown.text

        # the same from a button, after the response was already deferred
        monkeypatch.setattr(Exchange, "follow", broken)
        bob = fake.member("Bob")
        await ask(fake, alice, Q1_DERBYSHIRE, channel=place.general, authority=DERBYSHIRE)
        offer = reply_of(
            await ask(fake, bob, Q1_NOTTINGHAM, channel=place.general, authority=NOTTINGHAM)
        )
        clicked = await fake.click(bob, button(offer, "follow"), message=offer)
        assert f"(reference {clicked.interaction_id})" in reply_of(clicked).text

    logged = [
        r for r in caplog.records if r.name == "bot.interactions" and r.levelno == logging.ERROR
    ]
    assert [r.getMessage() for r in logged] == [
        f"unexpected error in interaction {turn.interaction_id} (user {alice.id})",
        f"unexpected error in interaction {clicked.interaction_id} (user {bob.id})",
    ]
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in logged)


def test_run_without_a_token_stops_at_once_with_help(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env["PSNX_DATABASE__PATH"] = str(tmp_path / "exchange.db")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "psn-exchange"), "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "DISCORD_TOKEN is not set" in done.stderr
    assert "https://discord.com/developers/applications" in done.stderr
    assert "psn-exchange console" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "exchange.db").exists()


def test_intents_ask_for_message_content_only_with_a_forum(place: Place) -> None:
    without = intents_for(place.settings)
    assert without.guilds
    assert not without.message_content
    assert not without.members
    assert not without.presences
    with_forum = intents_for(place.with_forum())
    assert with_forum.message_content
    assert with_forum.guild_messages
    assert not with_forum.members


@async_test
async def test_commands_are_synced_on_first_start_and_only_when_they_change(
    place: Place,
) -> None:
    fake = await started(place)
    try:
        first, clear = fake.requests_to("PUT", "/applications/*")
        assert first.path.endswith(f"/guilds/{place.world.guild_id}/commands")
        assert clear.path.endswith(f"/applications/{place.world.app_id}/commands")
        assert clear.json == []
        assert {c["name"] for c in first.json} == {
            "ask",
            "authority",
            "follow",
            "search",
            "mine",
            "withdraw",
            "queue",
            "answer",
            "merge",
            "distinct",
            "unmerge",
            "drafts",
            "discard",
            "publish",
            "exchange-sync",
            "digest",
            "mydata",
            "forget-me",
            "reword",
            "audit",
            "sensitive",
            "reply",
            "replies",
            "notify",
            "helpful",
            "solved",
            "endorse",
            "questions",
            "hide",
            "share",
            "notes",
            "endorse-note",
            "hide-note",
        }
        fake = await fake.restart(place.bot())
        await stop_worker(fake)
        assert fake.requests_to("PUT", "/applications/*") == []  # same definitions
        ada = fake.member("Ada", roles=["Exchange Admin"])
        await fake.slash(ada, "exchange-sync", channel=place.general)
        assert len(fake.requests_to("PUT", "/applications/*")) == 2  # the server, then global
    finally:
        await fake.close()


@async_test
async def test_moving_to_guild_commands_clears_the_global_ones(place: Place) -> None:
    # An earlier run with no guild_ids registered the commands globally.
    everywhere = place.settings.model_copy(
        update={"discord": place.settings.discord.model_copy(update={"guild_ids": ()})}
    )
    async with running(place, everywhere):
        pass
    assert "ask" in place.world.commands[None]

    fake = await started(place)  # now with guild_ids: a changed fingerprint, so a sync
    try:
        assert place.world.commands[None] == {}
        assert "ask" in place.world.commands[place.world.guild_id]
        # The commands still work, and a forced re-sync keeps them in the server.
        ada = fake.member("Ada", roles=["Exchange Admin"])
        turn = await fake.slash(ada, "exchange-sync", channel=place.general)
        assert "Slash commands re-synced with Discord." in reply_of(turn).text
        assert "ask" in place.world.commands[place.world.guild_id]
        assert place.world.commands[None] == {}
    finally:
        await fake.close()


@async_test
async def test_moving_back_to_global_commands_clears_the_servers_copy(place: Place) -> None:
    async with running(place):
        pass
    assert "ask" in place.world.commands[place.world.guild_id]
    everywhere = place.settings.model_copy(
        update={"discord": place.settings.discord.model_copy(update={"guild_ids": ()})}
    )

    async with running(place, everywhere):
        pass

    assert place.world.commands[place.world.guild_id] == {}
    assert "ask" in place.world.commands[None]


@async_test
async def test_a_server_the_bot_left_does_not_stop_the_sync(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(place):
        pass
    everywhere = place.settings.model_copy(
        update={"discord": place.settings.discord.model_copy(update={"guild_ids": ()})}
    )
    fake = FakeDiscord(place.bot(everywhere), place.world)
    fake.fail("PUT", f"/applications/*/guilds/{place.world.guild_id}/commands", 403)
    await fake.start()
    try:
        await stop_worker(fake)
        assert "ask" in place.world.commands[None]
        assert f"could not clear the commands of server {place.world.guild_id}" in caplog.text
    finally:
        await fake.close()


@async_test
async def test_a_server_the_commands_cannot_reach_is_logged_and_tried_at_the_next_start(
    place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    """Invited without the applications.commands scope (50001): the bot still starts, says
    what to do, and does not record the commands as synced, so the next start tries again."""
    caplog.set_level(logging.ERROR, logger="bot.client")
    fake = FakeDiscord(place.bot(), place.world)
    commands = f"/applications/*/guilds/{place.world.guild_id}/commands"
    fake.fail("PUT", commands, 403, code=50001, message="Missing Access")
    await fake.start()
    try:
        await stop_worker(fake)
        assert "applications.commands" in caplog.text
        fake = await fake.restart(place.bot())
        await stop_worker(fake)
        assert len(fake.requests_to("PUT", commands)) == 1  # tried again, and now it works
        assert "ask" in place.world.commands[place.world.guild_id]
    finally:
        await fake.close()


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (discord.LoginFailure("Improper token has been passed."), EXIT_TOKEN_REFUSED),
        (discord.PrivilegedIntentsRequired(None), EXIT_INTENT_NOT_ENABLED),
    ],
)
def test_a_refusal_restarting_cannot_mend_exits_with_its_own_status(
    place: Place,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    refusal: Exception,
    status: int,
) -> None:
    async def refused(*args: object, **kwargs: object) -> None:
        raise refusal

    monkeypatch.setattr(app, "serve", refused)

    assert app.run(place.settings, "token") == status
    assert "Discord refused" in caplog.text


def test_the_readme_service_unit_does_not_restart_on_those_statuses() -> None:
    unit = (REPO / "README.md").read_text(encoding="utf-8")
    [line] = [line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus=")]
    assert set(line.split("=", 1)[1].split()) == {
        "2",  # no token or a configuration error (knowledge/cli.py)
        str(EXIT_TOKEN_REFUSED),
        str(EXIT_INTENT_NOT_ENABLED),
    }
    assert "StartLimitBurst=" in unit
    assert "StartLimitIntervalSec=" in unit


@async_test
async def test_a_message_mentioning_the_bot_is_not_taken_as_a_command(place: Place) -> None:
    # With a forum the bot reads guild messages, and Discord sends the content of any
    # message that mentions it: "@bot hi" must not reach a prefix-command parser (which
    # logs CommandNotFound as an ERROR, failing the fake) nor get a reply.
    async with running(place, place.with_forum()) as fake:
        alice = fake.member("Alice")
        bot_id = place.world.app_id
        for text in (f"<@{bot_id}> hi", f"<@{bot_id}> ask", f"<@!{bot_id}> help"):
            turn = await fake.message(alice, place.general, text)
            assert turn.messages == [], text
            assert turn.requests == [], text
