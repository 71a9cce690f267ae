"""What a run reports while it works: typed events, one observer callback.

The engine never prints. It hands each event to an :data:`Observer`; the CLI renders the ones a
person reads (:attr:`Event.shown`), an embedding program or a test may watch all of them (a
generated key, a request sent). ``str(event)`` is its one-line description, which never holds a
secret: :class:`MaterialMade` carries the secret as a :class:`~provisioner.secret.Secret`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from provisioner.secret import Secret


class Event:
    """Base of every run event."""

    #: Whether the CLI shows it as a progress line (others are for observers that ask).
    shown: ClassVar[bool] = True


@dataclass(frozen=True)
class Step(Event):
    """A progress line: what the run is doing now ("reading 2 app(s) from org prod")."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SpecWarning(Event):
    """A warning about the specs (``FILE:LINE:COL: warning: MESSAGE``), as validate shows it."""

    line: str

    def __str__(self) -> str:
        return self.line


@dataclass(frozen=True)
class DeployPolled(Event):
    """One poll of a running Metadata API deploy (a terminal overwrites these in place)."""

    org: str
    deploy_id: str
    status: str
    deployed: int
    total: int
    elapsed: float

    def __str__(self) -> str:
        return (f"deploy {self.deploy_id}: {self.status} ({self.deployed}/{self.total} "
                f"components, {self.elapsed:.1f} s)")


@dataclass(frozen=True)
class LoginWaiting(Event):
    """A verification login was refused in a way propagation can explain; it is retried."""

    app: str
    cause: str
    delay: float
    elapsed: float

    def __str__(self) -> str:
        return (f"app {self.app}: login not accepted yet ({self.cause}); retrying in "
                f"{self.delay:.0f} s ({self.elapsed:.0f} s so far)")


@dataclass(frozen=True)
class MaterialMade(Event):
    """The run generated a secret (a private key, a consumer secret) for ``app``."""

    shown: ClassVar[bool] = False
    app: str
    what: str
    secret: Secret

    def __str__(self) -> str:
        return f"generated the {self.what} of app {self.app}"


@dataclass(frozen=True)
class RequestSent(Event):
    """A request to a credential server (method, URL without query, record name if any)."""

    shown: ClassVar[bool] = False
    server: str
    method: str
    url: str
    name: str | None = None

    def __str__(self) -> str:
        named = f" ({self.name!r})" if self.name else ""
        return f"{self.server}: {self.method} {self.url}{named}"


#: Receives every event of a run, on the thread that made it (keep it quick and thread-safe).
Observer = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The observer that ignores everything."""
    return None


def fan_out(*observers: Observer | None) -> Observer:
    """One observer that hands each event to every given one, in order."""
    chosen = [o for o in observers if o is not None]
    if len(chosen) == 1:
        return chosen[0]

    def each(event: Event) -> None:
        for observer in chosen:
            observer(event)

    return each


__all__ = [
    "DeployPolled", "Event", "LoginWaiting", "MaterialMade", "Observer", "RequestSent", "SpecWarning",
    "Step",
    "fan_out", "ignore",
]
