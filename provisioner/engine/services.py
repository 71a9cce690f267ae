"""The services a run uses from the outside world: sign-in, key generation, the clock, an observer.

:class:`Services` is the one composition seam of a run. The CLI builds the standard set
(``provisioner.cli.main.main(argv, services=None)``); a program embedding provisioner, a test or
a benchmark passes its own: a connector that keeps each connection (to count the org's requests)
or starts the sandbox with faults, pre-made keys, a frozen clock, an observer that sees every
generated secret and every request sent. Nothing in ``tests/`` patches provisioner's internals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

from provisioner.events import Observer, Step
from provisioner.keys import (
    KeyMaterial,
    KeyRequest,
    generate_consumer_key,
    generate_consumer_secret,
    generate_many,
)
from provisioner.secret import Secret

if TYPE_CHECKING:
    from provisioner.engine.context import RunOptions
    from provisioner.model import OrgSpec
    from provisioner.salesforce.connection import OrgConnection


#: How a run signs in to an org: ``(org, options, observer) -> OrgConnection``.
Connector = Callable[["OrgSpec", "RunOptions", Observer], "OrgConnection"]
#: The run's notion of now (timezone-aware UTC).
Clock = Callable[[], datetime]


class KeyMaker(Protocol):
    """Makes the key material a run deploys: key pairs with certificates, consumer keys/secrets."""

    def key_pairs(self, requests: Sequence[KeyRequest], *, max_workers: int
                  ) -> dict[str, KeyMaterial]:
        """A private key and self-signed certificate per request, by request name."""
        ...

    def consumer_key(self) -> str:
        """A new consumer key (public: it is the app's client id)."""
        ...

    def consumer_secret(self) -> Secret:
        """A new consumer secret."""
        ...


class StandardKeys:
    """Fresh RSA keys and random consumer keys/secrets (:mod:`provisioner.keys`)."""

    def key_pairs(self, requests: Sequence[KeyRequest], *, max_workers: int
                  ) -> dict[str, KeyMaterial]:
        return generate_many(requests, max_workers=max_workers)

    def consumer_key(self) -> str:
        return generate_consumer_key()

    def consumer_secret(self) -> Secret:
        return generate_consumer_secret()


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(timezone.utc)


def sign_in(org: OrgSpec, options: RunOptions, observer: Observer) -> OrgConnection:
    """The standard connector: sign in to ``org`` (or start the embedded sandbox org)."""
    from provisioner.salesforce.connection import connect

    observer(Step(f"signing in to org {org.name}" + (" (embedded sandbox)" if org.sandbox else "")))
    return connect(org, environ=options.environ)


@dataclass(frozen=True)
class Services:
    """What a run takes from outside; every field has the standard default."""

    connector: Connector = sign_in
    keys: KeyMaker = field(default_factory=StandardKeys)
    clock: Clock = utc_now
    #: Sees every event of the run besides the caller's own progress display.
    observer: Observer | None = None


__all__ = ["Clock", "Connector", "KeyMaker", "Services", "StandardKeys", "sign_in", "utc_now"]
