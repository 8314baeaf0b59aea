"""Schedule maths for digests and reminders, on APScheduler's cron triggers.

The database records every notice owed, so these functions only answer "what is due
now, given what was already sent?" — a restart or a missed run can neither repeat a
digest nor lose one (missed digests coalesce into one covering the whole gap).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_ONE_SECOND = timedelta(seconds=1)
_LOOKBACK = (
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=8),
    timedelta(days=32),
    timedelta(days=367),
)


def days_between(later: datetime, earlier: datetime) -> float:
    """How many days (with fractions) lie between two moments."""
    return (later - earlier).total_seconds() / 86400


def cron(expression: str, zone: ZoneInfo) -> CronTrigger:
    """A cron trigger in `zone` (five fields: minute hour day month day-of-week).

    Days of the week must be names (mon … sun): in crontab 1 is Monday and 0 Sunday, but
    APScheduler counts 0 as Monday, so a number would silently fire on the wrong day.
    """
    fields = expression.split()
    if len(fields) == 5 and re.search(r"\d", fields[4]):
        raise ValueError(
            f"write the day of the week as names, e.g. 'mon' or 'mon-fri', not {fields[4]!r}"
        )
    return CronTrigger.from_crontab(expression, timezone=zone)


def next_fire(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after `after` — and never the same wall-clock time
    twice: when the clocks go back, 01:30 happens twice, and it fires once."""
    fire: datetime | None = trigger.get_next_fire_time(None, _just_after(after))
    while fire is not None and _wall(fire) == _wall(after.astimezone(fire.tzinfo)):
        fire = trigger.get_next_fire_time(None, _just_after(fire))
    return fire


def _just_after(moment: datetime) -> datetime:
    # Step in UTC: local arithmetic across a clock change lands on the same instant again.
    return moment.astimezone(UTC) + _ONE_SECOND


def _wall(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None, fold=0)


def last_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest fire time at or before `now` (APScheduler 3 only looks forward)."""
    for span in _LOOKBACK:
        fire: datetime | None = trigger.get_next_fire_time(None, now - span)
        if fire is None or fire > now:
            continue
        while True:
            following = next_fire(trigger, fire)
            if following is None or following > now:
                return fire
            fire = following
    return None


def due_digest_window(
    trigger: CronTrigger,
    now: datetime,
    last_end: datetime | None,
    first_activity: datetime | None = None,
) -> tuple[datetime, datetime] | None:
    """The window of the digest due now, or None if the latest one was already sent.

    The window runs from the end of the last digest to the latest scheduled time, so
    digests missed while the bot was down are sent once, covering the whole gap. Before any
    digest, the first covers everything since the first ask — and none is due until a
    scheduled time has passed after it (a new, empty exchange posts nothing).
    """
    fire = last_fire(trigger, now)
    if fire is None:
        return None
    if last_end is None:
        if first_activity is None or first_activity >= fire:
            return None
        return first_activity - _ONE_SECOND, fire
    if last_end >= fire:
        return None
    return last_end, fire


def due_release_reminder(trigger: CronTrigger, now: datetime, lead: timedelta) -> datetime | None:
    """The release time whose reminder is due now (within `lead` before it), or None."""
    if lead <= timedelta(0):
        return None
    upcoming = trigger.get_next_fire_time(None, now)
    if upcoming is None or upcoming - lead > now:
        return None
    due: datetime = upcoming
    return due
