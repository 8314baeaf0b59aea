"""What an officer may see and erase of what the exchange keeps about them."""

from __future__ import annotations

import json
import logging
from typing import Any

from knowledge.errors import NotFound
from knowledge.models import Actor
from knowledge.service import ExchangeBase

log = logging.getLogger(__name__)


class PrivacyUseCases(ExchangeBase):
    """Export and erase one's own data."""

    def is_known(self, actor: Actor) -> bool:
        """Whether the exchange keeps anything about this person."""
        return self.store.officer(actor.user_key) is not None

    def my_data(self, actor: Actor) -> dict[str, Any]:
        """Everything the exchange keeps about the caller (an officer may always see it)."""
        officer = self.store.officer(actor.user_key)
        if officer is None:
            return {"officer": None, "asks": [], "suggestions": [], "deliveries": [], "events": []}
        with self._use_case():
            self.store.record("data_exported", actor_id=officer["id"], now=self.clock())
        data = self.store.personal_data(officer["id"])
        for event in data["events"]:
            event["detail"] = json.loads(event["detail"])
        return data

    def forget_me(self, actor: Actor) -> int:
        """Erase the caller's name and chat identity; their questions stay, anonymised.

        Returns how many asks were kept anonymously. Answers stay useful to others, and
        the authority behind each ask still counts as demand.
        """
        officer = self.store.officer(actor.user_key)
        if officer is None:
            raise NotFound("We hold no data about you, so there is nothing to erase.")
        now = self.clock()
        with self._use_case():
            kept = len(self.store.personal_data(officer["id"])["asks"])
            self.store.anonymise_officer(officer["id"], now)
            self.store.record("forgotten", actor_id=officer["id"], now=now, asks_kept=kept)
        log.info("officer %s erased their data (%s asks kept anonymously)", officer["id"], kept)
        return kept
