"""The fake Discord harness, proven on a tiny throwaway bot (not the real one in bot/)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from tests.fakediscord import FakeDiscord, World, async_test, fail_on_error_logs
from tests.fakediscord.ratelimits import MESSAGES, Bucket

# --------------------------------------------------------------------------- a tiny bot


class Ticket(discord.ui.DynamicItem[discord.ui.Button], template=r"ticket:(?P<id>\d+)"):
    """A per-ticket button whose state lives in its custom_id (survives restarts)."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(discord.ui.Button(label="Answer", custom_id=f"ticket:{ticket_id}"))
        self.ticket_id = ticket_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match):  # type: ignore[no-untyped-def]
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"answering ticket {self.ticket_id}", ephemeral=True
        )


class HelpView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Help", custom_id="help:static")
    async def help(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content="Help is on its way", view=None)


class AskModal(discord.ui.Modal, title="Ask a question"):
    question = discord.ui.Label(
        text="Question",
        component=discord.ui.TextInput(
            custom_id="question", style=discord.TextStyle.paragraph, max_length=200
        ),
    )
    topic = discord.ui.TextInput(label="Topic", custom_id="topic", required=False)  # action row

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.question.component, discord.ui.TextInput)
        await interaction.response.send_message(
            f"Asked: {self.question.component.value} [{self.topic.value or 'no topic'}]",
            ephemeral=True,
        )


@app_commands.command(description="Say hello")
async def hello(interaction: discord.Interaction) -> None:
    await interaction.response.send_message(
        f"Hello {interaction.user.mention} @everyone", ephemeral=True
    )


@app_commands.command(description="Slow answer")
async def slow(interaction: discord.Interaction, query: str) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await interaction.followup.send(f"Results for {query}")
    await interaction.followup.send("and one more", ephemeral=True)


@app_commands.command(description="Ask")
async def ask(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(AskModal())


TOPICS = ["Security", "Networking", "Compliance", "Costs"]


@app_commands.command(description="Search")
async def search(interaction: discord.Interaction, query: str) -> None:
    await interaction.response.send_message(f"searching {query}", ephemeral=True)


@search.autocomplete("query")
async def search_query(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=t, value=t) for t in TOPICS if current.lower() in t.lower()]


@app_commands.command(description="Post a ticket")
async def ticket(interaction: discord.Interaction, number: int, where: discord.TextChannel) -> None:
    view = discord.ui.View(timeout=None)
    view.add_item(Ticket(number))
    await where.send(f"Ticket {number}", view=view)
    await interaction.response.send_message("posted", ephemeral=True)


@app_commands.command(description="DM someone")
async def poke(interaction: discord.Interaction, who: discord.Member) -> None:
    try:
        await who.send("You were poked")
    except discord.Forbidden as exc:
        await interaction.response.send_message(f"DMs closed ({exc.code})", ephemeral=True)
    else:
        await interaction.response.send_message("poked", ephemeral=True)


@app_commands.command(description="Experts only")
async def queue(interaction: discord.Interaction) -> None:
    member = interaction.user
    if not isinstance(member, discord.Member) or not any(
        r.name == "PSN Expert" for r in member.roles
    ):
        await interaction.response.send_message("Only the PSN expert can do that.", ephemeral=True)
        return
    await interaction.response.send_message("The queue", view=HelpView())


@app_commands.command(description="Broken")
async def broken(interaction: discord.Interaction) -> None:
    raise RuntimeError("boom")


class TopicSelect(discord.ui.View):
    @discord.ui.select(custom_id="topic", options=[discord.SelectOption(label=t) for t in TOPICS])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"picked {select.values}", ephemeral=True)


