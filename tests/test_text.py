"""Checking what people type: authority names compared as people read them."""

from __future__ import annotations

import pytest

from knowledge.errors import InvalidInput
from knowledge.text import authority_key, lookalike_letters, one_alphabet

CYRILLIC_E = "\u0435"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Ynys Môn", "YNYS MÔN"),  # non-ASCII case
        ("Ynys Môn", "Ynys Mo\u0302n"),  # a combining circumflex
        ("Derby City Council", f"D{CYRILLIC_E}rby City Council"),  # a Cyrillic look-alike
        ("DERBY CITY COUNCIL", "DERBY \u0421\u0406\u0422\u0423 COUNCIL"),  # a Cyrillic word
        ("Kent County Council", "\u039a\u0395\u039d\u03a4 County Council"),  # Greek capitals
        ("Rutland County Council", "Ｒｕｔｌａｎｄ  County\u00a0Council"),  # full width, spaces
        ("King's Lynn", "King\u2019s Lynn"),  # a typographic apostrophe
        ("Stoke-on-Trent", "Stoke\u2013on\u2013Trent"),  # en dashes
        ("Wei\u00dfe Strasse", "WEISSE STRASSE"),  # casefold, not lower()
    ],
)
def test_spellings_people_read_as_one_name_have_one_key(one: str, other: str) -> None:
    assert authority_key(one) == authority_key(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Ynys Môn", "Ynys Mon"),  # a circumflex is part of the name
        ("Derby City Council", "Derbyshire County Council"),
        ("Council 1", "Council l"),  # Latin look-alikes are left to people
    ],
)
def test_different_names_keep_different_keys(one: str, other: str) -> None:
    assert authority_key(one) != authority_key(other)


def test_a_latin_name_hiding_cyrillic_letters_is_refused_naming_them() -> None:
    name = f"D{CYRILLIC_E}rby City Council"

    assert lookalike_letters(name) == CYRILLIC_E
    with pytest.raises(InvalidInput) as refused:
        one_alphabet(name)

    message = str(refused.value)
    assert "'е' (Cyrillic small letter ie)" in message
    assert "type the name again with ordinary letters" in message


@pytest.mark.parametrize("name", ["Ynys Môn", "Derby City Council", "Москва", "Αθήνα"])
def test_a_name_in_one_alphabet_is_accepted(name: str) -> None:
    assert one_alphabet(name) == name
