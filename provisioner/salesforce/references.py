"""Names a spec uses that must exist in its org: permission sets and profiles an app
pre-authorizes, and the users its JWT credentials sign in as.

A deploy naming a missing permission set or profile fails the whole org's transaction, and a JWT
credential for a missing or inactive user fails at its first login. Asked of the org before
anything is deployed (``plan``, ``check``), each miss is reported at the ``file:line`` of the
field that names it. Found through the REST API (one SOQL query per kind of name).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from provisioner.errors import ProvisionerError
from provisioner.model import AppSpec, SourceLocation
from provisioner.salesforce.connection import OrgConnection

RefKind = Literal["permission set", "profile", "user"]

#: kind -> (sObject, the field holding the name)
_SOURCES: dict[RefKind, tuple[str, str]] = {
    "permission set": ("PermissionSet", "Name"),
    "profile": ("Profile", "Name"),
    "user": ("User", "Username"),
}
#: Names per query: SOQL's IN list and the URL stay well inside their limits.
_CHUNK = 100


@dataclass(frozen=True)
class Reference:
    """One name a spec field uses."""

    app: str
    kind: RefKind
    name: str
    path: str
    location: SourceLocation


@dataclass(frozen=True)
class Miss:
    """A reference the org does not satisfy, and how to fix it."""

    ref: Reference
    problem: str
    fix: str

    def format(self, org: str) -> str:
        """``file:line:col: app 'A': ... (path) hint: ...``."""
        return (f"{self.ref.location}: app {self.ref.app!r}: {self.problem} in org {org!r} "
                f"({self.ref.path}) hint: {self.fix}")


def references(apps: Iterable[AppSpec]) -> list[Reference]:
    """Every permission set, profile and JWT username the apps name, with where."""
    out: list[Reference] = []
    for app in apps:
        for i, name in enumerate(app.pre_authorized_permission_sets):
            path = f"spec.preAuthorized.permissionSets[{i}]"
            out.append(Reference(app.name, "permission set", name, path, app.location(path)))
        for i, name in enumerate(app.pre_authorized_profiles):
            path = f"spec.preAuthorized.profiles[{i}]"
            out.append(Reference(app.name, "profile", name, path, app.location(path)))
        for i, cred in enumerate(app.credentials):
            if cred.type == "jwt" and cred.username:
                path = f"spec.credentials[{i}].username"
                out.append(Reference(app.name, "user", cred.username, path, app.location(path)))
    return out


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _found(conn: OrgConnection, kind: RefKind, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{lowercased name: record}`` for the names of one kind the org has."""
    sobject, field = _SOURCES[kind]
    extra = ", IsActive" if kind == "user" else ""
    out: dict[str, dict[str, Any]] = {}
    unique = sorted(set(names))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        soql = (f"SELECT {field}{extra} FROM {sobject} WHERE {field} IN "
                f"({', '.join(_quote(n) for n in chunk)})")

        def run(sf: Any, soql: str = soql) -> Any:
            return sf.query_all(soql)

        result = conn.call(f"query {sobject}", run)
        for record in result.get("records", []) if isinstance(result, dict) else []:
            value = record.get(field)
            if isinstance(value, str):
                out[value.lower()] = record
    return out


def check_references(conn: OrgConnection, refs: Sequence[Reference]
                     ) -> tuple[list[Miss], str | None]:
    """The references the org does not satisfy; and why nothing could be checked, if so (an
    org whose REST API refuses the query is not a miss: the deploy will say)."""
    misses: list[Miss] = []
    for kind in _SOURCES:
        wanted = [r for r in refs if r.kind == kind]
        if not wanted:
            continue
        try:
            found = _found(conn, kind, [r.name for r in wanted])
        except ProvisionerError as exc:
            return misses, f"the names could not be looked up ({exc.message})"
        for ref in wanted:
            record = found.get(ref.name.lower())
            if record is None:
                misses.append(Miss(ref, f"{kind} {ref.name!r} does not exist", _fix(kind)))
            elif kind == "user" and record.get("IsActive") is False:
                misses.append(Miss(ref, f"user {ref.name!r} is inactive",
                                   "activate the user in Setup > Users, or name another one"))
    return misses, None


def _fix(kind: RefKind) -> str:
    if kind == "permission set":
        return ("create or deploy the permission set first, or fix the name (its API name, as "
                "Setup > Permission Sets shows it)")
    if kind == "profile":
        return ("fix the name: profiles are named as the org shows them, which is localized in "
                "orgs whose default language is not English")
    return "create the user first, or fix the username (the login name, not the email)"
