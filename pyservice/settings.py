"""Typed, validated settings from one snapshot of the environment.

Every error is a ``SettingsError`` whose message is one line naming the variable. A secret
``NAME`` may instead be read from the file named by ``NAME_FILE``: its contents are stripped,
an empty file means unset, ``_FILE`` wins when both are set, and a file that cannot be read (a
missing Docker secret) is an error naming it, never an empty value.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
# The exit status of a process refused for its configuration (sysexits.h EX_CONFIG): gunicorn
# and the app's preflight exit with it, and the container reports the line printed before.
EX_CONFIG = 78

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class SettingsError(ValueError):
    """A setting the service cannot work with; the message is one line naming it."""


def read_secret(path: str | Path, name: str) -> str | None:
    """The stripped contents of the secret file PATH (None when empty). When it cannot be read,
    the error names NAME, the variable that named the file, and the reason; not the path,
    which the variable's value says and a log line need not repeat."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{name} cannot be read ({exc.strerror or exc})") from None
    return value or None


class Env:
    """Typed access to one snapshot of the environment (a blank value counts as unset)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def str(self, name: str, default: str) -> str:
        value = self._environ.get(name, "").strip()
        return value or default

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> str | None:
        """NAME's value, from the file NAME_FILE names if that is set; None when unset."""
        file_name = self.optional(f"{name}_FILE")
        if file_name:
            return read_secret(file_name, f"{name}_FILE")
        return self.optional(name)

    def _parsed(self, name: str, convert: Callable[[str], T], what: str) -> T | None:
        """NAME's value converted, None when unset; a value CONVERT refuses is an error that
        says WHAT was expected."""
        raw = self.optional(name)
        if raw is None:
            return None
        try:
            return convert(raw)
        except ValueError:
            raise SettingsError(f"{name} must be {what}, got {raw!r}") from None

    def int(
        self, name: str, default: int, minimum: int = 0, maximum: int | None = None
    ) -> builtins.int:
        value = self._parsed(name, builtins.int, "an integer")
        if value is None:
            return default
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise SettingsError(f"{name} must be at most {maximum}, got {value}")
        return value

    def float(
        self,
        name: str,
        default: builtins.float,
        minimum: builtins.float,
        maximum: builtins.float | None = None,
        *,
        exclusive_minimum: bool = False,
    ) -> builtins.float:
        """A number within [MINIMUM, MAXIMUM] ((MINIMUM, ...] with EXCLUSIVE_MINIMUM)."""
        value = self._parsed(name, builtins.float, "a number")
        if value is None:
            return default
        below = value <= minimum if exclusive_minimum else value < minimum
        if maximum is not None and (below or value > maximum):
            raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
        if below:
            bound = "greater than" if exclusive_minimum else "at least"
            raise SettingsError(f"{name} must be {bound} {minimum}, got {value}")
        return value

    def bool(self, name: str, default: bool) -> builtins.bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
