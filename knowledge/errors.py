"""Errors that are safe to show the person who caused them.

Every `ExchangeError` carries a kind, complete message in the users' words; front ends
show `str(error)` as it is. Anything else is a bug: log it and answer generically.
"""

from __future__ import annotations


class ExchangeError(Exception):
    """A refusal or failure the user can understand and act on."""


class InvalidInput(ExchangeError):
    """The text or value typed cannot be used; nothing was changed."""


class NotAllowed(ExchangeError):
    """The person's role does not permit the action."""


class NotFound(ExchangeError):
    """An id that does not name anything the person may see."""


class Conflict(ExchangeError):
    """The action does not fit the current state (already merged, nothing to publish …)."""


class AuthorityNeeded(ExchangeError):
    """The officer has not yet said which authority they are from."""

    def __init__(self) -> None:
        super().__init__(
            "Before your first question, please tell us which authority you work for, "
            "so the expert can see how many authorities need each answer."
        )


class RateLimited(ExchangeError):
    """Too many asks in a short time from one officer."""


class StoreError(ExchangeError):
    """The database cannot be used (missing, read-only, locked, corrupt)."""
