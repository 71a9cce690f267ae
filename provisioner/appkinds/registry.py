"""The app kinds by type name: the one place that knows which app types exist.

The two Salesforce app types register here; a new one is a module with a class implementing
:class:`~provisioner.appkinds.base.AppKind` and a :func:`register` call (plus its name in the
spec schema's ``appType`` enum and the model's ``AppType`` alias, for specs to name it).
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioner.appkinds.base import AppKind
from provisioner.appkinds.connected_app import KIND as CONNECTED_APP_KIND
from provisioner.appkinds.external_client_app import KIND as EXTERNAL_CLIENT_APP_KIND

_KINDS: dict[str, AppKind] = {}


def register(kind: AppKind) -> None:
    """Make ``kind`` known by its ``type_name`` (a second registration replaces the first)."""
    _KINDS[kind.type_name] = kind


def unregister(type_name: str) -> None:
    """Forget a kind (for tests that register an example kind)."""
    _KINDS.pop(type_name, None)


def app_kind(type_name: str) -> AppKind:
    """The kind of ``type_name``; ``KeyError`` names the unknown type and the known ones."""
    try:
        return _KINDS[type_name]
    except KeyError:
        raise KeyError(
            f"unknown app type {type_name!r} (known: {', '.join(sorted(_KINDS))})"
        ) from None


def kinds() -> Mapping[str, AppKind]:
    """Every known kind by type name."""
    return dict(_KINDS)


def kind_of_components(types: set[str]) -> AppKind:
    """The kind whose components have these metadata types (a live app's components)."""
    for kind in _KINDS.values():
        if types & set(kind.component_types):
            return kind
    raise ValueError(f"no app kind has components of type(s) {', '.join(sorted(types))}")


register(EXTERNAL_CLIENT_APP_KIND)
register(CONNECTED_APP_KIND)

#: The type new apps get when the spec names none.
DEFAULT_TYPE = EXTERNAL_CLIENT_APP_KIND.type_name
