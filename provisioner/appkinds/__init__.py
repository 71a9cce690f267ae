"""App kinds: one module per Salesforce app type behind one protocol, and their registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from provisioner.appkinds.base import AppKind, Material
from provisioner.appkinds.registry import (
    DEFAULT_TYPE,
    app_kind,
    kind_of_components,
    kinds,
    register,
    unregister,
)
from provisioner.metadata.types import Component
from provisioner.model import AppSpec, OrgSpec
from provisioner.secret import Secret


def build_components(
    app: AppSpec,
    org: OrgSpec,
    callback_urls: Sequence[str],
    *,
    certificate_pem: str | None = None,
    consumer_key: str | None = None,
    consumer_secret: Secret | None = None,
    names: Mapping[str, str] | None = None,
    rotate_consumer_secret: bool = False,
    placeholders: bool = False,
) -> list[Component]:
    """The components that deploy ``app`` to ``org``, in package order.

    ``callback_urls`` are the resolved URLs (``Desired.callback_urls``). Generated material is
    optional: the certificate PEM (public), the consumer key (create only: pass it only when
    creating) and the consumer secret. With ``placeholders`` (render), material not given is a
    :class:`~provisioner.metadata.types.Placeholder` that renders as a comment; otherwise it is
    left out. ``names`` are the component names the org already uses (an existing app's).
    ``rotate_consumer_secret`` asks the org to generate a new secret for an existing app.
    """
    material = Material(certificate_pem, consumer_key, consumer_secret, dict(names or {}),
                        rotate_consumer_secret)
    return app_kind(app.app_type).build(app, org, callback_urls, material,
                                        placeholders=placeholders)


__all__ = [
    "DEFAULT_TYPE",
    "AppKind",
    "Material",
    "app_kind",
    "build_components",
    "kind_of_components",
    "kinds",
    "register",
    "unregister",
]
