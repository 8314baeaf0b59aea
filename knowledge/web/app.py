"""The live site: Starlette routes over `Pages`, served by uvicorn.

The database is opened read-only, so the site cannot change anything, whatever a request
says. Every endpoint is `async` and calls the (fast, synchronous) published view on the
event loop's own thread: the store belongs to the thread that opened it, and a page takes a
few milliseconds (benchmarks/web.py), so one thread serves a read-only site well.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from knowledge.config import Settings
from knowledge.errors import InvalidInput, NotFound, StoreError
from knowledge.exchange import Exchange
from knowledge.text import question_id, question_ref
from knowledge.web.pages import Page, Pages

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

# No scripts at all; styles and images only from the site itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class PageCache:
    """Rendered pages, reused while the database is unchanged (another process's commit
    changes its data version), the most recent `size` of them.

    A slow page (the figures: a summary of weeks) is reused for `slow_for` seconds even
    after a change; after that, the visitor still gets it at once, and it is drawn afresh
    just after (`later` runs that on the server's thread), for the next visitor."""

    def __init__(
        self,
        version: Callable[[], int],
        size: int = 512,
        slow_for: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        later: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self.version = version
        self.size = size
        self.slow_for = slow_for
        self.clock = clock
        self.later = later
        self._pages: OrderedDict[str, tuple[int, float, Page]] = OrderedDict()
        self._redrawing: set[str] = set()

    def get(self, key: str, render: Callable[[], Page], *, slow: bool = False) -> Page:
        version, now = self.version(), self.clock()
        kept = self._pages.get(key)
        if kept is not None:
            if kept[0] == version or (slow and now - kept[1] < self.slow_for):
                self._pages.move_to_end(key)
                return kept[2]
            if slow and self.later is not None:  # stale: served now, drawn afresh just after
                if key not in self._redrawing:
                    self._redrawing.add(key)
                    self.later(lambda: self._redraw(key, render))
                self._pages.move_to_end(key)
                return kept[2]
        return self._keep(key, render(), version, now)

    def _redraw(self, key: str, render: Callable[[], Page]) -> None:
        try:
            self._keep(key, render(), self.version(), self.clock())
        except Exception:  # the next visitor still gets the kept page; logged here
            log.exception("could not draw %s afresh", key)
        finally:
            self._redrawing.discard(key)

    def _keep(self, key: str, page: Page, version: int, now: float) -> Page:
        if page.status == 200 and self.size > 0:
            self._pages[key] = (version, now, page)
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return page


def _respond(page: Page) -> Response:
    return Response(page.body, status_code=page.status, media_type=page.media_type)


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response


def create_app(
    settings: Settings,
    open_exchange: Callable[[], Exchange] | None = None,
    *,
    cached_pages: int = 512,
) -> Starlette:
    """The site over the configured database, opened read-only at start-up on the server's
    own thread (`open_exchange` may open it otherwise, e.g. with a test's clock) and
    closed at shutdown. `cached_pages`: how many rendered pages to keep (0: none)."""
    pages: Pages | None = None
    cache: PageCache | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal pages, cache
        if open_exchange is None:
            opened = Exchange.open(settings, read_only=True)
        else:
            opened = open_exchange()
        pages = Pages(opened.site, settings)
        loop = asyncio.get_running_loop()
        cache = PageCache(
            opened.site.version,
            size=cached_pages,
            # After the response has gone: the page is drawn on the server's own thread.
            later=lambda redraw: loop.call_later(0.2, redraw),
        )
        try:
            yield
        finally:
            opened.close()

    def the_pages() -> Pages:
        assert pages is not None, "the site serves pages only once started"
        return pages

    def page(
        render: Callable[[Pages, Request], Page], *, slow: bool = False
    ) -> Callable[[Request], object]:
        async def endpoint(request: Request) -> Response:
            site = the_pages()
            assert cache is not None
            key = str(request.url.path) + "?" + str(request.url.query)
            try:
                return _respond(cache.get(key, lambda: render(site, request), slow=slow))
            except NotFound as why:
                return _respond(site.not_found(request.url.path, str(why)))
            except InvalidInput as why:
                return _respond(site.not_found(request.url.path, str(why)))

        return endpoint

    def number(request: Request, name: str = "n") -> int:
        value: int = request.path_params[name]
        return value

    async def question(request: Request) -> Response:
        site = the_pages()
        ref = request.path_params["ref"]
        try:
            wanted = question_id(ref)
            rendered = site.question(ref)
        except (NotFound, InvalidInput) as why:
            return _respond(site.not_found(request.url.path, str(why)))
        # One address per question: "q12", "12", or a question merged into another, lead
        # to the permalink of the live one.
        if ref != question_ref(wanted) or rendered.path != f"/q/{ref}":
            return RedirectResponse(site.href(rendered.path), status_code=301)
        return _respond(rendered)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        site = the_pages()
        if status == 405:
            return Response("This site can only be read.", status_code=405)
        return _respond(site.not_found(request.url.path, "There is nothing at this address."))

    async def busy(request: Request, exc: Exception) -> Response:
        return Response(
            "The knowledge base is busy for a moment. Please try again.",
            status_code=503,
            headers={"Retry-After": "5"},
        )

    routes = [
        Route("/", page(lambda p, r: p.home())),
        Route("/search", page(lambda p, r: p.search(r.query_params.get("q")))),
        Route("/q/{ref}", question),
        Route("/topics", page(lambda p, r: p.topics())),
        Route("/topics/{name}", page(lambda p, r: p.topic(r.path_params["name"]))),
        Route(
            "/topics/{name}/page-{n:int}",
            page(lambda p, r: p.topic(r.path_params["name"], number(r))),
        ),
        Route("/waiting", page(lambda p, r: p.waiting())),
        Route("/waiting/page-{n:int}", page(lambda p, r: p.waiting(number(r)))),
        Route("/releases", page(lambda p, r: p.releases())),
        Route("/releases.atom", page(lambda p, r: p.feed())),
        Route("/releases/page-{n:int}", page(lambda p, r: p.releases(number(r)))),
        Route("/releases/{n:int}", page(lambda p, r: p.release(number(r)))),
        Route("/notes", page(lambda p, r: p.notes())),
        Route("/figures", page(lambda p, r: p.figures(), slow=True)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(_Headers)],
        exception_handlers={404: not_found, 405: not_found, StoreError: busy},
    )


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the site until interrupted (behind a reverse proxy in production)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        proxy_headers=True,
        server_header=False,
    )
