"""Human durations such as `30s`, `5m`, `1h30m` or `2d`, as `timedelta`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `5m`, `1h30m`, `2d` (or a bare number of seconds).

    Raises:
        ValueError: the text is not a duration.
    """
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    pos = 0
    total = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h30m, 2d")
    return timedelta(seconds=total)


def format_duration(value: timedelta) -> str:
    """The shortest `1h30m`-style spelling of a duration."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out += f"{count}{unit}"
    return out


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool):
        raise ValueError("a duration must be a string such as 5m, not a boolean")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
