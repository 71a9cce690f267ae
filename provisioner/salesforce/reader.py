"""Read the apps that exist in an org: every app kind, ten components a call, orgs in parallel.

Each app's kind (:mod:`provisioner.appkinds`) names the components it consists of; every
component type is read with ``readMetadata`` in batches of at most ten names (the Metadata API's
limit), the types side by side. A name the org does not have comes back
as an empty record whose ``fullName`` is nil: that component is absent. Records become
:class:`provisioner.metadata.Component` values (consumer secrets are never returned by reads).

Component names other than the header's are a convention, not a rule: when an app's header is
there but a part is not found under its usual name, the org's components of that type are
listed (``listMetadata``, three types a call) and read, and the kind finds the app's part among
them by the parent it names. So an app made by another tool is read whole, under its own names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from provisioner.appkinds import app_kind, kinds
from provisioner.metadata import AppView, Component, from_crud
from provisioner.salesforce.connection import OrgConnection

#: The Metadata API's limit for readMetadata and the other CRUD calls.
BATCH_SIZE = 10


@dataclass(frozen=True)
class OrgApp:
    """An app as the org has it: the components found, and the component types missing."""

    api_name: str
    app_type: str
    components: tuple[Component, ...]
    missing: tuple[str, ...] = ()

    @property
    def view(self) -> AppView:
        """The normalised view the planner compares with the desired one."""
        return app_kind(self.app_type).live_view({c.type: c for c in self.components})

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


def _read_batch(conn: OrgConnection, type_name: str, batch: list[str]) -> dict[str, Component]:
    def read(sf: Any) -> Any:
        return getattr(sf.mdapi, type_name).read(batch)

    found: dict[str, Component] = {}
    for record in _as_list(conn.call(f"readMetadata {type_name}", read)):
        values = getattr(record, "__values__", record)
        name = values.get("fullName") if isinstance(values, Mapping) else None
        if name:
            found[str(name)] = from_crud(type_name, record)
    return found


def read_components(
    conn: OrgConnection, type_name: str, full_names: Sequence[str]
) -> dict[str, Component]:
    """``{fullName: Component}`` for the names of one type the org has (absent names left out)."""
    return _read_types(conn, {type_name: full_names})[type_name]


#: Reads of one org in flight at once (Salesforce allows 25 concurrent long-running API calls
#: per org; reads are short, and a pipeline may run several orgs side by side).
MAX_READS_IN_FLIGHT = 8


def _read_types(conn: OrgConnection, requests: Mapping[str, Sequence[str]]
                ) -> dict[str, dict[str, Component]]:
    """``{type: {fullName: Component}}`` for the named components of each type.

    Every batch of every type is an independent read: they go out side by side (at most
    :data:`MAX_READS_IN_FLIGHT`), so an org's read costs about one round trip, not one per batch.
    """
    jobs = [(t, batch) for t, names in requests.items()
            for batch in _batches(list(dict.fromkeys(names)))]
    out: dict[str, dict[str, Component]] = {t: {} for t in requests}
    if len(jobs) <= 1:
        for t, batch in jobs:
            out[t].update(_read_batch(conn, t, batch))
        return out
    _ = conn.sf.mdapi  # build the shared zeep client once, before the threads use it
    with ThreadPoolExecutor(max_workers=min(MAX_READS_IN_FLIGHT, len(jobs))) as pool:
        futures = [(t, pool.submit(_read_batch, conn, t, batch)) for t, batch in jobs]
        for t, future in futures:
            out[t].update(future.result())
    return out


#: The Metadata API's limit of queries in one listMetadata call.
LIST_QUERIES = 3


def list_names(conn: OrgConnection, types: Sequence[str]) -> dict[str, list[str]]:
    """``{type: [fullName, ...]}`` of every component of ``types`` in the org (sorted)."""
    out: dict[str, list[str]] = {t: [] for t in types}
    for start in range(0, len(types), LIST_QUERIES):
        chunk = list(types[start: start + LIST_QUERIES])

        def list_chunk(sf: Any, chunk: list[str] = chunk) -> Any:
            return sf.mdapi.list_metadata([sf.mdapi.ListMetadataQuery(type=t) for t in chunk])

        for item in _as_list(conn.call(f"listMetadata {', '.join(chunk)}", list_chunk)):
            values = getattr(item, "__values__", item)
            kind = str(values.get("type"))
            if kind in out and values.get("fullName"):
                out[kind].append(str(values["fullName"]))
    return {t: sorted(set(names)) for t, names in out.items()}


def read_apps(
    conn: OrgConnection, wanted: Sequence[tuple[str, str]]
) -> dict[str, OrgApp | None]:
    """The live state of each wanted ``(api name, app type)`` (None when the org has none of its
    components)."""
    requests: dict[str, list[str]] = {}
    for api_name, type_name in wanted:
        for comp_type, full_name in app_kind(type_name).component_names(api_name).items():
            requests.setdefault(comp_type, []).append(full_name)
    found = _read_types(conn, requests)
    # Parts not found under their usual names: look for them under any name.
    unnamed: set[str] = set()
    for api_name, type_name in wanted:
        kind = app_kind(type_name)
        parts = kind.assemble(api_name, found)
        if parts is not None:
            unnamed |= set(parts[1]) - {kind.header_type}
    if unnamed:
        listed = list_names(conn, sorted(unnamed))
        more = {t: [n for n in names if n not in requests.get(t, ())]
                for t, names in listed.items()}
        for comp_type, extra in _read_types(conn, {t: n for t, n in more.items() if n}).items():
            found.setdefault(comp_type, {}).update(extra)
    out: dict[str, OrgApp | None] = {}
    for api_name, type_name in wanted:
        parts = app_kind(type_name).assemble(api_name, found)
        out[api_name] = OrgApp(api_name, type_name, *parts) if parts is not None else None
    return out


def list_app_types(conn: OrgConnection) -> dict[str, str]:
    """Every app in the org by API name, with its type (one ``listMetadata`` call)."""
    by_header = {k.header_type: k.type_name for k in kinds().values()}

    def list_all(sf: Any) -> Any:
        queries = [sf.mdapi.ListMetadataQuery(type=t) for t in by_header]
        return sf.mdapi.list_metadata(queries)

    apps: dict[str, str] = {}
    for item in _as_list(conn.call(f"listMetadata {', '.join(by_header)}", list_all)):
        values = getattr(item, "__values__", item)
        kind = by_header.get(str(values.get("type")))
        if kind and values.get("fullName"):
            apps[str(values["fullName"])] = kind
    return dict(sorted(apps.items()))


def list_apps(conn: OrgConnection) -> list[str]:
    """The API names of every app of every kind in the org, sorted."""
    return list(list_app_types(conn))


def read_orgs(
    connections: Mapping[str, OrgConnection],
    wanted_by_org: Mapping[str, Sequence[tuple[str, str]]],
    max_workers: int = 4,
) -> dict[str, dict[str, OrgApp | None]]:
    """:func:`read_apps` for several orgs at once (independent orgs, at most ``max_workers``).

    Every org is read to the end; then the first failure, in org-name order, is raised.
    """
    from provisioner.parallel import each

    return each(sorted(wanted_by_org), lambda n: read_apps(connections[n], wanted_by_org[n]),
                max_workers=max_workers, label="read")
