"""An example app kind that exists only in the tests: the seam a new app type plugs into.

"Metadata-named External Client App": the same five Salesforce components as an External Client
App, but with the child names that apps made through the Metadata API (rather than Setup) often
carry, e.g. ``NAMEGlblOAuth`` instead of ``NAME_glbloauth``. Everything type-specific lives in
this one class; the engine, the org reader, render and the spec checks find it through
:func:`provisioner.appkinds.register`.

A product app kind touches at most three product files: its module under
``provisioner/appkinds/``, the ``register(...)`` line in ``provisioner/appkinds/registry.py``, and
the ``appType`` enum in ``schemas/SalesforceApp.schema.json`` (so specs may name it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from provisioner.appkinds.base import Material
from provisioner.appkinds.external_client_app import ExternalClientAppKind
from provisioner.metadata import (
    ECA_GLOBAL,
    ECA_HEADER,
    ECA_OAUTH,
    ECA_OAUTH_POLICIES,
    ECA_POLICIES,
    Component,
)
from provisioner.model import AppSpec, OrgSpec

TYPE_NAME = "metadataNamedEca"
SUFFIXES = {ECA_OAUTH: "OAuthSettings", ECA_GLOBAL: "GlblOAuth",
            ECA_OAUTH_POLICIES: "OAuthPolicies", ECA_POLICIES: "Policies"}


def names(api_name: str) -> dict[str, str]:
    """This kind's component names."""
    return {ECA_HEADER: api_name, **{t: api_name + s for t, s in SUFFIXES.items()}}


class MetadataNamedEcaKind(ExternalClientAppKind):
    """An External Client App whose children carry Metadata-API-style names."""

    type_name = TYPE_NAME
    label = "External Client App (metadata names)"

    def build(self, app: AppSpec, org: OrgSpec, callback_urls: Sequence[str], material: Material,
              *, placeholders: bool = False) -> list[Component]:
        """The External Client App's components, renamed (labels follow the names)."""
        built = super().build(app, org, callback_urls, material, placeholders=placeholders)
        wanted = names(app.api_name)
        out = []
        for comp in built:
            fields = dict(comp.fields)
            if comp.type != ECA_HEADER:
                fields["label"] = wanted[comp.type]
            out.append(Component(comp.type, wanted[comp.type], fields))
        return out

    def component_names(self, api_name: str) -> dict[str, str]:
        """The renamed children."""
        return names(api_name)

    def assemble(self, api_name: str, found: Mapping[str, Mapping[str, Component]]
                 ) -> tuple[tuple[Component, ...], tuple[str, ...]] | None:
        """Found under this kind's names."""
        wanted = names(api_name)
        have = {t: found.get(t, {}).get(n) for t, n in wanted.items()}
        comps = tuple(c for c in have.values() if c is not None)
        return (comps, tuple(t for t, c in have.items() if c is None)) if comps else None


KIND = MetadataNamedEcaKind()
