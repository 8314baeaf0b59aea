"""Where a person or a place is reached, as one small typed value.

The store keeps an address as text (`discord:80351110224678912`, `discord:channel:42`,
`console:alice`, `console:#questions`, `import:jo@derby city council`, `forgotten:7`);
this module is the one place that writes and reads that text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    DISCORD = "discord"
    CONSOLE = "console"
    EMAIL = "email"
    IMPORT = "import"  # an officer named in an imported file: no channel reaches them
    FORGOTTEN = "forgotten"  # an officer who erased their data: no identity is left

    @property
    def prefix(self) -> str:
        """What every stored address on this channel starts with (to select them)."""
        return f"{self.value}:"

    @property
    def places_prefix(self) -> str:
        """What every stored place (thread, channel) on this channel starts with."""
        return f"{self.value}:{_PLACE_MARK[self]}"


# How each channel marks a place (a thread, a channel) rather than a person.
_PLACE_MARK = {Channel.DISCORD: "channel:", Channel.CONSOLE: "#"}
_UNREACHABLE = frozenset({Channel.IMPORT, Channel.FORGOTTEN})


@dataclass(frozen=True, slots=True)
class Address:
    """A person or a place on one channel: `Address.parse(text)`, and `str()` back."""

    channel: Channel
    id: str
    place: bool = False

    @classmethod
    def parse(cls, text: str) -> Address:
        """The address written as `text`; ValueError if it is not one."""
        scheme, sep, rest = text.partition(":")
        if not sep or not rest:
            raise ValueError(f"{text!r} is not an address (expected channel:id)")
        try:
            channel = Channel(scheme)
        except ValueError:
            raise ValueError(f"{text!r} names no known channel") from None
        mark = _PLACE_MARK.get(channel)
        if mark and rest.startswith(mark) and len(rest) > len(mark):
            return cls(channel, rest.removeprefix(mark), place=True)
        return cls(channel, rest)

    def __str__(self) -> str:
        mark = _PLACE_MARK[self.channel] if self.place else ""
        return f"{self.channel.value}:{mark}{self.id}"

    @property
    def reachable(self) -> bool:
        """Whether any message can be sent here (imported and erased officers have none)."""
        return self.channel not in _UNREACHABLE

    @property
    def discord_id(self) -> int | None:
        """The Discord user or channel id, if this is a Discord address."""
        if self.channel is Channel.DISCORD and self.id.isdigit():
            return int(self.id)
        return None

    # -- the addresses the exchange makes ---------------------------------------------

    @classmethod
    def discord_user(cls, user_id: int) -> Address:
        return cls(Channel.DISCORD, str(user_id))

    @classmethod
    def discord_channel(cls, channel_id: int) -> Address:
        """A Discord channel, thread or forum post."""
        return cls(Channel.DISCORD, str(channel_id), place=True)

    @classmethod
    def console_user(cls, name: str) -> Address:
        return cls(Channel.CONSOLE, name.lower())

    @classmethod
    def console_place(cls, name: str) -> Address:
        return cls(Channel.CONSOLE, name, place=True)

    @classmethod
    def email_user(cls, address: str) -> Address:
        """An officer who writes from the e-mail address `address`."""
        return cls(Channel.EMAIL, address.strip().lower())

    @classmethod
    def imported(cls, officer: str, authority: str) -> Address:
        """An officer named in an imported file (one per name and authority)."""
        return cls(Channel.IMPORT, f"{officer.lower()}@{authority.lower()}")

    @classmethod
    def forgotten(cls, officer_id: int) -> Address:
        return cls(Channel.FORGOTTEN, str(officer_id))


def reachable(text: str) -> bool:
    """Whether messages can be owed to a stored address: not to imported or erased officers
    (a front end's own channel, e.g. a test's, counts as reachable)."""
    return not any(text.startswith(channel.prefix) for channel in _UNREACHABLE)
