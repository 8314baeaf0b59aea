"""Checking what people type: authority names compared as people read them, resource links,
and answers made inert inside the Markdown the exchange writes."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from knowledge.errors import InvalidInput
from knowledge.text import (
    authority_key,
    inert_lines,
    is_web_link,
    lookalike_letters,
    one_alphabet,
    resource_links,
)

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


# -- resource links -------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "https://www.gov.uk/government/publications/psn-code-of-connection",
        "http://intranet:8080/psn/coco.pdf",
        "https://en.wikipedia.org/wiki/Public_Services_Network_(UK)",
        "https://192.0.2.10/psn?page=2#top",
        "https://[2001:db8::1]/psn",
        "HTTPS://WWW.GOV.UK/PSN",
        "https://bücher.example/psn",
        "https://www.gov.uk/psn?q=a%20b&x=%3Cy%3E",
    ],
)
def test_well_formed_web_links_are_accepted(link: str) -> None:
    assert resource_links([link], max_links=5) == (link,)


@pytest.mark.parametrize(
    ("link", "refusal"),
    [
        ("javascript:alert(1)", "is not a web link. Resource links must start with https://"),
        ("ftp://files.example/coco.pdf", "is not a web link"),
        ("https:www.gov.uk", "is not a web link"),
        ("https://www.gov.uk/psn guide.pdf", "contains a space"),
        ("https://www.gov.uk/psn\tguide", "contains a space"),
        ("https://www.gov.uk/<script>", "contains '<'"),
        ("https://www.gov.uk/psn>", "contains '>'"),
        ('https://www.gov.uk/"onmouseover', "contains a double quote"),
        ("https://www.gov.uk/psn\\guide", "contains a backslash"),
        ("https://www.gov.uk/`psn`", "contains '`'"),
        ("https://www.gov.uk/psn\nguide", "contains a line break"),
        ("https://evil.example\\@good.gov.uk", "a name or password before the site's name"),
        ("https://user:pass@www.gov.uk/psn", "a name or password before the site's name"),
        ("https://www.gov.uk@evil.example/psn", "a name or password before the site's name"),
        ("https://", "has no site name we can read after https://"),
        ("https:///psn", "has no site name"),
        ("https://:443/psn", "has no site name"),
        ("https://www_.gov.uk/psn", "has no site name"),
        ("https://w\u043ew.gov.uk/psn", "letters from another alphabet"),
        ("https://www.gov.uk:https/psn", "has a port that is not a number"),
        ("https://www.gov.uk:99999/psn", "has a port that is not a number from 0 to 65535"),
    ],
)
def test_a_malformed_link_is_refused_saying_what_is_wrong(link: str, refusal: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        resource_links(["https://www.gov.uk/psn", link], max_links=5)

    message = str(refused.value)
    assert refusal in message
    assert message.endswith(".")
    assert "Please" in message or "must start with" in message


@pytest.mark.parametrize(
    "stored", ["https://www.gov.uk/psn\x07", "https://www.gov.uk/x><script>", "javascript:x"]
)
def test_a_stored_link_that_would_be_refused_now_is_not_a_web_link(stored: str) -> None:
    """What the exports and the bot check before showing a link stored by an older release."""
    assert not is_web_link(stored)


# -- answers inside Markdown ------------------------------------------------------------

# CommonMark with GitHub's tables and strike-through: the strictest renderer an export meets.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE_ANSWER = """# Not a heading
Title
===
Rule
---
<script>alert('answer')</script>
<img src=x onerror=alert(1)>
Read [gov.uk](javascript:alert(1)) or ![logo](https://evil.example/x.png) or <https://evil.example>
[guide]: https://evil.example
| a | b |
|---|---|
- not a list
+ nor this
1. nor this
2) nor this
> not a quote
```
not code
```
~~~
    not code either
**bold** _em_ ~~strike~~ `code` &lt;b&gt; \\*escaped\\*

A second paragraph, kept."""


def test_an_answer_renders_as_its_own_text_with_its_lines_and_paragraphs() -> None:
    rendered = MARKDOWN.render(inert_lines(HOSTILE_ANSWER))

    assert set(re.findall(r"<(/?[a-z0-9]+)", rendered)) == {"p", "/p", "br"}
    paragraphs = re.findall(r"<p>(.*?)</p>", rendered, re.DOTALL)
    assert len(paragraphs) == 2
    shown = [[html.unescape(line) for line in re.split(r"<br />\n", p)] for p in paragraphs]
    first, second = HOSTILE_ANSWER.split("\n\n")
    assert shown[0] == [" ".join(line.split()) for line in first.split("\n")]
    assert shown[1] == [second]
