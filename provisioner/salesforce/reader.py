"""Read the apps that exist in an org: both app types, ten components a call, orgs in parallel.

A Connected App is one ``ConnectedApp`` component; an External Client App is five components
whose ``fullName`` follows :func:`provisioner.metadata.eca_full_names` (``NAME``, ``NAME_oauth``,
``NAME_glbloauth``, ``NAME_oauthPlcy``, ``NAME_plcy``). Each type is read with ``readMetadata`` in
batches of at most ten names (the Metadata API's limit). A name the org does not have comes back
as an empty record whose ``fullName`` is nil: that component is absent. Records become
:class:`provisioner.metadata.Component` values (consumer secrets are never returned by reads).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from provisioner.errors import ProvisionerError
from provisioner.metadata import (
    CONNECTED_APP,
    ECA_HEADER,
    AppView,
    Component,
    eca_full_names,
    from_crud,
    live_view,
)
from provisioner.model import AppType
from provisioner.salesforce.connection import OrgConnection

#: The Metadata API's limit for readMetadata and the other CRUD calls.
BATCH_SIZE = 10
ECA_TYPES: tuple[str, ...] = tuple(eca_full_names("X"))
_APP_TYPES: Mapping[str, AppType] = {ECA_HEADER: "externalClientApp", CONNECTED_APP: "connectedApp"}


@dataclass(frozen=True)
class LiveApp:
    """An app as the org has it: the components found, and the ECA component types missing."""

    api_name: str
    app_type: AppType
    components: tuple[Component, ...]
    missing: tuple[str, ...] = ()

    @property
    def view(self) -> AppView:
        """The normalised view the planner compares with the desired one."""
        return live_view(self.components)

    def component(self, type_name: str) -> Component | None:
        """The component of ``type_name``, when the org has it."""
        return next((c for c in self.components if c.type == type_name), None)


def _batches(names: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(names), BATCH_SIZE):
        yield list(names[start : start + BATCH_SIZE])


def _as_list(result: Any) -> list[Any]:
    # simple-salesforce unwraps a one-element answer; zeep gives None for an empty one.
    if result is None:
        return []
    return list(result) if isinstance(result, (list, tuple)) else [result]


def read_components(
    conn: OrgConnection, type_name: str, full_names: Sequence[str]
) -> dict[str, Component]:
    """``{fullName: Component}`` for the names of one type the org has (absent names left out)."""
    found: dict[str, Component] = {}
    unique = list(dict.fromkeys(full_names))
    for batch in _batches(unique):

        def read(sf: Any, batch: list[str] = batch) -> Any:
            return getattr(sf.mdapi, type_name).read(batch)

        for record in _as_list(conn.call(f"readMetadata {type_name}", read)):
            values = getattr(record, "__values__", record)
            name = values.get("fullName") if isinstance(values, Mapping) else None
            if name:
                found[str(name)] = from_crud(type_name, record)
    return found


def read_apps(
    conn: OrgConnection, wanted: Sequence[tuple[str, AppType]]
) -> dict[str, LiveApp | None]:
    """The live state of each wanted app (``None`` when the org has none of its components)."""
    ca_names = [name for name, kind in wanted if kind == "connectedApp"]
    eca_names = [name for name, kind in wanted if kind == "externalClientApp"]
    out: dict[str, LiveApp | None] = {}
    if ca_names:
        found = read_components(conn, CONNECTED_APP, ca_names)
        for name in ca_names:
            comp = found.get(name)
            out[name] = LiveApp(name, "connectedApp", (comp,)) if comp else None
    if eca_names:
        # The five component types are independent reads: issue them side by side (a bounded
        # few at a time), so an org's read costs about one type's round trips, not five.
        _ = conn.sf.mdapi  # build the shared zeep client once, before the threads use it
        with ThreadPoolExecutor(max_workers=len(ECA_TYPES)) as pool:
            futures = {
                t: pool.submit(read_components, conn, t, [eca_full_names(n)[t] for n in eca_names])
                for t in ECA_TYPES
            }
            by_type = {t: futures[t].result() for t in ECA_TYPES}
        for name in eca_names:
            names = eca_full_names(name)
            comps = tuple(by_type[t][names[t]] for t in ECA_TYPES if names[t] in by_type[t])
            missing = tuple(t for t in ECA_TYPES if names[t] not in by_type[t])
            out[name] = LiveApp(name, "externalClientApp", comps, missing) if comps else None
    return out


def list_app_types(conn: OrgConnection) -> dict[str, AppType]:
    """Every app in the org by API name, with its type (one ``listMetadata`` call)."""

    def list_both(sf: Any) -> Any:
        queries = [sf.mdapi.ListMetadataQuery(type=t) for t in _APP_TYPES]
        return sf.mdapi.list_metadata(queries)

    apps: dict[str, AppType] = {}
    for item in _as_list(
        conn.call("listMetadata ExternalClientApplication, ConnectedApp", list_both)
    ):
        values = getattr(item, "__values__", item)
        kind = _APP_TYPES.get(str(values.get("type")))
        if kind and values.get("fullName"):
            apps[str(values["fullName"])] = kind
    return dict(sorted(apps.items()))


def list_apps(conn: OrgConnection) -> list[str]:
    """The API names of every External Client App and Connected App in the org, sorted."""
    return list(list_app_types(conn))


def read_orgs(
    connections: Mapping[str, OrgConnection],
    wanted_by_org: Mapping[str, Sequence[tuple[str, AppType]]],
    max_workers: int = 4,
) -> dict[str, dict[str, LiveApp | None]]:
    """:func:`read_apps` for several orgs at once (independent orgs, at most ``max_workers``).

    Every org is read to the end; then the first failure, in org-name order, is raised.
    """
    names = sorted(wanted_by_org)
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(names)))) as pool:
        futures = {n: pool.submit(read_apps, connections[n], wanted_by_org[n]) for n in names}
        results: dict[str, dict[str, LiveApp | None]] = {}
        failure: ProvisionerError | None = None
        for name in names:
            try:
                results[name] = futures[name].result()
            except ProvisionerError as exc:
                failure = failure or exc
    if failure is not None:
        raise failure
    return results
