"""Which dumps a bucket keeps: the newest of each of the last KEEP_DAILY days and the newest of
each of the last KEEP_WEEKLY ISO weeks (Monday to Sunday, UTC), and always the newest of all.
The time of a dump is the one in its name (<db>-YYYYmmddTHHMMSSZ.dump[.age])."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

NAME = re.compile(r"-(\d{8}T\d{6}Z)\.dump(\.age)?$")


def taken_at(name: str) -> dt.datetime | None:
    """The UTC time in a dump's name; None for a name that is not a dump's."""
    match = NAME.search(name)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def to_keep(names: Iterable[str], now: dt.datetime, daily: int, weekly: int) -> set[str]:
    dumps = sorted(((t, n) for n in names if (t := taken_at(n)) is not None), reverse=True)
    if not dumps:
        return set()
    keep = {dumps[0][1]}
    first_day = now.date() - dt.timedelta(days=daily - 1)
    this_monday = now.date() - dt.timedelta(days=now.weekday())
    first_monday = this_monday - dt.timedelta(weeks=weekly - 1)
    days: set[dt.date] = set()
    weeks: set[dt.date] = set()
    for time, name in dumps:  # newest first: the first of each day or week is its newest
        day = time.date()
        monday = day - dt.timedelta(days=day.weekday())
        if day >= first_day and day not in days:
            days.add(day)
            keep.add(name)
        if weekly and monday >= first_monday and monday not in weeks:
            weeks.add(monday)
            keep.add(name)
    return keep


def to_delete(names: Iterable[str], now: dt.datetime, daily: int, weekly: int) -> list[str]:
    """The dumps among NAMES that retention deletes (names that are not dumps' are left)."""
    names = list(names)
    kept = to_keep(names, now, daily, weekly)
    return sorted(n for n in names if taken_at(n) is not None and n not in kept)
