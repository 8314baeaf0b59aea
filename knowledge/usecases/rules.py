"""The checks and look-ups many use cases share: who the caller is and may be, which
question a reference names, and the exchange's limits on what officers send."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta

from knowledge import text as texts
from knowledge.config import Settings
from knowledge.errors import AuthorityNeeded, InvalidInput, NotAllowed, NotFound, RateLimited
from knowledge.models import Actor, Answer, Officer, Question, Role, Status
from knowledge.unit_of_work import UnitOfWork

_ROLE_NAMES = {
    Role.EXPERT: "the PSN expert",
    Role.STEERING: "the steering group",
    Role.ADMIN: "an exchange admin",
}


def require(actor: Actor, role: Role, action: str) -> None:
    """NotAllowed, in the exchange's words, unless `actor` has `role`.

    Front ends may call it before opening a form, so nobody fills one in for nothing.
    """
    if not actor.has(role):
        raise NotAllowed(f"Only {_ROLE_NAMES.get(role, role.value)} can {action}.")


def officer(uow: UnitOfWork, actor: Actor) -> Officer:
    """The caller's officer row, added on first contact, display name kept fresh."""
    return uow.officers.save(actor.user_key, texts.display_name(actor.display_name), uow.now())


def officer_with_authority(uow: UnitOfWork, actor: Actor) -> Officer:
    found = officer(uow, actor)
    if found.authority_id is None:
        raise AuthorityNeeded()
    return found


def assign_authority(
    uow: UnitOfWork, settings: Settings, who: Officer, name: str, now: datetime
) -> Officer:
    """The officer, now working for the authority `name` is read as (recorded if it changed).

    A name that reads as a known authority joins it, under the configured spelling if it is
    one (that spelling replaces the stored one) or else the stored one. A new name is added,
    unless it hides look-alike letters of another alphabet (InvalidInput).
    """
    configured = name in settings.exchange.authorities
    authority = uow.officers.find_authority(name)
    if authority is None:
        authority = uow.officers.add_authority(
            name if configured else texts.one_alphabet(name), now
        )
    elif configured and authority.name != name:
        uow.officers.respell_authority(authority.id, name)
        authority = replace(authority, name=name)
    if who.authority_id != authority.id:
        uow.officers.set_authority(who.id, authority.id)
        uow.events.record("authority_set", actor_id=who.id, now=now, authority=authority.name)
    return replace(who, authority_id=authority.id, authority=authority.name)


@functools.cache
def _configured_authorities(names: tuple[str, ...]) -> dict[str, str]:
    """The configured authorities by the key they are compared with (worked out once: an
    import checks every row's authority)."""
    return {texts.authority_key(a): a for a in names}


def check_authority(uow: UnitOfWork, settings: Settings, name: str) -> str:
    """The spelling the exchange keeps for the authority `name`: the configured one, or the
    one already in use, or the checked new name (InvalidInput if it cannot be used)."""
    cleaned = texts.authority_name(name)
    key = texts.authority_key(cleaned)
    configured = _configured_authorities(tuple(settings.exchange.authorities))
    if key in configured:
        return configured[key]
    if configured and not settings.exchange.allow_other_authorities:
        raise InvalidInput(
            f"{cleaned!r} is not one of the authorities taking part. "
            "Choose one from the list, or ask an admin to add yours."
        )
    known = uow.officers.find_authority(cleaned)
    return known.name if known else texts.one_alphabet(cleaned)


def resolve_topic(settings: Settings, topic: str | None) -> str:
    """The configured topic `topic` names (any case), or the default topic for none."""
    if topic is None or not topic.strip():
        return settings.exchange.default_topic
    wanted = texts.clean(topic).lower()
    for known in settings.exchange.topics:
        if known.lower() == wanted:
            return known
    raise InvalidInput(
        f"{topic[:40]!r} is not a topic here. Choose one of: "
        + ", ".join(settings.exchange.topics)
        + "."
    )


def question_text(settings: Settings, raw: str) -> str:
    """The cleaned question; refused (nothing kept) if it is not fit or carries a marking."""
    limits = settings.exchange
    text = texts.question_text(
        raw, min_chars=limits.min_question_chars, max_chars=limits.max_question_chars
    )
    unmarked(settings, text, "question")
    return text


def as_published(settings: Settings, answer: Answer | None) -> Answer | None:
    """An answer as officers may see it: one marked OFFICIAL-SENSITIVE becomes the pointer to
    the secure route, with no links."""
    if answer is None or not answer.sensitive:
        return answer
    return replace(answer, body=settings.marking.sensitive_answer, links=())


def unmarked(settings: Settings, text: str, what: str) -> None:
    """Refuse text carrying a protective marking: the exchange holds OFFICIAL only."""
    marking = settings.marking
    texts.refuse_marked(text, marking.refused, marking.where_instead, what)


def question(uow: UnitOfWork, ref: str | int) -> Question:
    """The question `ref` names (Q-42, 42 …), whatever its status."""
    question_id = texts.question_id(ref)
    found = uow.questions.get(question_id)
    if found is None:
        raise NotFound(f"There is no question {texts.question_ref(question_id)}.")
    return found


def live_question(uow: UnitOfWork, ref: str | int) -> Question:
    """The question, or the one it was merged into (through any chain of merges)."""
    found = question(uow, ref)
    seen = {found.id}
    while found.status is Status.MERGED and found.merged_into is not None:
        found = question(uow, found.merged_into)
        if found.id in seen:  # a cycle cannot be made through merge(); be safe anyway
            break
        seen.add(found.id)
    if found.status is Status.WITHDRAWN:
        raise NotFound(
            f"{found.ref} was withdrawn by everyone who asked it. "
            "If you still need it answered, ask it with /ask."
        )
    return found


def score_against(uow: UnitOfWork, settings: Settings, text: str, question_id: int) -> float | None:
    """The matcher's score for `text` against one question; None if it is not retrieved
    (no key word in common)."""
    for match in uow.matcher.find(text, limit=settings.matching.candidates):
        if match.question_id == question_id:
            return match.score
    return None


def check_hourly_limit(uow: UnitOfWork, settings: Settings, officer_id: int) -> None:
    recent = uow.asks.count_since(officer_id, uow.now() - timedelta(hours=1))
    if recent >= settings.exchange.asks_per_hour:
        raise RateLimited(
            f"You have asked {recent} questions in the last hour, the most we accept. "
            "Please wait a while before asking more; nothing was saved."
        )


def check_open_limit(uow: UnitOfWork, settings: Settings, officer_id: int) -> None:
    limits = settings.exchange
    waiting = uow.asks.open_started_by(officer_id)
    if waiting >= limits.max_open_questions_per_officer:
        raise RateLimited(
            f"You already have {waiting} questions waiting for the expert, the most one "
            "officer may have at once. Please wait for some to be answered, or withdraw "
            "ones you no longer need (/mine lists them)."
        )
