"""The published knowledge base as Markdown and HTML: what people typed stays text, and the
only active links are the answers' checked resource links, each showing its own target."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from markdown_it import MarkdownIt

from knowledge.export import to_html, to_markdown
from knowledge.models import Answer, PublishedEntry, Question, Status

# CommonMark with GitHub's tables and strike-through, raw HTML allowed as CommonMark allows it.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
WHEN = datetime(2010, 5, 11, 9, 0, tzinfo=UTC)

GOOD = "https://www.gov.uk/government/publications/psn-code-of-connection"
# Links an older release stored, before links were checked as strictly as now.
STALE = ("https://www.gov.uk/x><script>alert(1)</script>", "javascript:alert(1)")

BODY = (
    "## Not a heading\n"
    "<script>alert('answer')</script>\n"
    "See [the guide](javascript:alert(1)) and <https://evil.example>.\n"
    "| a | b |\n|---|---|\n"
    "1. first step\n"
    "\n"
    "A second paragraph."
)


def entry(body: str = BODY, links: tuple[str, ...] = (GOOD, *STALE)) -> PublishedEntry:
    question = Question(
        1, "Is <b>this</b> [safe](javascript:x)?", "technical", Status.ANSWERED, WHEN, WHEN, 1, 1
    )
    answer = Answer(7, 1, 1, body, links, WHEN, 1)
    return PublishedEntry(question, answer, ("Ynys Môn",), ())


def tags(rendered: str) -> set[str]:
    return set(re.findall(r"<([a-z0-9]+)", rendered))


def hrefs(rendered: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', rendered)


def test_markdown_export_shows_the_answer_as_text_with_its_paragraphs() -> None:
    rendered = MARKDOWN.render(to_markdown([entry()]))

    assert "<script" not in rendered
    assert tags(rendered) <= {"h1", "h2", "p", "br", "strong", "em", "ul", "li", "a"}
    assert len(re.findall("<h[1-6]>", rendered)) == 2  # the title and the one entry
    assert "## Not a heading<br />" in rendered
    assert "&lt;script&gt;alert('answer')&lt;/script&gt;" in rendered
    assert "<p>A second paragraph.</p>" in rendered


def test_markdown_export_links_only_to_checked_links_showing_their_target() -> None:
    rendered = MARKDOWN.render(to_markdown([entry()]))

    assert hrefs(rendered) == [GOOD]
    assert f'<a href="{GOOD}">{GOOD}</a>' in rendered
    assert "javascript:alert(1)</li>" in rendered  # shown, not linked


def test_html_export_escapes_everything_and_links_only_to_web_links() -> None:
    page = to_html([entry()])

    assert "<script" not in page
    assert hrefs(page) == [GOOD]
    assert "<li>javascript:alert(1)</li>" in page
    assert "&lt;script&gt;alert(&#x27;answer&#x27;)&lt;/script&gt;<br>" in page
    assert "<p>A second paragraph.</p>" in page
