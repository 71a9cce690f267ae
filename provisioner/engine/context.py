"""The run context: one signed-in connection per org, one sink per Workflow² instance, per run.

Small ``build_*`` functions wire the adapters so tests can pass real collaborators (the sandbox
org, a temporary state directory, a real Workflow² server) without patching internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from provisioner.engine.services import Services
from provisioner.errors import SecretReferenceError
from provisioner.events import Observer, Step, fan_out, ignore
from provisioner.model import Desired
from provisioner.state import DEFAULT_STATE_PATH

if TYPE_CHECKING:
    from provisioner.salesforce.connection import OrgConnection
    from provisioner.sinks import CredentialSink
    from provisioner.targets import CredentialTarget



@dataclass(frozen=True)
class RunOptions:
    """How a plan/apply run behaves (built by the CLI from its flags).

    ``services`` are what the run takes from outside (sign-in, keys, clock, an observer): see
    :class:`~provisioner.engine.services.Services`.
    """

    #: A local state file, or ``git+URL[#BRANCH]`` (:mod:`provisioner.gitstate`).
    state_path: Path | str = DEFAULT_STATE_PATH
    #: Seconds to wait for a state lock another run holds.
    lock_timeout: float = 0.0
    verify_timeout: float = 600.0
    deploy_timeout: float = 1800.0
    force_rotate: frozenset[str] = frozenset()
    force_secret: frozenset[str] = frozenset()
    #: ``rotate --now``: revoke these apps' keys before the new ones are live.
    revoke: frozenset[str] = frozenset()
    prune: bool = False
    destroy: frozenset[str] = frozenset()
    allow_plaintext_secrets: bool = False
    max_workers: int = 4
    #: JWT logins verified at once: they wait on the network (and on propagation), not the CPU.
    max_logins: int = 48
    #: Files per Metadata API deploy (Salesforce's limit); larger org changes are split.
    max_deploy_files: int = 10_000
    environ: Mapping[str, str] | None = None
    services: Services = field(default_factory=Services)
    #: ``--org`` / ``--app``: only these orgs' and apps' changes are planned for apply.
    target_orgs: frozenset[str] = frozenset()
    target_apps: frozenset[str] = frozenset()


class RunContext:
    """Connections and sinks opened lazily for one run, closed together at the end."""

    def __init__(self, desired: Desired, options: RunOptions, observer: Observer = ignore) -> None:
        self.desired = desired
        self.options = options
        self.services = options.services
        #: The caller's observer and the services' one, as one.
        self.observe: Observer = fan_out(observer, options.services.observer)
        self._connections: dict[str, OrgConnection] = {}
        self._sinks: dict[str, CredentialSink] = {}

    # -- Salesforce ----------------------------------------------------------------------------
    def connection(self, org_name: str) -> OrgConnection:
        """The signed-in connection to ``org_name`` (sign-in happens once per run)."""
        if org_name not in self._connections:
            self._connections[org_name] = self.services.connector(
                self.desired.orgs[org_name], self.options, self.observe
            )
        return self._connections[org_name]

    def now(self) -> datetime:
        """The run's clock."""
        return self.services.clock()

    def progress(self, text: str) -> None:
        """Report a progress line."""
        self.observe(Step(text))

    # -- credential targets and sinks ------------------------------------------------------
    def target(self, instance: str) -> CredentialTarget:
        """The record format of ``instance``'s server."""
        from provisioner.targets import target_for

        return target_for(self.desired.instances[instance])

    def sink(self, instance: str) -> CredentialSink:
        """The sink records of ``instance`` are written to (built once per run)."""
        if instance not in self._sinks:
            from provisioner.sinks import SinkOptions, build_sink

            self._sinks[instance] = build_sink(
                self.desired.instances[instance], self.target(instance),
                SinkOptions(self.options.environ, self.options.allow_plaintext_secrets,
                            self.observe))
        return self._sinks[instance]

    def close(self) -> None:
        """Close every connection (stopping an embedded sandbox org)."""
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    def __enter__(self) -> RunContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def preflight(desired: Desired, environ: Mapping[str, str] | None) -> None:
    """Resolve every secret reference the run will need, before anything remote is touched.

    One missing variable or unreadable file would otherwise surface only after the first orgs
    were read (or, in apply, changed); this reports all of them at once, each with its spec.
    """
    from provisioner.model import AccessTokenAuth, JwtBearerAuth, SecretRef, SfdxAuthUrlAuth

    problems: list[str] = []

    def check(where: str, *refs: object) -> None:
        for ref in refs:
            if isinstance(ref, SecretRef):
                try:
                    ref.resolve(environ)
                except SecretReferenceError as exc:
                    problems.append(f"{where}: {exc.message}")

    for org in desired.orgs.values():
        where = f"{org.source}: SalesforceOrg {org.name!r}"
        auth = org.auth
        if isinstance(auth, JwtBearerAuth):
            check(where, auth.client_id, auth.username, auth.private_key)
        elif isinstance(auth, SfdxAuthUrlAuth):
            check(where, auth.auth_url)
        elif isinstance(auth, AccessTokenAuth):
            check(where, auth.access_token, auth.instance_url)
    used = {c.instance for a in desired.apps.values() for c in a.credentials}
    for inst in desired.instances.values():
        if inst.name not in used:
            continue
        from provisioner.sinks import sink_factory

        where = f"{inst.source}: WorkflowInstance {inst.name!r}"
        check(where, inst.api_key if sink_factory(inst.sink.type).remote else None)
        check(where, *inst.sink.secret_refs())
    if problems:
        raise SecretReferenceError(
            "secret references cannot be resolved:\n  " + "\n  ".join(problems),
            "set the environment variables (or create the files) named above; nothing was "
            "read or changed",
        )

