"""Credential targets: the record format of the automation server credentials are written for.

A *target* turns (credential spec, client id, secret, audience) into a record and says what the
engine must know about that format without knowing the server: the record type, which fields
are public and which one holds the secret, the record id it gives a new record, the OAuth
callback URL of an instance, the link where a person connects an OAuth record, and which field
changes replace stored data or need a reconnect. Workflow² (n8n) is the target today
(:mod:`provisioner.workflow2.target`); a second server registers its own with
:func:`register_target`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from provisioner.model import CredentialSpec, CredentialType, WorkflowInstanceSpec
    from provisioner.secret import Secret
    from provisioner.workflow2.records import CredentialRecord


class CredentialTarget(Protocol):
    """One automation server's credential format, as the engine sees it."""

    #: The target's name (``workflow2``).
    name: str

    def record_type(self, cred_type: CredentialType) -> str:
        """The server's type name of the record a credential of ``cred_type`` becomes."""
        ...

    def secret_field(self, cred_type: CredentialType) -> str:
        """The field holding the record's secret (a private key, a client secret)."""
        ...

    def public_fields(self, cred: CredentialSpec, client_id: str,
                      my_domain_url: str | None) -> dict[str, str]:
        """The record's non-secret fields and their values."""
        ...

    def build_record(self, *, record_id: str, cred: CredentialSpec, client_id: str,
                     secret: Secret, my_domain_url: str | None,
                     schema: Mapping[str, Any] | None) -> CredentialRecord:
        """The record to write (checked against the server's ``schema`` when known)."""
        ...

    def derive_record_id(self, instance: str, name: str) -> str:
        """The id a new record of credential ``name`` on ``instance`` gets (stable)."""
        ...

    def callback_url(self, spec: WorkflowInstanceSpec) -> str:
        """The instance's OAuth callback URL, offline: the spec's override, else derived."""
        ...

    def resolve_callback_url(self, spec: WorkflowInstanceSpec) -> str:
        """The instance's OAuth callback URL as the running server publishes it, when it does."""
        ...

    def connect_link(self, server_url: str, record_id: str) -> str:
        """Where a person opens the record to connect it (OAuth consent)."""
        ...

    def replaces_data(self, cred_type: CredentialType, fields: Collection[str]) -> bool:
        """Whether changing ``fields`` must replace the stored data rather than merge it."""
        ...

    def reconnect_needed(self, cred_type: CredentialType, fields: Collection[str]) -> bool:
        """Whether changing ``fields`` drops a connected OAuth token (a person reconnects)."""
        ...

    def is_connected(self, data: Mapping[str, Any]) -> bool:
        """Whether stored record ``data`` holds a connected OAuth token."""
        ...

    def requested_scopes(self, cred_type: CredentialType) -> tuple[str, ...]:
        """The OAuth scopes (``full``, ``refresh_token``...) the server's credential asks the
        org for when a person connects it: the app must grant every one of them."""
        ...


_TARGETS: dict[str, CredentialTarget] = {}


def register_target(target: CredentialTarget) -> None:
    """Make ``target`` known by its name."""
    _TARGETS[target.name] = target


@contextmanager
def target_registered(target: CredentialTarget) -> Iterator[None]:
    """``target`` registered for the duration of the block, the previous one restored after
    (tests wrap the real target this way: no patching of its code)."""
    previous = _TARGETS.get(target.name)
    register_target(target)
    try:
        yield
    finally:
        if previous is None:
            _TARGETS.pop(target.name, None)
        else:
            register_target(previous)


def target_for(spec: WorkflowInstanceSpec) -> CredentialTarget:
    """The target of an instance (every ``WorkflowInstance`` is a Workflow² server today)."""
    if "workflow2" not in _TARGETS:
        from provisioner.workflow2.target import TARGET

        register_target(TARGET)
    return _TARGETS["workflow2"]
