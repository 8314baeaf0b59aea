"""The read-only web site (issue 16): what it shows, what it never shows, and its rejections.
These run the whole ASGI app (routing, templates, headers) on a real SQLite file opened
read-only, as `psn-exchange web` does; tests/test_web_browser.py drives it in Chromium."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from knowledge.config import Settings, WebSettings
from knowledge.exchange import Exchange
from knowledge.models import Actor
from knowledge.usecases.imports import ImportedRow
from knowledge.web.app import create_app
from knowledge.web.build import build
from knowledge.web.pages import Pages
from tests.conftest import Clock
from tests.stories import new

COCO = "Will achieving Code of Connection compliance be cheaper for PSN than it was for GSi?"
QOS = "How is quality of service handled in the PSN?"
BROADBAND = "What procurement framework should a county council use to buy PSN broadband?"
N3 = "Can health bodies on N3 share a network with the council under PSN governance rules?"
GATEWAY = "Who pays for the gateway between an existing regional network and the PSN?"
ANSWER_1 = "Yes: existing CoCo evidence is carried forward, so only the changes are assessed."
ANSWER_2 = "Version two: the assessors reuse your last submission and ask only about changes."

# What must never reach a page.
SECRETS = {
    "draft": "DRAFTSECRET the expert has not released this",
    "draft_only": "DRAFTONLY an answer never published",
    "sensitive": "SENSITIVEBODY the gateway firewall rules",
    "withdrawn": N3,
    "reply": "PEERREPLY our council paid for half the gateway",
    "hidden_reply": "HIDDENREPLY a reply the expert withdrew",
    "note": "UNENDORSEDNOTE a note nobody vouched for yet",
    "hidden_note": "HIDDENNOTE an endorsed note later hidden",
    "importing": "IMPORTINGROW a question whose import has not completed",
}
NAMES = ("Alice", "Bob", "Carol", "Geoff", "Ivy", "test:alice", "test:bob", "test:geoff")


@dataclass
class World:
    settings: Settings
    exchange: Exchange
    clock: Clock
    refs: dict[str, str]


def _settings(settings: Settings, **web: object) -> Settings:
    return settings.model_copy(update={"web": settings.web.model_copy(update=web)})


@pytest.fixture
def world(
    exchange: Exchange,
    settings: Settings,
    clock: Clock,
    alice: Actor,
    bob: Actor,
    carol: Actor,
    expert: Actor,
) -> World:
    """A database full of what the site may show and what it must not."""
    refs: dict[str, str] = {}
    coco = new(exchange.ask(alice, COCO)).question
    exchange.follow(bob, coco.ref)
    exchange.answer(expert, coco.ref, ANSWER_1, ["https://www.gov.uk/guidance/psn-coco"])
    qos = new(exchange.ask(bob, QOS)).question
    exchange.answer(expert, qos.ref, SECRETS["sensitive"])
    exchange.mark_sensitive(expert, qos.ref)
    exchange.publish(expert)
    clock.advance(days=7)
    exchange.answer(expert, coco.ref, ANSWER_2)
    exchange.publish(expert)
    clock.advance(days=1)
    exchange.answer(expert, coco.ref, SECRETS["draft"])  # version 3, a draft
    broadband = new(exchange.ask(carol, BROADBAND)).question
    exchange.answer(expert, broadband.ref, SECRETS["draft_only"])
    n3 = new(exchange.ask(alice, N3)).question
    exchange.withdraw(alice, n3.ref)
    gateway = new(exchange.ask(carol, GATEWAY)).question
    exchange.reply(bob, gateway.ref, SECRETS["reply"])
    hidden = exchange.reply(alice, gateway.ref, SECRETS["hidden_reply"])
    exchange.hide_reply(expert, hidden.ref, "Off topic.")
    shared = exchange.share_note(
        bob, "Our PSN consortium contract", "We bought together as a region.", [], "procurement"
    )
    exchange.endorse_note(expert, shared.ref)
    exchange.share_note(alice, "Not yet endorsed", SECRETS["note"])
    gone = exchange.share_note(carol, "Endorsed then hidden", SECRETS["hidden_note"])
    exchange.endorse_note(expert, gone.ref)
    exchange.hide_note(expert, gone.ref, "Repeats another note.")
    session = exchange.begin_import(expert)  # an import still running: its rows are hidden
    row = ImportedRow(1, SECRETS["importing"], "Rutland County Council", "Ivy", None, clock())
    exchange.import_rows(expert, session, [row])
    exchange.uow.own_import = None  # this process reads as everyone else does
    refs.update(coco=coco.ref, qos=qos.ref, broadband=broadband.ref, n3=n3.ref)
    refs.update(gateway=gateway.ref, note=shared.ref)
    return World(settings, exchange, clock, refs)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    yield from _client(world.settings, world.clock)


def _client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, lambda: Exchange.open(settings, clock, read_only=True))
    with TestClient(app) as client:
        yield client


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action") and value:
                self.links.append(value)


def crawl(client: TestClient, start: str = "/") -> dict[str, str]:
    """Every page reachable from `start` by the site's own links (and the feed)."""
    seen: dict[str, str] = {}
    todo = [start, "/releases.atom"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        response = client.get(path)
        assert response.status_code == 200, path
        seen[path] = response.text
        if "html" not in response.headers["content-type"]:
            continue
        parser = _Links()
        parser.feed(response.text)
        for link in parser.links:
            parts = urlsplit(link)
            if not parts.netloc and parts.path.startswith("/") and parts.path not in seen:
                todo.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def test_every_page_keeps_drafts_names_and_hidden_things_out(
    client: TestClient, world: World
) -> None:
    pages = crawl(client)
    # Searched for by their words (the marker word would only be echoed back).
    searches = [
        client.get("/search", params={"q": " ".join(secret.split()[1:])}).text
        for secret in SECRETS.values()
    ]
    everything = "\n".join([*pages.values(), *searches])

    assert len(pages) >= 15  # home, search, topics (4), waiting, releases (2), feed, …
    assert f"/q/{world.refs['coco']}" in pages
    for what, secret in SECRETS.items():
        assert secret.split()[0] not in everything, what
    for name in NAMES:
        assert not re.search(rf"\b{re.escape(name)}\b", everything), name
    # The sensitive answer shows only as the pointer to the secure route.
    qos = pages[f"/q/{world.refs['qos']}"]
    assert world.settings.marking.sensitive_answer.split(".")[0] in qos
    # The withdrawn question has no page.
    assert client.get(f"/q/{world.refs['n3']}").status_code == 404


def test_authorities_appear_only_where_configured(world: World) -> None:
    quiet = world.settings.exchange.model_copy(
        update={
            "name_authorities_in_answers": False,
            "name_authorities_in_digests": False,
            "name_authorities_in_replies": False,  # shared notes follow this one
        }
    )
    settings = world.settings.model_copy(update={"exchange": quiet})
    for client in _client(settings, world.clock):
        everything = "\n".join(crawl(client).values())
    for name in ("Derbyshire", "Nottingham", "Leicestershire"):
        assert name not in everything
    assert "Authorities are not named in these figures" in everything

    for client in _client(world.settings, world.clock):
        page = client.get(f"/q/{world.refs['coco']}").text
    assert "Asked by Derbyshire County Council, Nottingham City Council." in page


def test_a_question_page_has_its_answer_history_release_and_related_questions(
    client: TestClient, world: World
) -> None:
    page = client.get(f"/q/{world.refs['coco']}").text

    assert f"<title>{world.refs['coco']}: Will achieving Code of Connection" in page
    assert '<meta name="description" content="The PSN expert\'s answer to:' in page
    assert "release 2, version 2" in page
    assert ANSWER_2.split(":")[1].strip() in page  # the current answer
    assert "Version 1, release 1" in page
    assert "Version 2, release 2" in page
    assert ANSWER_1.split(":")[1].split(",")[0].strip() in page
    assert '<a href="https://www.gov.uk/guidance/psn-coco" rel="noopener noreferrer">' in page
    assert "A new version of this answer is on its way" not in page  # the draft is unseen
    assert "18 May 2010" in page  # dates in Europe/London
    waiting = client.get(f"/q/{world.refs['gateway']}").text
    assert "This question is waiting for the PSN expert" in waiting
    assert "1 authority is waiting on it" in waiting


def test_related_questions_are_linked(client: TestClient, world: World, carol: Actor) -> None:
    outcome = world.exchange.ask(carol, "Will CoCo compliance be cheaper under PSN than GSi?")
    related = getattr(outcome, "question", None) or world.exchange.ask_anyway(carol).question
    page = client.get(f"/q/{world.refs['coco']}").text
    assert "Related questions" in page
    assert f'href="/q/{related.ref}"' in page


def test_search_finds_acronyms_by_long_form_and_long_forms_by_acronym(
    client: TestClient, world: World
) -> None:
    for query in ("coco", "CoCo", "code of connection"):
        page = client.get("/search", params={"q": query}).text
        assert f'href="/q/{world.refs["coco"]}"' in page, query
    page = client.get("/search", params={"q": "consortium contract"}).text
    assert "Our PSN consortium contract" in page  # an endorsed note


@pytest.mark.parametrize(
    "query",
    ['"', "AND", "(", "*", "NEAR(a b", "a OR", "^x", '"unterminated', "x" * 10_000, "\x00", "🙂"],
)
def test_no_search_text_reaches_the_user_as_an_error(client: TestClient, query: str) -> None:
    response = client.get("/search", params={"q": query})

    assert response.status_code == 200
    assert "fts5" not in response.text.lower()
    assert "Traceback" not in response.text


def test_an_empty_search_is_answered_kindly(client: TestClient) -> None:
    for query in ("", "   ", "\u200b"):
        page = client.get("/search", params={"q": query}).text
        assert 'role="alert"' in page, query
        assert "Type a word or two" in page or "word or two" in page


def test_addresses_lead_to_one_permalink_and_unknown_ones_are_kind_404s(
    client: TestClient, world: World, alice: Actor, expert: Actor
) -> None:
    coco = world.refs["coco"]
    number = coco.removeprefix("Q-")
    for alias in (number, f"q{number}", f"q-{number}"):
        response = client.get(f"/q/{alias}", follow_redirects=False)
        assert response.status_code == 301
        assert response.headers["location"] == f"/q/{coco}"
    merged = new(world.exchange.ask(alice, "Which gateway suppliers are on the PSN list?"))
    world.exchange.merge(expert, merged.question.ref, world.refs["gateway"])
    response = client.get(f"/q/{merged.question.ref}", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == f"/q/{world.refs['gateway']}"
    for bad in ("/q/Q-999", "/q/nonsense", "/nowhere", "/releases/99", "/topics/cats"):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "Page not found" in response.text
        assert "Traceback" not in response.text
    for bad in ("/waiting/page-0", "/waiting/page-99", "/releases/page-5"):
        assert client.get(bad).status_code == 404, bad


def test_the_site_only_reads(client: TestClient, world: World) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.request(method, "/")
        assert response.status_code == 405, method
    response = client.get("/")
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_waiting_topics_and_releases_list_what_they_should(
    client: TestClient, world: World
) -> None:
    waiting = client.get("/waiting").text
    assert GATEWAY.split("?")[0] in waiting
    assert BROADBAND.split("?")[0] in waiting
    assert COCO.split("?")[0] not in waiting
    topics = client.get("/topics").text
    assert 'href="/topics/other"' in topics
    releases = client.get("/releases").text
    assert 'href="/releases/1"' in releases
    assert 'href="/releases/2"' in releases
    second = client.get("/releases/2").text
    assert ANSWER_2.split(":")[1].strip() in second


def test_the_feed_is_atom_with_one_entry_per_release(world: World) -> None:
    settings = _settings(world.settings, base_url="https://psn.example.gov.uk/exchange")
    for client in _client(settings, world.clock):
        response = client.get("/releases.atom")
        page = client.get("/").text
    assert response.headers["content-type"].startswith("application/atom+xml")
    atom = "{http://www.w3.org/2005/Atom}"
    root = ET.fromstring(response.text)
    entries = root.findall(f"{atom}entry")
    assert [e.findtext(f"{atom}title") for e in entries] == [
        "Release 2: 1 answer",
        "Release 1: 2 answers",
    ]
    link = entries[0].find(f"{atom}link")
    assert link is not None
    assert link.get("href") == "https://psn.example.gov.uk/exchange/releases/2"
    assert 'href="/exchange/q/' in page  # links carry the base URL's path
    assert 'href="/exchange/static/site.css"' in page


def test_the_figures_page_draws_charts_with_tables_beside_them(
    client: TestClient, world: World
) -> None:
    page = client.get("/figures").text
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 5
    assert '<title id="weekly-title">Asks and published answers per week</title>' in page
    assert page.count("<table>") == 5
    assert "Derbyshire County Council" in page  # named in digests by default
    assert "<script" not in page


def test_the_static_build_writes_the_same_pages(world: World, tmp_path: Path) -> None:
    out = tmp_path / "site"
    exchange = Exchange.open(world.settings, world.clock, read_only=True)
    try:
        count = build(Pages(exchange.site, world.settings, static=True), out)
    finally:
        exchange.close()
    for client in _client(world.settings, world.clock):
        live = client.get(f"/q/{world.refs['coco']}").text
    assert (out / "q" / f"{world.refs['coco']}.html").read_text(encoding="utf-8") == live
    assert (out / "index.html").exists()
    assert (out / "releases.atom").exists()
    assert (out / "releases" / "2.html").exists()
    assert (out / "static" / "site.css").exists()
    assert "Search needs the live site" in (out / "search.html").read_text(encoding="utf-8")
    assert count == sum(1 for p in out.rglob("*") if p.is_file())
    everything = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    for secret in SECRETS.values():
        assert secret.split()[0] not in everything


def test_the_cli_builds_the_site_and_refuses_bad_options(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from knowledge.cli import main
    from tests.conftest import REPO

    db = str(world.settings.database.path)
    common = ["--db", db, "--config", str(REPO / "config.toml")]
    assert main(["web", "--build", str(tmp_path / "out"), *common]) == 0
    assert "files to" in capsys.readouterr().out
    assert (tmp_path / "out" / "index.html").exists()
    for bad in (["--port", "0"], ["--port", "http"], ["--port", "70000"]):
        with pytest.raises(SystemExit) as exit_:
            main(["web", *bad, *common])
        assert exit_.value.code == 2
        assert "port" in capsys.readouterr().err
    assert main(["web", "--db", str(tmp_path / "none.db"), "--build", str(tmp_path / "x")]) != 0
    assert "There is no database" in capsys.readouterr().err
    assert main(["web", "--build", str(tmp_path / "out"), *common]) == 0  # an earlier build
    capsys.readouterr()
    other = tmp_path / "documents"
    other.mkdir()
    (other / "budget.xlsx").write_text("keep me", encoding="utf-8")
    refusals = {
        str(other): "already holds other files",
        str(other / "budget.xlsx"): "is a file",
    }
    for folder, why in refusals.items():
        assert main(["web", "--build", folder, *common]) != 0
        assert why in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["web", "--build", " ", *common])
    assert exit_.value.code == 2
    assert "needs a folder" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["budget.xlsx"]  # nothing written


def test_the_cli_brings_an_older_database_up_to_date_before_serving_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from knowledge.cli import main
    from knowledge.migrations import MIGRATIONS
    from knowledge.store import Store
    from tests.conftest import REPO

    db = tmp_path / "old.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:  # as an earlier version left it
        conn.execute("DROP INDEX idx_questions_topic_status")
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    common = ["--db", str(db), "--config", str(REPO / "config.toml")]
    assert main(["web", "--build", str(tmp_path / "site"), *common]) == 0
    store = Store.open(db, read_only=True)
    try:
        assert store.schema_version == len(MIGRATIONS)
    finally:
        store.close()


@pytest.mark.parametrize(
    "base_url",
    ["javascript:alert(1)", "ftp://example.org", "https://a.b/x?y=1", 'https://a.b/"><script>'],
)
def test_a_base_url_must_be_a_plain_web_address(base_url: str) -> None:
    with pytest.raises(ValidationError, match="plain http"):
        WebSettings(base_url=base_url)
    assert WebSettings(base_url="https://psn.example.gov.uk/x/").base_url == (
        "https://psn.example.gov.uk/x"
    )


def test_deliveries_exports_and_digests_link_to_the_site_once_it_has_an_address(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses
    import io
    import json

    from bot.render import delivery_embed
    from knowledge import mail
    from knowledge.cli import main
    from knowledge.console import Console
    from tests.conftest import REPO, STEERING

    site = "https://psn.example.gov.uk"
    exchange = world.exchange
    exchange.settings = _settings(world.settings, base_url=site)
    coco = world.refs["coco"]
    owed = [d for d in exchange.owed_deliveries("test:") if d.kind == "answer"]
    assert owed
    for delivery in owed:  # the Discord adapter links the answer's title to its page
        assert delivery.question is not None
        page = exchange.settings.web.url(f"/q/{delivery.question.ref}")
        assert delivery_embed(delivery, page).url == f"{site}/q/{delivery.question.ref}"
    email = exchange.settings.email.model_copy(update={"address": "psn@exchange.example.gov.uk"})
    by_mail = dataclasses.replace(owed[0], recipient="email:alice@derbyshire.gov.uk")
    sent = mail.delivery_message(email, by_mail, site).get_body(("plain",))
    assert sent is not None
    assert f"On the web, with its history and related questions: {site}/q/" in sent.get_content()
    digest = exchange.digest_markdown(exchange.digest(STEERING))
    assert digest.rstrip().endswith(f"The figures as charts: {site}/figures")

    out = io.StringIO()
    console = Console(exchange, out, echo=False)
    console.handle("/as Dora @ Rutland County Council")
    console.handle(f"/follow {coco}")
    exchange.answer(_expert(), coco, "A third version, for the console.")
    exchange.publish(_expert())
    console.deliver()
    assert f"On the web: {site}/q/{coco}" in out.getvalue()

    common = ["--db", str(world.settings.database.path), "--config", str(REPO / "config.toml")]
    env = pytest.MonkeyPatch()
    env.setenv("PSNX_WEB__BASE_URL", site)
    try:
        assert main(["export", "--format", "json", *common]) == 0
        records = json.loads(capsys.readouterr().out)
        assert main(["export", "--format", "md", *common]) == 0
        markdown = capsys.readouterr().out
    finally:
        env.undo()
    assert f"{site}/q/{coco}" in {r["url"] for r in records if r["kind"] == "answer"}
    assert f"On the web: <{site}/q/{coco}>" in markdown
    assert main(["export", "--format", "json", *common]) == 0
    assert "url" not in json.loads(capsys.readouterr().out)[0]  # no address, no links


def _expert() -> Actor:
    from tests.conftest import EXPERT

    return EXPERT


def test_kept_pages_follow_the_database_and_a_slow_one_is_redrawn_after_it_is_served() -> None:
    from knowledge.web.app import PageCache
    from knowledge.web.pages import Page

    version, now, drawn = [1], [0.0], []
    redraws: list[Callable[[], None]] = []

    def render() -> Page:
        drawn.append(version[0])
        return Page("/figures", f"drawn at version {version[0]}")

    cache = PageCache(lambda: version[0], clock=lambda: now[0], later=redraws.append)
    assert cache.get("/", render).body == "drawn at version 1"
    assert cache.get("/", render).body == "drawn at version 1"  # unchanged: kept
    version[0] = 2
    assert cache.get("/", render).body == "drawn at version 2"  # changed: drawn again
    assert drawn == [1, 2]

    cache.get("/figures", render, slow=True)
    version[0], now[0] = 3, 60.0
    assert cache.get("/figures", render, slow=True).body == "drawn at version 2"  # < 5 min
    now[0] = 400.0
    assert cache.get("/figures", render, slow=True).body == "drawn at version 2"  # served now
    assert cache.get("/figures", render, slow=True).body == "drawn at version 2"
    assert len(redraws) == 1  # drawn afresh once, after the response
    redraws.pop()()
    assert cache.get("/figures", render, slow=True).body == "drawn at version 3"
    assert drawn == [1, 2, 2, 3]
