"""``provisioner check``: a read-only preflight of every org and Workflow² instance the specs
name, as a checklist with the fix for each miss.

It signs in and asks what an apply will need: the API version, My Domain, the deploy user's
access to External Client App metadata and to consumer secrets, the permission sets, profiles
and JWT users the specs name, and each Workflow² instance's API key, capabilities and credential
schemas. Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from provisioner.engine.context import RunContext, RunOptions
from provisioner.engine.inputs import OrgFacts
from provisioner.errors import ProvisionerError
from provisioner.events import Observer
from provisioner.model import Desired

Status = Literal["pass", "fail", "skip"]
#: Version of the ``check --format json`` document; bump on incompatible changes.
CHECK_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CheckItem:
    """One requirement of one org or instance, and whether it holds."""

    target: str
    requirement: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The item as ``check --format json`` prints it."""
        return {"target": self.target, "requirement": self.requirement, "status": self.status,
                "detail": self.detail, "fix": self.fix}


class _Checklist:
    def __init__(self) -> None:
        self.items: list[CheckItem] = []

    def add(self, target: str, requirement: str, status: Status, detail: str,
            fix: str | None = None) -> None:
        self.items.append(CheckItem(target, requirement, status, detail, fix))

    def run(self, target: str, requirement: str, probe: Callable[[], str],
            fix: Callable[[ProvisionerError], str]) -> bool:
        """``probe`` returns the detail of a pass; a project error is a fail with ``fix``."""
        try:
            detail = probe()
        except ProvisionerError as exc:
            self.add(target, requirement, "fail", exc.message, fix(exc))
            return False
        self.add(target, requirement, "pass", detail)
        return True


def _api_versions(ctx: RunContext, org_name: str) -> list[str]:
    conn = ctx.connection(org_name)

    def fetch(sf: Any) -> Any:
        resp = sf.session.get(f"{conn.instance_url.rstrip('/')}/services/data/",
                              headers=sf.headers, timeout=60)
        resp.raise_for_status()
        return resp.json()

    body = conn.call("list API versions", fetch)
    return [str(v.get("version")) for v in body if isinstance(v, dict)] if isinstance(
        body, list) else []


def _check_org(ctx: RunContext, org_name: str, out: _Checklist) -> None:
    from provisioner.appkinds import app_kind
    from provisioner.salesforce import endpoints
    from provisioner.salesforce.reader import list_names, read_components
    from provisioner.salesforce.references import check_references, references

    org = ctx.desired.orgs[org_name]
    target = f"org {org_name}"
    apps = ctx.desired.apps_in(org_name)
    conn = ctx.connection(org_name)

    def sign_in() -> str:
        _ = conn.sf
        return f"signed in to {conn.instance_url}"

    if not out.run(target, "sign-in", sign_in,
                   lambda e: e.hint or f"check spec.auth in {org.source}"):
        out.add(target, "the other org checks", "skip", "not signed in")
        return

    def version() -> str:
        found = _api_versions(ctx, org_name)
        if org.api_version not in found:
            raise ProvisionerError(
                f"the org answers API versions {found[0] if found else '?'} to "
                f"{found[-1] if found else '?'}, not {org.api_version}")
        return f"{org.api_version} is served"

    out.run(target, f"API version {org.api_version}", version,
            lambda e: f"set spec.apiVersion in {org.source} to a version the org serves")
    needs_domain = [a.name for a in apps if app_kind(a.app_type).audience_is_my_domain]
    domain = endpoints.my_domain_url(org, conn)
    if domain:
        out.add(target, "My Domain URL", "pass", domain)
    elif needs_domain:
        out.add(target, "My Domain URL", "fail",
                f"not set, and app(s) {', '.join(needs_domain)} sign in with it as audience",
                f"set spec.myDomainUrl in {org.source} (Setup > My Domain)")
    else:
        out.add(target, "My Domain URL", "pass", "not set (no app here needs it)")
    out.run(target, "External Client App metadata", lambda: (
        f"{len(list_names(conn, ['ExternalClientApplication'])['ExternalClientApplication'])} "
        "External Client App(s) listed"),
        lambda e: "give the deploy user 'Customize Application' and 'Manage External Client "
                  "Apps' (or 'Modify All Data')")
    def secrets_readable() -> str:
        read_components(conn, "ExtlClntAppGlobalOauthSettings", ["Provisioner_Check"])
        return "the deploy user may read External Client App global OAuth settings"

    out.run(target, "consumer secrets through the Metadata API", secrets_readable,
        lambda e: "turn on the org setting 'Allow Access to OAuth Consumer Secrets via Metadata "
                  "API' and give the deploy user 'View External Client Apps Consumer Secrets in "
                  "Metadata'")
    refs = references(apps)
    misses, unknown = check_references(conn, refs)
    for kind in ("permission set", "profile", "user"):
        named = sorted({r.name for r in refs if r.kind == kind})
        if not named:
            continue
        label = {"permission set": "permission sets exist", "profile": "profiles exist",
                 "user": "JWT users exist and are active"}[kind]
        if unknown:
            out.add(target, label, "skip", unknown)
            continue
        mine = [m for m in misses if m.ref.kind == kind]
        if mine:
            out.add(target, label, "fail",
                    "; ".join(f"{m.ref.location}: {m.problem} ({m.ref.path})" for m in mine),
                    mine[0].fix)
        else:
            out.add(target, label, "pass", ", ".join(named))


def _check_instance(ctx: RunContext, name: str, out: _Checklist) -> None:
    from provisioner.engine.live import record_field_problems
    from provisioner.salesforce import endpoints

    target = f"Workflow² {name}"
    sink = ctx.sink(name)
    preflight = getattr(sink, "preflight", None)
    if callable(preflight):
        try:
            for requirement, ok, detail, fix in preflight():
                out.add(target, requirement, "pass" if ok else "fail", detail,
                        None if ok else fix)
        except ProvisionerError as exc:
            out.add(target, "reachable", "fail", exc.message, exc.hint)
            out.add(target, "the other instance checks", "skip", "not reachable")
            return
    problems: list[str] = []
    for app in ctx.desired.apps.values():
        org = ctx.desired.orgs[app.org]
        facts = OrgFacts(my_domain_url=endpoints.my_domain_url(org), login_host=org.login_url)
        for cred in app.credentials:
            if cred.instance == name:
                try:
                    problems += record_field_problems(ctx, app, cred, facts)
                except ProvisionerError as exc:
                    problems.append(exc.message)
    if problems:
        fix = problems[0].partition(" hint: ")[2]
        out.add(target, "credential schemas hold every field written", "fail",
                "; ".join(p.partition(" hint: ")[0] for p in problems), fix or None)
    else:
        out.add(target, "credential schemas hold every field written", "pass",
                "every record the specs ask for fits the server's schemas")


def run_checks(desired: Desired, options: RunOptions, progress: Observer) -> list[CheckItem]:
    """Every check of every org and used instance, in order; never writes."""
    out = _Checklist()
    with RunContext(desired, options, progress) as ctx:
        for org_name in sorted(desired.orgs):
            ctx.progress(f"checking org {org_name}")
            _check_org(ctx, org_name, out)
        used = sorted({c.instance for a in desired.apps.values() for c in a.credentials})
        for name in used:
            ctx.progress(f"checking Workflow² {name}")
            _check_instance(ctx, name, out)
    return out.items
