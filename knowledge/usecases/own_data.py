"""What an officer may see and erase of what the exchange keeps about them."""

from __future__ import annotations

import json
import logging
from typing import Any

from knowledge import text as texts
from knowledge.errors import InvalidInput, NotFound
from knowledge.models import Actor, Officer, Role
from knowledge.unit_of_work import UnitOfWork
from knowledge.usecases import rules

log = logging.getLogger(__name__)


class OwnDataUseCases:
    """Export and erase one's own data (anyone may, for themselves)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def is_known(self, actor: Actor) -> bool:
        """Whether the exchange keeps anything about this person."""
        return self.uow.officers.get(actor.user_key) is not None

    def officers_named(self, actor: Actor, text: str) -> list[Officer]:
        """For an admin answering a request to see or erase someone's data: the officers
        whose name, key or authority contains `text` (their keys are what `privacy` takes)."""
        rules.require(actor, Role.ADMIN, "look officers up")
        wanted = texts.clean(text)
        if len(wanted) < 2:
            raise InvalidInput("Type at least two letters of the officer's name or authority.")
        return self.uow.officers.named(wanted)

    def my_data(self, actor: Actor) -> dict[str, Any]:
        """Everything the exchange keeps about the caller (an officer may always see it)."""
        found = self.uow.officers.get(actor.user_key)
        if found is None:
            return {
                "officer": None,
                "asks": [],
                "replies": [],
                "notes": [],
                "reply_marks": [],
                "suggestions": [],
                "deliveries": [],
                "events": [],
            }
        with self.uow as uow:
            uow.events.record("data_exported", actor_id=found.id, now=uow.now())
        data = self.uow.personal.of(found.id)
        for event in data["events"]:
            event["detail"] = json.loads(event["detail"])
        return data

    def forget_me(self, actor: Actor) -> int:
        """Erase the caller's name and chat identity; their questions stay, anonymised.

        Returns how many asks were kept anonymously. Answers stay useful to others, and
        the authority behind each ask still counts as demand.
        """
        found = self.uow.officers.get(actor.user_key)
        if found is None:
            raise NotFound("We hold no data about you, so there is nothing to erase.")
        with self.uow as uow:
            kept = len(uow.personal.of(found.id)["asks"])
            uow.personal.anonymise(found.id, uow.now())
            uow.events.record("forgotten", actor_id=found.id, now=uow.now(), asks_kept=kept)
        self.uow.flush_to_disk()  # the old name must not linger in the write-ahead log
        log.info("officer %s erased their data (%s asks kept anonymously)", found.id, kept)
        return kept