@app_commands.command(description="Pick a topic")
async def topics(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("Pick one", view=TopicSelect(), ephemeral=True)


@app_commands.command(description="Answer later")
async def later(interaction: discord.Interaction) -> None:
    await interaction.response.defer(thinking=True)
    interaction.client.pending.append(interaction)  # type: ignore[attr-defined]


admin = app_commands.Group(name="admin", description="Admin")


@admin.command(description="Sync the command tree")
async def sync(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True)
    synced = await interaction.client.tree.sync()  # type: ignore[attr-defined]
    await interaction.edit_original_response(content=f"synced {len(synced)} commands")


class TinyBot(commands.Bot):
    def __init__(self, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(
            command_prefix="!", intents=intents, allowed_mentions=discord.AllowedMentions.none()
        )
        self.seen: list[str] = []
        self.pending: list[discord.Interaction] = []  # deferred by /later, answered by tests

    async def setup_hook(self) -> None:
        for cmd in (hello, slow, ask, search, ticket, poke, queue, broken, topics, later, admin):
            self.tree.add_command(cmd)
        self.add_dynamic_items(Ticket)
        self.add_view(HelpView())

    async def on_thread_create(self, thread: discord.Thread) -> None:
        if thread.owner_id == self.user.id or not isinstance(thread.parent, discord.ForumChannel):
            return
        tags = ", ".join(t.name for t in thread.applied_tags)
        await thread.send(f"Got your question '{thread.name}' ({tags})")

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.seen.append(message.content)


# --------------------------------------------------------------------------- tests


@async_test
async def test_slash_replies_ephemerally_without_pinging_anyone() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice = fake.member("Alice")
        general = fake.text_channel("general")
        turn = await fake.slash(alice, "hello", channel=general)
        reply = turn.response
        assert reply is not None
        assert reply.type == 4
        assert reply.ephemeral
        assert reply.text == f"Hello <@{alice.id}> @everyone"
        assert reply.allowed_mentions == {"parse": []}
        assert reply.pings == set()
        assert fake.last_response(alice) is reply
        assert not fake.requests_to("PUT", "/applications/*")  # nothing synced on start


@async_test
async def test_defer_then_followups_in_a_dm() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice = fake.member("Alice")
        turn = await fake.slash(alice, "slow", {"query": "vpn"})  # no channel: a DM
        assert turn.response is not None
        assert turn.response.type == 5
        assert turn.response.ephemeral
        first, second = turn.followups
        # the first followup replaces the "thinking…" message and stays ephemeral
        assert first.id == turn.response.message.id
        assert first.ephemeral
        assert first.content == "Results for vpn"
        assert second.content == "and one more"
        assert second.id > first.id
        with pytest.raises(ValueError, match="requires option 'query'"):
            await fake.slash(alice, "slow")


@async_test
async def test_modal_opens_and_submit_replies() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        turn = await fake.slash(alice, "ask", channel=general)
        modal = turn.response
        assert modal is not None
        assert modal.type == 9
        assert modal.body["title"] == "Ask a question"
        assert [c["type"] for c in modal.components] == [18, 1]  # a Label, then an action row
        assert modal.custom_ids == ["question", "topic"]
        turn = await fake.submit_modal(alice, {"question": "Is PSN dead?"})
        assert turn.response is not None
        assert turn.response.text == "Asked: Is PSN dead? [no topic]"
        with pytest.raises(ValueError, match="required"):
            await fake.submit_modal(alice, {"topic": "x"})
        with pytest.raises(ValueError, match="out of range"):
            await fake.submit_modal(alice, {"question": "x" * 201})


@async_test
async def test_autocomplete_returns_choices() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        choices = await fake.autocomplete(alice, "search", "query", "net", channel=general)
        assert choices == [{"name": "Networking", "value": "Networking"}]


@async_test
async def test_dynamic_button_works_after_a_restart() -> None:
    world = World()
    fake = FakeDiscord(TinyBot(), world)
    await fake.start()
    alice, tickets = fake.member("Alice"), fake.text_channel("tickets")
    await fake.slash(alice, "ticket", {"number": 42, "where": tickets}, channel=tickets)
    [posted] = fake.sent_messages(tickets)
    assert posted.custom_ids == ["ticket:42"]

    fake = await fake.restart(TinyBot())  # a new process: nothing in memory but the code
    try:
        turn = await fake.click(alice, "ticket:42")
        assert turn.response is not None
        assert turn.response.text == "answering ticket 42"
    finally:
        await fake.close()


@async_test
async def test_persistent_view_button_updates_the_message_and_roles_gate_commands() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        general = fake.text_channel("general")
        geoff = fake.member("Geoff", roles=["PSN Expert"])
        alice = fake.member("Alice", roles=["Steering Group"])
        refused = await fake.slash(alice, "queue", channel=general)
        assert refused.response.text == "Only the PSN expert can do that."
        shown = await fake.slash(geoff, "queue", channel=general)
        assert not shown.response.ephemeral
        assert shown.response.custom_ids == ["help:static"]
        turn = await fake.click(geoff, "help:static", message=shown.response.message)
        assert turn.response.type == 7
        assert shown.response.message.content == "Help is on its way"
        assert shown.response.message.components == []


@async_test
async def test_forum_post_gets_a_reply_in_its_thread() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        forum = fake.forum_channel("ask-psn", tags=["Security", "Costs"])
        alice = fake.member("Alice")
        turn = await fake.forum_post(
            alice, forum, "VPN renewal?", "Who renews the VPN?", tags=["Security"]
        )
        [reply] = turn.messages
        assert reply.content == "Got your question 'VPN renewal?' (Security)"
        assert fake.sent_messages(reply.channel_id) == [reply]
        assert fake.bot.seen == ["Who renews the VPN?"]


@async_test
async def test_a_forum_posts_starter_can_come_late_and_the_thread_takes_nothing_before() -> None:
    # https://discord.com/developers/docs/topics/threads#forums: THREAD_CREATE may come first
    async with FakeDiscord(discord.Client(intents=discord.Intents.none())) as fake:
        forum, alice = fake.forum_channel("ask-psn"), fake.member("Alice")
        posting = asyncio.create_task(
            fake.forum_post(alice, forum, "VPN?", "Who renews it?", starter_delay=0.2)
        )
        await asyncio.sleep(0.05)
        tid = max(fake.world.channels)
        thread = fake.bot.get_partial_messageable(tid)
        with pytest.raises(discord.NotFound) as unknown:
            await thread.fetch_message(tid)
        assert unknown.value.code == 10008
        with pytest.raises(discord.HTTPException) as early:
            await thread.send("Thanks")
        assert (early.value.status, early.value.code) == (400, 40058)
        await posting
        assert (await thread.fetch_message(tid)).id == tid
        await thread.send("Thanks")
        assert [m.content for m in fake.sent_messages(tid)] == ["Thanks"]


@async_test
async def test_a_forums_tags_must_exist_be_at_most_five_and_be_given_when_required() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        names = ["A", "B", "C", "D", "E", "F"]
        fid = fake.forum_channel("ask-psn", tags=names, require_tag=True)
        alice = fake.member("Alice")
        forum = fake.bot.get_channel(fid)
        assert isinstance(forum, discord.ForumChannel)
        with pytest.raises(discord.HTTPException) as untagged:
            await forum.create_thread(name="t", content="x")
        assert (untagged.value.status, untagged.value.code) == (400, 40067)
        with pytest.raises(discord.HTTPException) as too_many:
            await forum.create_thread(name="t", content="x", applied_tags=forum.available_tags)
        assert (too_many.value.status, too_many.value.code) == (400, 50035)
        stranger = discord.ForumTag(name="Z")
        stranger.id = fake.world.snowflake()
        with pytest.raises(discord.HTTPException) as unknown:
            await forum.create_thread(name="t", content="x", applied_tags=[stranger])
        assert unknown.value.code == 50035
        with pytest.raises(ValueError, match="requires a tag"):
            await fake.forum_post(alice, fid, "t", "x")
        with pytest.raises(ValueError, match="at most 5"):
            await fake.forum_post(alice, fid, "t", "x", tags=names)
        created = await forum.create_thread(
            name="t", content="x", applied_tags=[forum.available_tags[0]]
        )
        assert created.thread.applied_tags == [forum.available_tags[0]]


@async_test
async def test_archived_posts_are_listed_newest_archived_first_with_history_permission() -> None:
    # https://discord.com/developers/docs/resources/channel#list-public-archived-threads
    async with FakeDiscord(discord.Client(intents=discord.Intents(guilds=True))) as fake:
        fid, alice = fake.forum_channel("ask-psn"), fake.member("Alice")
        posts = []
        for title in ("first", "second", "third", "active"):
            await fake.forum_post(alice, fid, title, "body")
            posts.append(max(c for c, v in fake.world.channels.items() if v["type"] == 11))
        for tid in (posts[1], posts[0], posts[2]):  # archived in this order
            fake.archive_thread(tid)
        forum = fake.bot.get_channel(fid)
        assert isinstance(forum, discord.ForumChannel)
        listed = [t.id async for t in forum.archived_threads(limit=None)]
        assert listed == [posts[2], posts[0], posts[1]]  # the active post is not among them
        second = [t async for t in forum.archived_threads(limit=None)][1]
        assert second.created_at is not None
        older = [t.id async for t in forum.archived_threads(before=second.archive_timestamp)]
        assert older == [posts[1]]
        route = Route("GET", "/channels/{channel_id}/threads/archived/public", channel_id=fid)
        with pytest.raises(discord.HTTPException) as one:
            await fake.bot.http.request(route, params={"limit": 1})
        assert (one.value.status, one.value.code) == (400, 50035)

        everyone = fake.world.roles[fake.world.guild_id]
        allowed = discord.Permissions(int(everyone["permissions"]))
        allowed.read_message_history = False
        everyone["permissions"] = str(allowed.value)
        with pytest.raises(discord.Forbidden) as hidden:
            [t async for t in forum.archived_threads(limit=None)]
        assert (hidden.value.status, hidden.value.code) == (403, 50013)


@async_test
async def test_a_message_unarchives_an_archived_thread_but_a_locked_one_refuses_it() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        general = fake.bot.get_channel(fake.text_channel("general"))
        created = await (await general.send("a question")).create_thread(name="Q-1")
        await fake.settle()
        thread = fake.bot.get_channel(created.id)
        assert isinstance(thread, discord.Thread)
        fake.archive_thread(thread.id)
        assert thread.archived  # THREAD_UPDATE reached the bot, which drops archived threads
        assert fake.bot.get_channel(thread.id) is None
        answer = await thread.send("an answer")
        await fake.settle()
        unarchived = fake.bot.get_channel(thread.id)
        assert isinstance(unarchived, discord.Thread)
        assert not unarchived.archived
        assert not fake.world.channels[thread.id]["thread_metadata"]["archived"]

        fake.archive_thread(thread.id)
        with pytest.raises(discord.HTTPException) as archived:
            await answer.edit(content="edited")  # no edits in an archived thread
        assert (archived.value.status, archived.value.code) == (400, 50083)
        fake.archive_thread(thread.id, locked=True)
        with pytest.raises(discord.Forbidden) as locked:
            await thread.send("another answer")
        assert (locked.value.status, locked.value.code) == (403, 50083)
        assert locked.value.text == "Thread is archived"
        assert [m.content for m in fake.sent_messages(thread.id)] == ["an answer"]

        # A member with MANAGE_THREADS may still post in a locked thread.
        moderators = fake.role("Moderators", discord.Permissions(manage_threads=True).value)
        fake.world.members[fake.world.app_id]["roles"].append(str(moderators))
        await thread.send("from a moderator")
        assert len(fake.sent_messages(thread.id)) == 2


@async_test
async def test_a_nonce_used_in_the_last_minutes_returns_the_earlier_message() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        general = fake.text_channel("general")
        channel = fake.bot.get_channel(general)
        first = await channel.send("once", nonce="psnx-1")  # discord.py sets enforce_nonce
        again = await channel.send("once", nonce="psnx-1")
        assert again.id == first.id
        assert [m.content for m in fake.sent_messages(general)] == ["once"]
        [dropped] = fake.dropped_duplicates
        assert dropped.json["nonce"] == "psnx-1"

        raw = await fake.bot.http.request(
            Route("POST", f"/channels/{general}/messages"),
            json={"content": "once", "nonce": "psnx-1", "enforce_nonce": False},
        )
        assert int(raw["id"]) != first.id  # without enforce_nonce Discord checks nothing
        await asyncio.sleep(fake.nonce_window + 1)
        later = await channel.send("once", nonce="psnx-1")
        assert later.id != first.id  # past the window the same nonce makes a new message
        assert len(fake.sent_messages(general)) == 3
        assert len(fake.dropped_duplicates) == 1


@async_test
async def test_opening_a_dm_with_no_such_user_is_refused_as_discord_does() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        nobody = discord.Object(id=fake.world.snowflake())
        with pytest.raises(discord.HTTPException) as unknown:
            await fake.bot.create_dm(nobody)
        assert (unknown.value.status, unknown.value.code) == (400, 50033)
        assert unknown.value.text == "Invalid Recipient(s)"
        with pytest.raises(discord.HTTPException) as malformed:
            await fake.bot.http.request(
                Route("POST", "/users/@me/channels"), json={"recipient_id": "Alice"}
            )
        assert (malformed.value.status, malformed.value.code) == (400, 50035)
        assert "recipient_id" in malformed.value.text
        alice = fake.member("Alice")
        dm = await fake.bot.create_dm(discord.Object(id=alice.id))
        assert dm.id == fake.world.dm_channels[alice.id]


@async_test
async def test_message_content_needs_the_privileged_intent() -> None:
    async with FakeDiscord(TinyBot(message_content=False)) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        await fake.message(alice, general, "hello there")
        await fake.message(alice, None, "in a DM")
        assert fake.bot.seen == ["", "in a DM"]


@async_test
async def test_dm_is_recorded_and_closed_dms_raise_forbidden() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        general = fake.text_channel("general")
        alice, bob = fake.member("Alice"), fake.member("Bob")
        turn = await fake.slash(alice, "poke", {"who": bob}, channel=general)
        assert turn.response.text == "poked"
        assert [m.content for m in fake.dms(bob)] == ["You were poked"]

        fake.close_dms(bob)
        turn = await fake.slash(alice, "poke", {"who": bob}, channel=general)
        assert turn.response.text == "DMs closed (50007)"
        assert turn.requests[-2].status == 403


@async_test
async def test_rate_limits_and_server_errors_keep_discordpy_semantics() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        channel = fake.bot.get_channel(fake.text_channel("general"))
        fake.fail("POST", "/channels/*/messages", 429, retry_after=0.01)
        await channel.send("retried after a 429")
        assert [c.status for c in fake.requests_to("POST", "/channels/*/messages")] == [429, 200]

        fake.fail("POST", "/channels/*/messages", 500, times=None)
        began = time.monotonic()
        with pytest.raises(discord.DiscordServerError):
            await channel.send("never arrives")
        assert len(fake.sent_messages()) == 1
        # discord.py's own retries ran: 5 attempts, 1, 3, 5, 7 s apart on the fake's clock,
        # in next to no real time.
        tries = fake.requests_to("POST", "/channels/*/messages")[2:]
        assert [round(b.at - a.at) for a, b in itertools.pairwise(tries)] == [1, 3, 5, 7]
        assert time.monotonic() - began < 2


@async_test
async def test_tree_sync_is_recorded() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        synced = await fake.bot.tree.sync()
        [put] = fake.requests_to("PUT", f"/applications/{fake.world.app_id}/commands")
        assert {c["name"] for c in put.json} == {c.name for c in synced}
        assert "hello" in fake.world.commands[None]
        # A bulk overwrite: a second sync with fewer commands leaves only those.
        fake.bot.tree.remove_command("hello")
        await fake.bot.tree.sync()
        assert "hello" not in fake.world.commands[None]
        assert len(fake.world.commands[None]) == len(synced) - 1


@async_test
async def test_subcommand_defers_then_edits_the_original() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        turn = await fake.slash(alice, "admin sync", channel=general)
        assert turn.response.type == 5
        synced = fake.world.commands[None]
        assert turn.response.message.content == f"synced {len(synced)} commands"
        assert turn.response.message.ephemeral
        assert turn.followups == []


@async_test
async def test_select_menu() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        await fake.slash(alice, "topics", channel=general)
        turn = await fake.click(alice, "topic", values=["Costs"])
        assert turn.response.text == "picked ['Costs']"
        with pytest.raises(ValueError, match="offers only"):
            await fake.click(alice, "topic", values=["Cake"])


@async_test
async def test_three_second_rule() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        fake.response_deadline = -1  # as if the bot took too long before responding
        with pytest.raises(AssertionError, match="10062"):
            await fake.slash(alice, "hello", channel=general)


@async_test
async def test_an_interaction_token_expires_after_15_minutes() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        await fake.slash(alice, "later", channel=general)
        await fake.slash(alice, "later", channel=general)
        early, late = fake.bot.pending
        await asyncio.sleep(14 * 60)
        await early.followup.send("in time")
        await asyncio.sleep(61)  # 15 minutes and 1 second after the interactions
        for expired in (late.followup.send("too late"), late.edit_original_response(content="x")):
            with pytest.raises(discord.HTTPException) as refused:
                await expired
            assert (refused.value.status, refused.value.code) == (401, 50027)
        assert [m.content for m in fake.followups] == ["in time"]


@async_test
async def test_error_logged_by_discordpy_fails_the_test() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        alice, general = fake.member("Alice"), fake.text_channel("general")
        with pytest.raises(AssertionError, match="Ignoring exception in command 'broken'"):
            await fake.slash(alice, "broken", channel=general)


def test_fail_on_error_logs_context_manager() -> None:
    with pytest.raises(AssertionError, match="swallowed"), fail_on_error_logs():
        logging.getLogger("discord.ui.view").error("swallowed")
    with fail_on_error_logs():
        logging.getLogger("discord.http").warning("a warning is fine")


# --------------------------------------------------------------------------- Discord's limits
# Each rule: a payload exactly at the documented limit is accepted, one character (or item)
# over is refused with 400/50035 and the offending field named. Payloads are built from
# discord.py's own objects where discord.py can build them, then sent raw through the wire,
# so the fake's rule is tested, not discord.py's checks.


def _embed(**kwargs: Any) -> dict[str, Any]:
    return discord.Embed(**kwargs).to_dict()  # type: ignore[return-value]


def _with_fields(count: int, name: str = "n", value: str = "v") -> dict[str, Any]:
    embed = discord.Embed()
    for _ in range(count):
        embed.add_field(name=name, value=value)
    return embed.to_dict()  # type: ignore[return-value]


def _button(label: str = "b", custom_id: str = "b") -> dict[str, Any]:
    return discord.ui.Button(label=label, custom_id=custom_id).to_component_dict()


def _rows(rows: int, per_row: int = 1, **button: str) -> list[dict[str, Any]]:
    return [
        {"type": 1, "components": [_button(**button) for _ in range(per_row)]} for _ in range(rows)
    ]


def _select(options: int) -> list[dict[str, Any]]:
    select = discord.ui.Select(
        custom_id="s", options=[discord.SelectOption(label=str(i)) for i in range(options)]
    )
    return [{"type": 1, "components": [select.to_component_dict()]}]


def _total(n: int) -> dict[str, Any]:
    """Two embeds whose title, description, field, footer and author add up to n."""
    first = discord.Embed(title="t" * 100, description="d" * 2000)
    first.add_field(name="n" * 100, value="v" * 1000).set_footer(text="f" * 1000)
    second = discord.Embed().set_author(name="a" * 200)
    second.description = "d" * (n - len(first) - 200)
    assert len(first) + len(second) == n  # discord.py's count agrees with the fake's
    return {"embeds": [first.to_dict(), second.to_dict()]}


MESSAGE_RULES: dict[str, tuple[int, Callable[[int], dict[str, Any]], str]] = {
    "content": (2000, lambda n: {"content": "x" * n}, "content"),
    "nonce": (25, lambda n: {"content": "x", "nonce": "n" * n}, "nonce"),
    "embeds": (10, lambda n: {"embeds": [_embed(title="t")] * n}, "embeds"),
    "embed_title": (256, lambda n: {"embeds": [_embed(title="t" * n)]}, "embeds.0.title"),
    "embed_description": (
        4096,
        lambda n: {"embeds": [_embed(description="d" * n)]},
        "embeds.0.description",
    ),
    "embed_fields": (25, lambda n: {"embeds": [_with_fields(n)]}, "embeds.0.fields"),
    "field_name": (256, lambda n: {"embeds": [_with_fields(1, name="n" * n)]}, "name"),
    "field_value": (1024, lambda n: {"embeds": [_with_fields(1, value="v" * n)]}, "value"),
    "footer_text": (
        2048,
        lambda n: {"embeds": [discord.Embed().set_footer(text="f" * n).to_dict()]},
        "embeds.0.footer.text",
    ),
    "author_name": (
        256,
        lambda n: {"embeds": [discord.Embed().set_author(name="a" * n).to_dict()]},
        "embeds.0.author.name",
    ),
    "embed_total": (6000, _total, "Embed size exceeds maximum size of 6000"),
    "action_rows": (5, lambda n: {"components": _rows(n)}, "components"),
    "row_buttons": (5, lambda n: {"components": _rows(1, n)}, "components.0.components"),
    "button_label": (80, lambda n: {"components": _rows(1, label="l" * n)}, "label"),
    "custom_id": (100, lambda n: {"components": _rows(1, custom_id="c" * n)}, "custom_id"),
    "select_options": (25, lambda n: {"components": _select(n)}, "options"),
}


async def _send(fake: FakeDiscord, method: str, path: str, body: Any) -> Any:
    """One raw call, made with discord.py's own HTTP client, to the fake below it."""
    return await fake.bot.http.request(Route(method, path), json=body)


async def _refused(fake: FakeDiscord, method: str, path: str, body: Any, names: str) -> None:
    with pytest.raises(discord.HTTPException) as refused:
        await _send(fake, method, path, body)
    assert (refused.value.status, refused.value.code) == (400, 50035)
    assert refused.value.text.startswith("Invalid Form Body")
    assert names in refused.value.text


@pytest.mark.parametrize("rule", MESSAGE_RULES)
@async_test
async def test_a_message_over_a_documented_limit_is_refused(rule: str) -> None:
    limit, payload, names = MESSAGE_RULES[rule]
    async with FakeDiscord(TinyBot()) as fake:
        path = f"/channels/{fake.text_channel('general')}/messages"
        await _send(fake, "POST", path, payload(limit))
        await _refused(fake, "POST", path, payload(limit + 1), names)


async def _interaction_token(fake: FakeDiscord, channel: int) -> tuple[int, str]:
    payload = fake._interaction(fake.member("Alice"), 2, {"name": "hello"}, channel)
    return int(payload["id"]), payload["token"]


@pytest.mark.parametrize(
    "route", ["dm", "channel_edit", "response", "update", "followup", "webhook_edit", "forum"]
)
@async_test
async def test_every_route_that_carries_a_message_checks_it(route: str) -> None:
    too_long = {"content": "x" * 2001}
    async with FakeDiscord(TinyBot()) as fake:
        general, bob = fake.text_channel("general"), fake.member("Bob")
        posted = await _send(fake, "POST", f"/channels/{general}/messages", {"content": "hi"})
        iid, token = await _interaction_token(fake, general)
        fake._interactions[token]["message"] = fake._msg(posted["id"])
        await _send(fake, "POST", f"/interactions/{iid}/{token}/callback", {"type": 5})
        forum = fake.forum_channel("help")
        dm = fake._dm_channel(bob.id)
        method, path, body = {
            "dm": ("POST", f"/channels/{dm}/messages", too_long),
            "channel_edit": ("PATCH", f"/channels/{general}/messages/{posted['id']}", too_long),
            "response": ("POST", f"/interactions/{iid}/{token}/callback", {"type": 4}),
            "update": ("POST", f"/interactions/{iid}/{token}/callback", {"type": 7}),
            "followup": ("POST", f"/webhooks/1/{token}", too_long),
            "webhook_edit": ("PATCH", f"/webhooks/1/{token}/messages/@original", too_long),
            "forum": ("POST", f"/channels/{forum}/threads", {"name": "t", "message": too_long}),
        }[route]
        if route in ("response", "update"):  # a fresh interaction: the first one is answered
            iid, token = await _interaction_token(fake, general)
            fake._interactions[token]["message"] = fake._msg(posted["id"])
            path, body = f"/interactions/{iid}/{token}/callback", {**body, "data": too_long}
        await _refused(fake, method, path, body, "content")


def _choices(n: int, name: str = "c", value: str = "c") -> dict[str, Any]:
    return {"choices": [{"name": name, "value": value} for _ in range(n)]}


def _modal(title: str = "t", label: str = "l", *, row: bool = False, **text: Any) -> Any:
    modal = discord.ui.Modal(title=title, custom_id="m")
    field = discord.ui.TextInput(label=label, custom_id="q", **text)
    modal.add_item(field if row else discord.ui.Label(text=label, component=field))
    return modal.to_dict()


CALLBACK_RULES: dict[str, tuple[int, int, Callable[[int], Any], str]] = {
    "choices": (8, 25, lambda n: _choices(n), "data.choices"),
    "choice_name": (8, 100, lambda n: _choices(1, name="n" * n), "data.choices.0.name"),
    "choice_value": (8, 100, lambda n: _choices(1, value="v" * n), "data.choices.0.value"),
    "modal_title": (9, 45, lambda n: _modal("t" * n), "data.title"),
    "label": (9, 45, lambda n: _modal(label="l" * n), "data.components.0.label"),
    "text_input_label": (9, 45, lambda n: _modal(label="l" * n, row=True), "label"),
    "text_input_value": (
        9,
        300,
        lambda n: _modal(default="v" * n, max_length=300),
        "data.components.0.component.value",
    ),
    "text_input_max_length": (
        9,
        4000,
        lambda n: _modal(max_length=n),
        "data.components.0.component.max_length",
    ),
}


@pytest.mark.parametrize("rule", CALLBACK_RULES)
@async_test
async def test_an_interaction_callback_over_a_documented_limit_is_refused(rule: str) -> None:
    rtype, limit, data, names = CALLBACK_RULES[rule]
    async with FakeDiscord(TinyBot()) as fake:
        general = fake.text_channel("general")
        iid, token = await _interaction_token(fake, general)
        path = f"/interactions/{iid}/{token}/callback"
        await _send(fake, "POST", path, {"type": rtype, "data": data(limit)})
        iid, token = await _interaction_token(fake, general)
        path = f"/interactions/{iid}/{token}/callback"
        await _refused(fake, "POST", path, {"type": rtype, "data": data(limit + 1)}, names)


@pytest.mark.parametrize("starter", [False, True])
@async_test
async def test_a_thread_name_over_100_characters_is_refused(starter: bool) -> None:
    async with FakeDiscord(TinyBot()) as fake:
        general = fake.text_channel("general")
        posted = await _send(fake, "POST", f"/channels/{general}/messages", {"content": "hi"})
        path = f"/channels/{general}/messages/{posted['id']}/threads"
        if not starter:
            path = f"/channels/{general}/threads"
        await _send(fake, "POST", path, {"name": "n" * 100, "type": 11})
        await _refused(fake, "POST", path, {"name": "n" * 101, "type": 11}, "name")


# --------------------------------------------------------------------------- rate limits
# https://discord.com/developers/docs/topics/rate-limits (tests/fakediscord/ratelimits.py)


async def _raw(fake: FakeDiscord, method: str, path: str, body: Any) -> tuple[int, Any, Any]:
    """A request straight to the session, as a bot that ignores rate limits would make it."""
    session = fake.bot.http._HTTPClient__session  # type: ignore[attr-defined]
    async with session.request(method, Route.BASE + path, data=json.dumps(body)) as response:
        return response.status, await response.json(), response.headers


def _route_calls(fake: FakeDiscord, route: str) -> tuple[str, Callable[[int], Any]]:
    """A path of the route and a coroutine making the n-th call to it with discord.py."""
    if route == "messages":
        channel = fake.bot.get_channel(fake.text_channel("general"))
        return f"/channels/{channel.id}/messages", lambda n: channel.send(f"message {n}")
    users = [fake.member(f"Officer {n}") for n in range(12)]
    return "/users/@me/channels", lambda n: fake.bot.http.start_private_message(users[n].id)


@pytest.mark.parametrize(("route", "limit", "per"), [("messages", 5, 5.0), ("dm", 5, 1.0)])
@async_test
async def test_a_route_over_its_bucket_is_refused_429_and_discordpy_waits_for_it(
    route: str, limit: int, per: float
) -> None:
    async with FakeDiscord(TinyBot()) as fake:
        path, call = _route_calls(fake, route)
        officer = fake.member("Officer")
        body = {"content": "hi"} if route == "messages" else {"recipient_id": str(officer.id)}
        answers = [await _raw(fake, "POST", path, body) for _ in range(limit + 1)]
        assert [status for status, _, _ in answers] == [200] * limit + [429]
        _, refused, headers = answers[-1]
        assert refused["global"] is False
        assert 0 < refused["retry_after"] <= per
        assert headers["X-RateLimit-Remaining"] == "0"
        assert headers["X-RateLimit-Scope"] == "user"
        assert int(headers["Retry-After"]) >= refused["retry_after"]
        assert answers[0][2]["X-RateLimit-Limit"] == str(limit)
        assert fake.rate_limits.rejected == 1

        await asyncio.sleep(per)  # the bucket resets; discord.py learns it from the headers
        fake.requests.clear()
        for n in range(2 * limit + 1):
            await call(n)
        made = fake.requests_to("POST", path)
        assert [c.status for c in made] == [200] * (2 * limit + 1)  # it waited: no 429
        assert made[limit].at - made[0].at >= per
        assert made[2 * limit].at - made[0].at >= 2 * per


@async_test
async def test_a_route_limit_is_set_per_test_and_kept_per_channel() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        fake.rate_limits.routes[MESSAGES] = Bucket(2, 1.0)
        first, second = fake.text_channel("first"), fake.text_channel("second")
        for channel in (first, second):
            statuses = [
                (await _raw(fake, "POST", f"/channels/{channel}/messages", {"content": "x"}))[0]
                for _ in range(3)
            ]
            assert statuses == [200, 200, 429]


@async_test
async def test_more_than_50_requests_a_second_are_refused_with_a_global_429() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        channels = [fake.text_channel(f"c{n}") for n in range(60)]
        await asyncio.sleep(1)  # start-up's own requests are out of the window
        answers = [
            await _raw(fake, "POST", f"/channels/{c}/messages", {"content": "x"}) for c in channels
        ]
        assert [status for status, _, _ in answers] == [200] * 50 + [429] * 10
        _, refused, headers = answers[50]
        assert refused["global"] is True
        assert 0 < refused["retry_after"] <= 1
        assert headers["X-RateLimit-Global"] == "true"
        assert headers["X-RateLimit-Scope"] == "global"
        # Interaction endpoints are not bound by the global limit.
        iid, token = await _interaction_token(fake, channels[0])
        callback = await _raw(fake, "POST", f"/interactions/{iid}/{token}/callback", {"type": 5})
        assert callback[0] == 200

        await asyncio.sleep(1)
        fake.requests.clear()
        sends = [fake.bot.get_channel(c).send("at once") for c in channels]  # type: ignore[union-attr]
        await asyncio.gather(*sends)  # discord.py holds every request while a global 429 lasts
        made = [c for c in fake.requests if c.status == 200]
        assert len(made) == 60
        assert all(len([c for c in made if 0 <= c.at - m.at < 1]) <= 50 for m in made)
        assert any(c.status == 429 for c in fake.requests)


@async_test
async def test_10000_invalid_requests_in_10_minutes_get_the_host_banned() -> None:
    async with FakeDiscord(TinyBot()) as fake:
        fake.rate_limits.invalid_limit = 20  # Discord's 10,000, scaled down
        bob = fake.member("Bob")
        fake.close_dms(bob)
        dm = fake.bot.get_partial_messageable(fake.world.dm_channels[bob.id])
        for _ in range(20):  # each a 403: an invalid request
            with pytest.raises(discord.Forbidden):
                await dm.send("hello")
        channel = fake.bot.get_channel(fake.text_channel("general"))
        with pytest.raises(discord.HTTPException) as banned:
            await channel.send("anything at all")
        assert banned.value.status == 429
        assert "1015" in banned.value.text  # Cloudflare's page, not Discord's JSON
        assert fake.sent_messages() == []
        await asyncio.sleep(600)  # the invalid requests age out of the 10 minutes
        await channel.send("allowed again")
        assert len(fake.sent_messages()) == 1
