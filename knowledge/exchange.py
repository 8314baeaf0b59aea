"""The exchange every front end (console, CLI, Discord, tests) calls, and the one place
it is put together.

`Exchange.open(settings)` is the composition root: it opens the store, builds the
matcher from it, wraps both in the unit of work, and hands that to each group of use
cases (knowledge/usecases/). `Exchange` itself decides nothing: each of its methods is one
use case of one group, named in the table below, so `exchange.ask(...)` and
`Exchange.ask` (for running on the exchange's thread) work as front ends expect.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from knowledge import semantic
from knowledge.config import ConfigError, Settings
from knowledge.errors import StoreError
from knowledge.matching import Matcher
from knowledge.store import Store
from knowledge.unit_of_work import Clock, MatcherView, UnitOfWork, utc_now
from knowledge.usecases import rules
from knowledge.usecases.expert import ExpertUseCases
from knowledge.usecases.imports import ImportUseCases
from knowledge.usecases.officers import OfficerUseCases
from knowledge.usecases.outbox import OutboxUseCases
from knowledge.usecases.own_data import OwnDataUseCases
from knowledge.usecases.site import SiteUseCases
from knowledge.usecases.steering import SteeringUseCases

log = logging.getLogger(__name__)

G = TypeVar("G")
P = ParamSpec("P")
T = TypeVar("T")


class _UseCase(Generic[G, P, T]):
    """`Exchange.<name>`: the method of one use-case group, reached through the façade."""

    def __init__(self, group: str, method: Callable[Concatenate[G, P], T]) -> None:
        self.group = group
        self.method = method
        self.__doc__ = method.__doc__

        @functools.wraps(method)
        def on_exchange(exchange: Exchange, /, *args: Any, **kwargs: Any) -> T:
            return method(getattr(exchange, group), *args, **kwargs)

        self._on_exchange = on_exchange

    @overload
    def __get__(
        self, exchange: None, owner: type[Any]
    ) -> Callable[Concatenate[Exchange, P], T]: ...

    @overload
    def __get__(self, exchange: Exchange, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, exchange: Exchange | None, owner: type[Any]) -> Callable[..., T]:
        if exchange is None:
            return self._on_exchange  # Exchange.ask(exchange, …), as front ends pass it on
        return functools.partial(self.method, getattr(exchange, self.group))


class Exchange:
    """The façade: one attribute per group of use cases, one method per use case."""

    def __init__(self, uow: UnitOfWork, settings: Settings) -> None:
        self.uow = uow
        self.settings = settings

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """New settings take effect at once: every group is built again around them."""
        self._settings = settings
        uow = self.uow
        self.officers = OfficerUseCases(uow, settings)
        self.expert = ExpertUseCases(uow, settings)
        self.imports = ImportUseCases(uow, settings, self.expert)
        self.steering = SteeringUseCases(uow, settings)
        self.own_data = OwnDataUseCases(uow)
        self.outbox = OutboxUseCases(uow, settings)
        self.site = SiteUseCases(uow, settings, self.officers)  # the web site's reads

    @classmethod
    def open(
        cls,
        settings: Settings,
        clock: Clock = utc_now,
        progress: Callable[[str], None] | None = None,
        *,
        read_only: bool = False,
    ) -> Exchange:
        """Open the configured database and build the whole exchange over it; `progress`
        hears how a long start goes (the model encoding wordings with no stored vector).
        `read_only`: a database that may only be read (reads work; any write is refused)."""
        matching = settings.matching
        try:
            embedder = semantic.chosen_embedder(matching.semantic, matching.model)
        except semantic.SemanticUnavailable as why:
            raise ConfigError(f"[matching] semantic = \"on\", but {why}") from None
        store = Store.open(
            settings.database.path,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            read_only=read_only,
        )
        cache = None
        if embedder is not None:
            model = embedder.model_id
            cache = semantic.VectorCache(embedder, lambda texts: store.vectors.get(model, texts))
        try:
            uow = UnitOfWork.open(store, Matcher(matching, cache), clock, progress)
        except BaseException:
            store.close()
            raise
        exchange = cls(uow, settings)
        if read_only:
            return exchange
        try:
            exchange.remove_abandoned_imports()  # what an import that died left hidden
        except StoreError as error:  # busy: the next start, or the next import, does it
            log.warning("could not remove abandoned imports yet: %s", error)
        return exchange

    @property
    def store(self) -> Store:
        return self.uow.store

    @property
    def matcher(self) -> MatcherView:
        return self.uow.matcher

    @property
    def clock(self) -> Clock:
        return self.uow.clock

    def close(self) -> None:
        self.store.close()

    def catch_up(self) -> None:
        """Index now what other processes changed (the rows of an import that has just
        completed, say), without the write lock, so the next officer's ask does not wait
        for it; the bot calls it between delivery rounds."""
        self.uow.catch_up()

    require = staticmethod(rules.require)

    # officers (knowledge/usecases/officers.py)
    ask = _UseCase("officers", OfficerUseCases.ask)
    ask_anyway = _UseCase("officers", OfficerUseCases.ask_anyway)
    accept_answer = _UseCase("officers", OfficerUseCases.accept_answer)
    follow = _UseCase("officers", OfficerUseCases.follow)
    withdraw = _UseCase("officers", OfficerUseCases.withdraw)
    reword = _UseCase("officers", OfficerUseCases.reword)
    reply = _UseCase("officers", OfficerUseCases.reply)
    reply_in_place = _UseCase("officers", OfficerUseCases.reply_in_place)
    replies = _UseCase("officers", OfficerUseCases.replies)
    questions = _UseCase("officers", OfficerUseCases.questions)
    share_note = _UseCase("officers", OfficerUseCases.share_note)
    notes = _UseCase("officers", OfficerUseCases.notes)
    search_notes = _UseCase("officers", OfficerUseCases.search_notes)
    mark_reply = _UseCase("officers", OfficerUseCases.mark_reply)
    set_reply_notices = _UseCase("officers", OfficerUseCases.set_reply_notices)
    mine = _UseCase("officers", OfficerUseCases.mine)
    next_release = _UseCase("officers", OfficerUseCases.next_release)
    search = _UseCase("officers", OfficerUseCases.search)
    question = _UseCase("officers", OfficerUseCases.question)
    knowledge_base = _UseCase("officers", OfficerUseCases.knowledge_base)
    set_authority = _UseCase("officers", OfficerUseCases.set_authority)
    check_authority = _UseCase("officers", OfficerUseCases.check_authority)
    resolve_topic = _UseCase("officers", OfficerUseCases.resolve_topic)
    authority_names = _UseCase("officers", OfficerUseCases.authority_names)
    authority_of = _UseCase("officers", OfficerUseCases.authority_of)

    # the PSN expert (knowledge/usecases/expert.py)
    queue = _UseCase("expert", ExpertUseCases.queue)
    queue_size = _UseCase("expert", ExpertUseCases.queue_size)
    suggestion_report = _UseCase("expert", ExpertUseCases.suggestion_report)
    answer = _UseCase("expert", ExpertUseCases.answer)
    merge = _UseCase("expert", ExpertUseCases.merge)
    unmerge = _UseCase("expert", ExpertUseCases.unmerge)
    draft = _UseCase("expert", ExpertUseCases.draft)
    drafts = _UseCase("expert", ExpertUseCases.drafts)
    discard = _UseCase("expert", ExpertUseCases.discard)
    mark_sensitive = _UseCase("expert", ExpertUseCases.mark_sensitive)
    endorse = _UseCase("expert", ExpertUseCases.endorse)
    hide_reply = _UseCase("expert", ExpertUseCases.hide_reply)
    endorse_note = _UseCase("expert", ExpertUseCases.endorse_note)
    hide_note = _UseCase("expert", ExpertUseCases.hide_note)
    distinct = _UseCase("expert", ExpertUseCases.distinct)
    publish = _UseCase("expert", ExpertUseCases.publish)

    # importing question lists (knowledge/usecases/imports.py)
    begin_import = _UseCase("imports", ImportUseCases.begin_import)
    import_rows = _UseCase("imports", ImportUseCases.import_rows)
    finish_import = _UseCase("imports", ImportUseCases.finish_import)
    abandon_import = _UseCase("imports", ImportUseCases.abandon_import)
    remove_abandoned_imports = _UseCase("imports", ImportUseCases.remove_abandoned_imports)

    # the steering group (knowledge/usecases/steering.py)
    digest = _UseCase("steering", SteeringUseCases.digest)
    digest_markdown = _UseCase("steering", SteeringUseCases.digest_markdown)
    send_digest = _UseCase("steering", SteeringUseCases.send_digest)
    audit = _UseCase("steering", SteeringUseCases.audit)
    check_schedules = _UseCase("steering", SteeringUseCases.check_schedules)

    # everyone's own data (knowledge/usecases/own_data.py)
    is_known = _UseCase("own_data", OwnDataUseCases.is_known)
    my_data = _UseCase("own_data", OwnDataUseCases.my_data)
    officers_named = _UseCase("own_data", OwnDataUseCases.officers_named)
    forget_me = _UseCase("own_data", OwnDataUseCases.forget_me)

    # messages owed and front-end state (knowledge/usecases/outbox.py)
    owed_messages = _UseCase("outbox", OutboxUseCases.owed_messages)
    owed_deliveries = _UseCase("outbox", OutboxUseCases.owed_deliveries)
    owed_notices = _UseCase("outbox", OutboxUseCases.owed_notices)
    place_notice = _UseCase("outbox", OutboxUseCases.place_notice)
    mark_sent = _UseCase("outbox", OutboxUseCases.mark_sent)
    mark_part_sent = _UseCase("outbox", OutboxUseCases.mark_part_sent)
    mark_failed = _UseCase("outbox", OutboxUseCases.mark_failed)
    mark_undeliverable = _UseCase("outbox", OutboxUseCases.mark_undeliverable)
    place_has_answer = _UseCase("outbox", OutboxUseCases.place_has_answer)
    failing_messages = _UseCase("outbox", OutboxUseCases.failing_messages)
    retry_given_up = _UseCase("outbox", OutboxUseCases.retry_given_up)
    set_place = _UseCase("outbox", OutboxUseCases.set_place)
    front_end_fact = _UseCase("outbox", OutboxUseCases.front_end_fact)
    remember_front_end_fact = _UseCase("outbox", OutboxUseCases.remember_front_end_fact)
