"""Timestamps as the state, the journal and the lock spell them: ISO 8601 UTC with a ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def format_time(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with a ``Z`` suffix (the state's spelling)."""
    if moment.tzinfo is None:
        raise ValueError("state timestamps must be timezone-aware")
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """The inverse of :func:`format_time` (accepts any ISO 8601 offset)."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


__all__ = ["format_time", "parse_time"]
