"""The site's pages, rendered from the published view (knowledge/usecases/site.py) with
Jinja2 templates. One renderer serves both the live server (knowledge/web/app.py) and the
static build (knowledge/web/build.py), so the two show the same site."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from knowledge.config import Settings
from knowledge.errors import InvalidInput
from knowledge.text import is_web_link
from knowledge.usecases.site import Figures, SiteUseCases
from knowledge.web import charts

SEARCH_HELP = "Search by words, acronyms or long forms: “CoCo” finds “Code of Connection”."


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page: where it lives and what it says."""

    path: str  # e.g. "/q/Q-12"
    body: str
    media_type: str = "text/html; charset=utf-8"
    status: int = 200


class Pages:
    """Every page of the site, each a method returning a `Page`."""

    def __init__(self, site: SiteUseCases, settings: Settings, *, static: bool = False) -> None:
        self.site = site
        self.settings = settings
        self.static = static  # the static build: no live search
        self.zone = settings.schedule.zone
        base = settings.web.base_url
        self.base_url = base
        self.root = urlsplit(base).path.rstrip("/") if base else ""
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("knowledge.web", "templates"),
            autoescape=jinja2.select_autoescape(("html", "xml", "atom")),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["when"] = self._when
        env.filters["day"] = self.day
        env.filters["paragraphs"] = _paragraphs
        env.filters["link"] = _link
        env.filters["plural"] = _plural
        env.filters["iso"] = lambda moment: moment.isoformat()
        env.globals["href"] = self.href
        env.globals["site_title"] = settings.web.title
        env.globals["static"] = static
        env.globals["search_help"] = SEARCH_HELP
        self.env = env

    # -- helpers for templates ----------------------------------------------------------

    def href(self, path: str) -> str:
        """A link within the site (under the base URL's path, when it has one)."""
        return self.root + path

    def absolute(self, path: str) -> str:
        """A full address, for the feed (needs base_url; otherwise the site-relative path)."""
        return (self.base_url + path) if self.base_url else self.href(path)

    def _when(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{local.day} {local:%B %Y}, {local:%H:%M}"

    def day(self, moment: datetime) -> str:
        local = moment.astimezone(self.zone)
        return f"{local.day} {local:%B %Y}"

    def _render(self, path: str, template: str, status: int = 200, **context: Any) -> Page:
        body = self.env.get_template(template).render(path=path, **context)
        media = "application/atom+xml; charset=utf-8" if template.endswith(".atom") else None
        return Page(path, body, media or "text/html; charset=utf-8", status)

    # -- pages ---------------------------------------------------------------------------

    def home(self) -> Page:
        return self._render("/", "home.html", home=self.site.home())

    def question(self, ref: str) -> Page:
        view = self.site.question(ref)
        return self._render(f"/q/{view.question.ref}", "question.html", view=view)

    def search(self, query: str | None) -> Page:
        if query is None or self.static:
            return self._render("/search", "search.html", query="", found=None, problem=None)
        try:
            found = self.site.search(query)
        except InvalidInput as why:
            return self._render(
                "/search", "search.html", query=query[:200], found=None, problem=str(why)
            )
        return self._render("/search", "search.html", query=found.query, found=found, problem=None)

    def topics(self) -> Page:
        return self._render("/topics", "topics.html", topics=self.site.home().topics)

    def topic(self, name: str, page: int = 1) -> Page:
        paged = self.site.topic(name, page)
        path = f"/topics/{name}" + (f"/page-{page}" if page > 1 else "")
        return self._render(
            path, "list.html", paged=paged, heading=f"Questions on {name}", base=f"/topics/{name}"
        )

    def waiting(self, page: int = 1) -> Page:
        paged = self.site.waiting(page)
        path = "/waiting" + (f"/page-{page}" if page > 1 else "")
        return self._render(
            path,
            "list.html",
            paged=paged,
            heading="Questions waiting for an answer",
            base="/waiting",
        )

    def releases(self, page: int = 1) -> Page:
        found, page, pages = self.site.releases(page)
        path = "/releases" + (f"/page-{page}" if page > 1 else "")
        return self._render(path, "releases.html", releases=found, page=page, pages=pages)

    def release(self, number: int) -> Page:
        summary, entries = self.site.release(number)
        return self._render(f"/releases/{number}", "release.html", release=summary, entries=entries)

    def notes(self) -> Page:
        return self._render("/notes", "notes.html", notes=self.site.notes())

    def feed(self) -> Page:
        releases = self.site.recent_releases()
        updated = releases[0][0].published_at if releases else None
        return self._render(
            "/releases.atom",
            "feed.atom",
            releases=releases,
            updated=updated,
            absolute=self.absolute,
        )

    def figures(self) -> Page:
        figures = self.site.figures()
        return self._render("/figures", "figures.html", f=figures, chart=_charts(figures, self))

    def not_found(self, path: str, message: str) -> Page:
        return self._render(path, "not_found.html", status=404, message=message)


def _charts(f: Figures, pages: Pages) -> dict[str, Markup]:
    """The figures page's charts, as trusted SVG markup (every text in it escaped)."""
    weeks = [
        pages.day(datetime.combine(w, datetime.min.time(), pages.zone)) for w, _, _ in f.weeks
    ]
    short = [f"{w.day} {w:%b}" for w, _, _ in f.weeks]  # "7 Dec"
    return {
        "weekly": Markup(
            charts.columns(
                "weekly",
                "Asks and published answers per week",
                f"Weeks starting {weeks[0]} to {weeks[-1]}; the table below gives the figures.",
                short,
                [
                    ("Asks", [float(a) for _, a, _ in f.weeks]),
                    ("Answers published", [float(p) for _, _, p in f.weeks]),
                ],
            )
        ),
        "ages": Markup(
            charts.bars(
                "ages",
                "Questions waiting, by how long they have waited",
                "Number of questions waiting in each age band.",
                [(label, float(n)) for label, n in f.age_bands],
            )
        ),
        "authorities": Markup(
            charts.bars(
                "authorities",
                "Questions each authority waits on",
                "Questions each authority is waiting on now; the table adds asks and answers.",
                [(a.name, float(a.waiting)) for a in f.authorities],
            )
        ),
        "topics": Markup(
            charts.bars(
                "topics",
                "Questions waiting, by topic",
                "Questions waiting on each topic now; the table adds the asks in the period.",
                [(t.topic, float(t.waiting)) for t in f.topics],
            )
        ),
        "turnaround": Markup(
            charts.bars(
                "turnaround",
                "Days from first ask to published answer",
                "Median and 90th percentile, in days, for answers published in the period.",
                [
                    (label, round(value, 1))
                    for label, value in (
                        ("median", f.median_days_to_answer),
                        ("90th percentile", f.p90_days_to_answer),
                    )
                    if value is not None
                ],
                unit=" days",
            )
        ),
    }


def _paragraphs(body: str) -> Markup:
    """Text typed by people as paragraphs and line breaks, everything escaped."""
    return Markup(
        "\n".join(
            "<p>" + "<br>\n".join(html.escape(line) for line in paragraph.split("\n")) + "</p>"
            for paragraph in body.split("\n\n")
            if paragraph.strip()
        )
    )


def _link(address: str) -> Markup:
    """A resource link showing its own address; anything but plain http(s) stays text."""
    shown = html.escape(address)
    if not is_web_link(address):
        return Markup(shown)
    return Markup(f'<a href="{shown}" rel="noopener noreferrer">{shown}</a>')


def _plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
