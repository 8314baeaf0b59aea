"""The site written out as static files, for hosting anywhere.

Pages keep the live site's addresses: `/q/Q-12` is written as `q/Q-12.html`, which GitHub
Pages serves as is, and nginx with `try_files $uri $uri.html $uri/ =404`. Search needs the
live site: the static search page points to the topics and releases instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from knowledge.web.app import STATIC
from knowledge.web.pages import Page, Pages


def _file_for(path: str) -> str:
    if path == "/":
        return "index.html"
    if path.endswith(".atom"):
        return path.lstrip("/")
    return path.lstrip("/") + ".html"


def _paged(first: Page, more: Callable[[int], Page], pages: int) -> Iterator[Page]:
    yield first
    for n in range(2, pages + 1):
        yield more(n)


def _all_pages(pages: Pages) -> Iterator[Page]:
    site = pages.site
    yield pages.home()
    yield pages.search(None)
    yield pages.topics()
    for topic in site.home().topics:
        name = topic.topic
        for n in range(1, site.topic(name).pages + 1):
            yield pages.topic(name, n)
    waiting = site.waiting()
    yield from _paged(pages.waiting(), pages.waiting, waiting.pages)
    releases, _, release_pages = site.releases()
    yield from _paged(pages.releases(), pages.releases, release_pages)
    number = releases[0].number if releases else 0
    for n in range(1, number + 1):
        yield pages.release(n)
    yield pages.feed()
    yield pages.notes()
    yield pages.figures()
    for question in site.all_questions():
        yield pages.question(question.ref)


def build(pages: Pages, out: Path, progress: Callable[[int], None] | None = None) -> int:
    """Write every page of the site under `out` (made if needed); how many files."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for page in _all_pages(pages):
        target = out / _file_for(page.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page.body, encoding="utf-8")
        written += 1
        if progress is not None and written % 500 == 0:
            progress(written)
    missing = pages.not_found("/404", "There is nothing at this address.")
    (out / "404.html").write_text(missing.body, encoding="utf-8")
    shutil.copytree(STATIC, out / "static", dirs_exist_ok=True)
    return written + 1 + sum(1 for _ in STATIC.iterdir())
