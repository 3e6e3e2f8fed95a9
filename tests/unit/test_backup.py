"""The backup service's retention and settings (backup/pgbackup). The dump, the encryption, the
bucket and the verification run against real Postgres, age and an S3 server in
tests/e2e/test_offsite_backups.py."""

from __future__ import annotations

import datetime as dt

import pytest
from pgbackup.retention import taken_at, to_delete, to_keep
from pgbackup.settings import Settings, SettingsError
from pgbackup.verify import COPY, TABLE, _name

pytestmark = pytest.mark.unit

# A Wednesday.
NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


def name(at: dt.datetime) -> str:
    return f"app-{at:%Y%m%dT%H%M%SZ}.dump.age"


def test_a_dump_s_time_comes_from_its_name_and_other_names_are_not_dumps():
    assert taken_at("app-20261125T030000Z.dump.age") == NOW
    assert taken_at("app-20261125T030000Z.dump") == NOW
    assert taken_at("app-20261125T030000Z.dump.age.partial") is None
    assert taken_at("notes.txt") is None


def test_hourly_dumps_over_two_months_keep_the_newest_of_7_days_and_of_5_weeks():
    names = [name(NOW - dt.timedelta(hours=h)) for h in range(0, 24 * 60)]
    kept = to_keep(names, NOW, daily=7, weekly=5)
    days = {taken_at(n).date() for n in kept}
    # The newest of each of the 7 days up to today, each the day's last dump.
    for back in range(7):
        day = NOW.date() - dt.timedelta(days=back)
        newest = max((n for n in names if taken_at(n).date() == day), key=taken_at)
        assert newest in kept
    # Weekly: this week's Monday and the 4 before it, each week's newest (its Sunday 23:00).
    mondays = [dt.date(2026, 11, 23) - dt.timedelta(weeks=w) for w in range(5)]
    for monday in mondays[1:]:
        sunday_night = dt.datetime.combine(monday + dt.timedelta(days=6), dt.time(23), dt.UTC)
        assert name(sunday_night) in kept
    # Seven days (Thursday 19 to today), plus the three weeks before the one whose Sunday is
    # already among them.
    assert len(kept) == 7 + 3
    assert min(days) == mondays[-1] + dt.timedelta(days=6)
    deleted = to_delete(names, NOW, daily=7, weekly=5)
    assert set(deleted) == set(names) - kept


def test_the_newest_dump_is_always_kept_even_when_older_than_every_window():
    old = [name(NOW - dt.timedelta(days=400)), name(NOW - dt.timedelta(days=401))]
    assert to_keep(old, NOW, daily=7, weekly=5) == {old[0]}
    assert to_delete([*old, "README"], NOW, daily=7, weekly=5) == [old[1]]


def test_a_second_dump_on_the_same_day_replaces_the_first():
    first, second = name(NOW - dt.timedelta(hours=2)), name(NOW)
    assert to_delete([first, second], NOW, daily=7, weekly=0) == [first]


def test_settings_refuse_a_bucket_without_a_public_key_and_a_key_that_is_not_age():
    with pytest.raises(SettingsError, match="encrypted only"):
        Settings.from_environ({"BACKUP_S3_BUCKET": "b"})
    with pytest.raises(SettingsError, match="age public key"):
        Settings.from_environ({"BACKUP_AGE_RECIPIENT": "ssh-ed25519 AAAA"})
    with pytest.raises(SettingsError, match="BACKUP_KEEP_DAILY must be at least 1"):
        Settings.from_environ({"BACKUP_KEEP_DAILY": "0"})
    local = Settings.from_environ({})
    assert (local.bucket, local.recipient, local.keep_daily, local.keep_weekly) == ("", "", 7, 5)


def test_the_verification_reads_tables_from_the_dump_s_listing_and_its_copy_lines():
    listing = [
        "215; 1259 16386 TABLE public items app_owner",
        "216; 1259 16390 TABLE public Weird, Name ",
        "3350; 0 16386 TABLE DATA public items app_owner",
        "3001; 1259 16385 SEQUENCE public items_id_seq app_owner",
    ]
    tables = [m.group(1, 2) for line in listing if (m := TABLE.match(line))]
    assert tables == [("public", "items"), ("public", "Weird, Name")]
    copy = COPY.match('COPY public."Weird, ""Name""" (x) FROM stdin;')
    assert copy and _name(copy.group(1)) == ("public", 'Weird, "Name"')
    assert _name(COPY.match("COPY public.items (id, name) FROM stdin;").group(1)) == (
        "public",
        "items",
    )
