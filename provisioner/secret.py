"""A value that must never be printed, logged, stored in state or put in an exception."""

from __future__ import annotations

import hashlib
import hmac

REDACTED = "(sensitive)"


class Secret:
    """Wraps a secret string. ``str``/``repr``/formatting show ``(sensitive)``.

    Unwrapping is explicit (:meth:`reveal`) and rare: only where the value is sent to the remote
    system that needs it or written to a sink meant to hold it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The plain value. Call only at the point it leaves the process for its destination."""
        return self._value

    def fingerprint(self) -> str:
        """A SHA-256 fingerprint, safe to store and print, that identifies the value."""
        return "sha256:" + hashlib.sha256(self._value.encode("utf-8")).hexdigest()

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")
