"""Addresses: one typed value for where a person or a place is reached."""

import pytest

from knowledge.addresses import Address, Channel, reachable


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("discord:80351110224678912", Address.discord_user(80351110224678912)),
        ("discord:channel:42", Address.discord_channel(42)),
        ("console:alice", Address.console_user("Alice")),
        ("console:#questions", Address.console_place("questions")),
        ("import:jo@derby city council", Address.imported("Jo", "Derby City Council")),
        ("forgotten:7", Address.forgotten(7)),
    ],
)
def test_every_address_reads_back_as_it_was_written(text: str, address: Address) -> None:
    assert str(address) == text
    assert Address.parse(text) == address


def test_discord_ids_come_back_as_numbers_for_people_and_places() -> None:
    assert Address.parse("discord:123").discord_id == 123
    assert Address.parse("discord:channel:456").discord_id == 456
    assert Address.parse("discord:channel:456").place
    assert not Address.parse("discord:123").place
    assert Address.parse("console:alice").discord_id is None


@pytest.mark.parametrize("text", ["", "discord", "discord:", "carrier-pigeon:7", "alice"])
def test_text_that_is_not_an_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"address|channel"):
        Address.parse(text)


def test_imported_and_erased_officers_cannot_be_reached() -> None:
    assert not reachable(str(Address.imported("Jo", "Derby")))
    assert not reachable(str(Address.forgotten(3)))
    assert reachable(str(Address.discord_user(1)))
    assert reachable(str(Address.console_place("questions")))
    assert Channel.CONSOLE.prefix == "console:"
