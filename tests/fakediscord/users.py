"""What people do: slash commands, autocomplete, modal submits, button clicks, messages
and forum posts, each dispatched as the gateway would and settled into a Turn."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands

from tests.fakediscord.records import (
    MAX_APPLIED_TAGS,
    REQUIRE_TAG,
    FakeUser,
    Msg,
    Reply,
    Turn,
)


class _UserActions:
    """FakeDiscord's gateway side (a mixin: the state lives on FakeDiscord)."""

    # ---- dispatching events
    def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.bot._connection.parsers[event](data)

    async def _turn(self, event: str, data: dict[str, Any], settle: bool) -> Turn:
        marks = len(self.replies), len(self.messages), len(self.requests)
        self._dispatch(event, data)
        if settle:
            await self.settle()
        iid = int(data["id"]) if event == "INTERACTION_CREATE" else None
        replies = [r for r in self.replies[marks[0] :] if r.interaction_id == iid]
        messages = self.messages[marks[1] :]
        followups = [m for m in messages if m.via == "followup"]
        return Turn(iid, replies, followups, messages, self.requests[marks[2] :])

    def _interaction(
        self,
        user: FakeUser,
        itype: int,
        data: dict[str, Any],
        channel: int | None,
        message: Msg | None = None,
    ) -> dict[str, Any]:
        iid, token = self.world.snowflake(), f"itoken-{self.world.snowflake()}"
        user_payload = self.world.users[user.id]
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.world.app_id),
            "type": itype,
            "token": token,
            "version": 1,
            "data": data,
            "locale": "en-GB",
            "app_permissions": str(self.app_permissions),
            "entitlements": [],
            "attachment_size_limit": 8 << 20,
        }
        if channel is None or channel in self.world.dm_channels.values():
            cid = channel or self._dm_channel(user.id)
            payload |= {
                "user": user_payload,
                "context": 1,
                "channel_id": str(cid),
                "channel": {"id": str(cid), "type": 1, "recipients": [user_payload]},
                "authorizing_integration_owners": {"1": str(user.id)},
            }
        else:
            member = self.world.members[user.id]
            guild = self.world.guild_of(channel)
            payload |= {
                "guild_id": str(guild),
                "channel_id": str(channel),
                "channel": self.world.channels[channel],
                "context": 0,
                "member": {**member, "permissions": str(self.world.permissions(user.id, guild))},
                "guild": {"id": str(guild), "locale": "en-GB", "features": []},
                "guild_locale": "en-GB",
                "authorizing_integration_owners": {"0": str(guild)},
            }
        if message is not None:
            payload["message"] = self._message_payload(message)
        self._interactions[token] = {
            "payload": payload,
            "user_id": user.id,
            "channel_id": int(payload["channel_id"]),
            "responded": None,
            "at": self.clock(),
            "original": None,
            "message": message,
        }
        return payload

    async def slash(
        self,
        user: FakeUser,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        channel: int | None = None,
        settle: bool = True,
    ) -> Turn:
        """``/command`` (``"group sub"`` for subcommands); ``channel=None`` means in a DM."""
        data = self._command_data(command, options or {}, channel, focused=None)
        return await self._turn(
            "INTERACTION_CREATE", self._interaction(user, 2, data, channel), settle
        )

    async def autocomplete(
        self,
        user: FakeUser,
        command: str,
        option: str,
        typed: str,
        options: dict[str, Any] | None = None,
        *,
        channel: int | None = None,
    ) -> list[dict[str, Any]]:
        """The user types ``typed`` into ``option``; returns the choices the bot offered."""
        data = self._command_data(command, options or {}, channel, focused=(option, typed))
        turn = await self._turn(
            "INTERACTION_CREATE", self._interaction(user, 4, data, channel), True
        )
        if turn.response is None or turn.response.type != 8:
            raise AssertionError(f"no autocomplete response: {turn.response}")
        return turn.response.choices

    def _command_data(
        self,
        command: str,
        options: dict[str, Any],
        channel: int | None,
        focused: tuple[str, str] | None,
    ) -> dict[str, Any]:
        tree: app_commands.CommandTree[Any] = self.bot.tree  # type: ignore[attr-defined]
        root, *subs = command.split()
        guild_id = self.world.guild_of(channel) if channel else self.world.guild_id
        guild = discord.Object(guild_id)
        cmd: Any = tree.get_command(root, guild=guild) if channel else None
        guild_scoped = cmd is not None
        cmd = cmd or tree.get_command(root)
        if cmd is None:
            raise LookupError(f"/{root} is not registered on the bot's command tree")
        chain = []
        for sub in subs:
            cmd = cmd.get_command(sub)
            if cmd is None:
                raise LookupError(f"/{command}: no subcommand {sub!r}")
            chain.append((2 if isinstance(cmd, app_commands.Group) else 1, sub))
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._options(cmd, options, resolved, focused)
        for kind, name in reversed(chain):
            opts = [{"type": kind, "name": name, "options": opts}]
        scope = guild_id if guild_scoped else None
        synced = self.world.commands.get(scope, {}).get(root)
        data = {
            "id": synced["id"] if synced else str(self.world.snowflake()),
            "name": root,
            "type": 1,
            "options": opts,
            "resolved": resolved,
        }
        if guild_scoped:
            data["guild_id"] = str(guild_id)
        return data

    def _options(
        self,
        cmd: Any,
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: tuple[str, str] | None,
    ) -> list[dict[str, Any]]:
        params = {p.display_name: p for p in cmd.parameters}
        unknown = set(given) - set(params) - ({focused[0]} if focused else set())
        if unknown:
            raise ValueError(f"/{cmd.qualified_name} has no option(s) {sorted(unknown)}")
        out = []
        for name, p in params.items():
            t = p.type.value
            if focused and name == focused[0]:
                out.append({"name": name, "type": t, "value": focused[1], "focused": True})
                continue
            if name not in given:
                if p.required and not focused:
                    raise ValueError(f"/{cmd.qualified_name}: Discord requires option {name!r}")
                continue
            value = given[name]
            if t in (6, 7, 8, 9):  # user, channel, role, mentionable: snowflake + resolved
                sid = int(getattr(value, "id", value))
                if sid in self.world.users:
                    resolved.setdefault("users", {})[str(sid)] = self.world.users[sid]
                    if sid in self.world.members:
                        m = {k: v for k, v in self.world.members[sid].items() if k != "user"}
                        resolved.setdefault("members", {})[str(sid)] = m
                elif sid in self.world.channels:
                    ch = self.world.channels[sid]
                    resolved.setdefault("channels", {})[str(sid)] = {**ch, "permissions": "0"}
                elif sid in self.world.roles:
                    resolved.setdefault("roles", {})[str(sid)] = self.world.roles[sid]
                value = str(sid)
            elif p.choices and value not in [c.value for c in p.choices]:
                raise ValueError(f"{value!r} is not a choice of {name!r}")
            out.append({"name": name, "type": t, "value": value})
        return out

    async def submit_modal(
        self,
        user: FakeUser,
        values: dict[str, Any],
        *,
        custom_id: str | None = None,
        settle: bool = True,
        opened: tuple[Reply, int] | None = None,
    ) -> Turn:
        """Fill in and submit the last modal the bot showed ``user`` (or the one with
        ``custom_id``). Values are keyed by field custom_id: str for text inputs, list for
        selects. The submit payload mirrors the modal's layout (action rows or Labels).
        ``opened`` is a modal an earlier bot process showed, and its channel: Discord keeps
        the form open across a restart and delivers its submit to the new process."""
        message: Msg | None = None
        if opened is not None:
            modal, channel = opened
        else:
            shown = [
                r
                for r in self.replies
                if r.type == 9 and r.user_id == user.id and custom_id in (None, r.body["custom_id"])
            ]
            if not shown:
                raise LookupError(f"no modal was shown to {user.name}")
            modal = shown[-1]
            origin = next(
                i
                for i in self._interactions.values()
                if int(i["payload"]["id"]) == modal.interaction_id
            )
            channel = origin["channel_id"] if "guild_id" in origin["payload"] else None
            message = origin["message"]
        unknown = set(values) - set(modal.custom_ids)
        if unknown:
            raise ValueError(f"modal has no field(s) {sorted(unknown)}; has {modal.custom_ids}")
        data = {
            "custom_id": modal.body["custom_id"],
            "components": [self._submitted(c, values) for c in modal.components],
        }
        payload = self._interaction(user, 5, data, channel, message)
        return await self._turn("INTERACTION_CREATE", payload, settle)

    def _submitted(self, c: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        if c["type"] == 1:
            return {"type": 1, "components": [self._submitted(x, values) for x in c["components"]]}
        if c["type"] == 18:
            return {
                "type": 18,
                "id": c.get("id", 0),
                "component": self._submitted(c["component"], values),
            }
        out = {"type": c["type"], "id": c.get("id", 0)}
        if c["type"] == 4:  # text input: enforce what Discord's client enforces
            value = str(values.get(c["custom_id"], c.get("value") or ""))
            if c.get("required", True) and not value:
                raise ValueError(f"field {c['custom_id']!r} is required")
            if not c.get("min_length", 0) <= len(value) <= c.get("max_length", 4000) and value:
                raise ValueError(f"field {c['custom_id']!r}: length {len(value)} out of range")
            out |= {"custom_id": c["custom_id"], "value": value}
        elif "custom_id" in c:  # selects inside a Label
            out |= {"custom_id": c["custom_id"], "values": list(values.get(c["custom_id"], []))}
        return out

    async def click(
        self,
        user: FakeUser,
        custom_id: str,
        *,
        message: Msg | int | None = None,
        values: list[str] | None = None,
        settle: bool = True,
    ) -> Turn:
        """Click a button (or pick ``values`` in a select) on ``message``; default: the newest
        non-deleted message carrying that custom_id."""
        msg = self._find_message(custom_id, message)
        comp = msg.component(custom_id)
        if comp.get("disabled"):
            raise ValueError(f"{custom_id!r} is disabled")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": comp["type"]}
        if comp["type"] != 2:
            data["values"] = list(values or [])
            offered = [o["value"] for o in comp.get("options", [])]
            if offered and not set(data["values"]) <= set(offered):
                raise ValueError(f"{custom_id!r} offers only {offered}")
        channel = None if msg.channel_id in self.world.dm_channels.values() else msg.channel_id
        payload = self._interaction(user, 3, data, channel, msg)
        return await self._turn("INTERACTION_CREATE", payload, settle)

    def _find_message(self, custom_id: str, message: Msg | int | None) -> Msg:
        if isinstance(message, Msg):
            return message
        if message is not None:
            return self.world.messages[message]
        for msg in reversed(self.world.messages.values()):
            if not msg.deleted and custom_id in msg.custom_ids:
                return msg
        raise LookupError(f"no message has a component {custom_id!r}")

    async def message(
        self, user: FakeUser, channel: int | None, content: str, settle: bool = True
    ) -> Turn:
        """The user posts ``content`` in ``channel`` (None: DM to the bot)."""
        cid = channel or self._dm_channel(user.id)
        return await self._user_message(user, cid, content, self.world.snowflake(), settle)

    async def forum_post(
        self,
        user: FakeUser,
        forum: int,
        title: str,
        content: str,
        tags: tuple[str, ...] | list[str] = (),
        settle: bool = True,
        starter_delay: float = 0.0,
    ) -> Turn:
        """A new forum post: THREAD_CREATE, then MESSAGE_CREATE of the starter message
        (same id as the thread), as the gateway sends them. Discord does not promise that
        order in time (https://discord.com/developers/docs/topics/threads#forums): with
        ``starter_delay`` the starter exists only that many seconds later; until then fetching
        it gives 404/10008 and posting in the thread 400/40058. While the bot is down the post
        only goes into the world (the bot sees it in GUILD_CREATE's threads at its next start).
        The Discord client enforces the forum's tag rules: a broken one raises ValueError."""
        channel = self.world.channels[forum]
        if not tags and int(channel.get("flags") or 0) & REQUIRE_TAG:
            raise ValueError(f"forum {channel['name']!r} requires a tag")
        if len(tags) > MAX_APPLIED_TAGS:
            raise ValueError(f"at most {MAX_APPLIED_TAGS} tags")
        marks = len(self.messages), len(self.requests)
        tid = self.world.snowflake()
        thread = self._thread(forum, user.id, title, [self.tag_id(forum, t) for t in tags], tid)
        if not self.started:
            self.world.messages[tid] = Msg(tid, tid, {"content": content}, "user", user.id)
            return Turn(None, [], [], [], [])
        if self.bot.intents.guilds:
            self._dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        if starter_delay:
            await asyncio.sleep(starter_delay)  # the bot's handlers run meanwhile
        await self._user_message(user, tid, content, tid, settle)
        messages = self.messages[marks[0] :]
        followups = [m for m in messages if m.via == "followup"]
        return Turn(None, [], followups, messages, self.requests[marks[1] :])

    async def _user_message(
        self, user: FakeUser, cid: int, content: str, mid: int, settle: bool
    ) -> Turn:
        in_dm = cid in self.world.dm_channels.values()
        intents = self.bot.intents
        mentioned = f"<@{self.world.app_id}>" in content or f"<@!{self.world.app_id}>" in content
        if not (intents.message_content or in_dm or mentioned):
            content = ""  # no privileged Message Content intent: Discord sends it empty
        body = {"content": content}
        msg = Msg(mid, cid, body, "user", user.id)
        self.world.messages[mid] = msg
        payload = self._message_payload(msg, author=self.world.users[user.id])
        if not in_dm:
            member = {k: v for k, v in self.world.members[user.id].items() if k != "user"}
            payload |= {"guild_id": str(self.world.guild_of(cid)), "member": member}
        if not (intents.dm_messages if in_dm else intents.guild_messages):
            return Turn(None, [], [], [], [])
        return await self._turn("MESSAGE_CREATE", payload, settle)
