"""The protocol every app kind implements: what differs between Salesforce app types.

An *app kind* is one Salesforce app type (External Client App, Connected App). The engine, the
org reader, render and the spec checks never branch on a type name: they ask the kind of an app
(:func:`provisioner.appkinds.app_kind`) for what differs: the components to build and their
names, what to read from an org and how to put it together, the members a destroy deletes, the
JWT audience its logins carry, how an existing app gets a new consumer secret, and whether an
org may refuse to create one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from provisioner.metadata.types import Component
from provisioner.metadata.view import AppView
from provisioner.model import AppSpec, OrgSpec
from provisioner.secret import Secret


@dataclass(frozen=True)
class Material:
    """What an apply generated (or state keeps) for one app's components; all optional.

    ``names`` are the ``fullName`` the org already gives the app's components, by type (read
    back): a deploy updates those components in place instead of adding a second set.
    ``rotate_consumer_secret`` asks the org to generate a new consumer secret for an existing
    app (the kind's ``secret_rotation`` says whether it can).
    """

    certificate_pem: str | None = None
    consumer_key: str | None = None
    consumer_secret: Secret | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    rotate_consumer_secret: bool = False


#: How an existing app of a kind gets a new consumer secret: ``"none"`` (it cannot: only a new
#: app gets one), ``"generated"`` (a deploy asks the org to generate one, which is then read back
#: from the component of type ``secret_type``).
SecretRotation = Literal["none", "generated"]


class AppKind(Protocol):
    """One Salesforce app type, as everything outside its module sees it."""

    #: The spec's ``appType`` value (also kept in state and plans).
    type_name: str
    #: How people call it ("External Client App").
    label: str
    #: Metadata type whose ``listMetadata`` answer names every app of this kind in an org.
    header_type: str
    #: Every metadata type one app of this kind consists of.
    component_types: tuple[str, ...]
    #: Longest API name Salesforce accepts for it.
    api_name_max: int
    #: How an existing app gets a new consumer secret.
    secret_rotation: SecretRotation
    #: The metadata type whose ``consumerSecret`` a read returns (with ``"generated"``).
    secret_type: str
    #: Whether an org may refuse to create one (then plan asks the org with a check-only deploy).
    creation_may_be_refused: bool
    #: Whether its JWT logins carry the org's My Domain URL as audience (else the login host).
    audience_is_my_domain: bool
    #: Shown by ``validate`` for every app of this kind (None: nothing to say).
    spec_warning: str | None
    #: Per component type, the fields a spec manages (nested ones dotted): an update keeps the
    #: org's other fields (:mod:`provisioner.metadata.merge`).
    managed_fields: Mapping[str, frozenset[str]]

    def build(
        self,
        app: AppSpec,
        org: OrgSpec,
        callback_urls: Sequence[str],
        material: Material,
        *,
        placeholders: bool = False,
    ) -> list[Component]:
        """The components that deploy ``app``, in package order."""
        ...

    def component_names(self, api_name: str) -> dict[str, str]:
        """``{metadata type: fullName}`` of the components of app ``api_name``."""
        ...

    def assemble(
        self, api_name: str, found: Mapping[str, Mapping[str, Component]]
    ) -> tuple[tuple[Component, ...], tuple[str, ...]] | None:
        """The app's components among ``found`` (``{type: {fullName: Component}}`` read from the
        org) and the types missing; None when the org has none of them."""
        ...

    def desired_extras(self) -> dict[str, Any]:
        """View fields only this kind has, with the values every app of it should have."""
        ...

    def live_view(self, by_type: Mapping[str, Component]) -> AppView:
        """The comparable view of an app read back (``{type: Component}``)."""
        ...

    def note_for(self, component: Component) -> str | None:
        """A note ``render`` shows next to one of its component files (None: nothing)."""
        ...
