"""Reading what is: apps from each org, records from each Workflow² instance, for the planner.

Reads are batched (ten components per Metadata API call) and independent orgs are read in
parallel. The result also carries digests of what was read, so ``apply PLANFILE`` can refuse a
plan whose org changed since it was made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.engine.context import RunContext
from provisioner.engine.inputs import (
    LiveApp,
    LiveCredential,
    OrgFacts,
    PlanInputs,
    credential_key,
    record_id_for,
)
from provisioner.model import AppSpec, CredentialSpec, Desired
from provisioner.state import State

if TYPE_CHECKING:
    from provisioner.salesforce.connection import OrgConnection


@dataclass
class LiveSnapshot:
    """Everything read from the remote systems for one plan."""

    apps: dict[str, LiveApp | None] = field(default_factory=dict)
    credentials: dict[str, LiveCredential | None] = field(default_factory=dict)
    org_facts: dict[str, OrgFacts] = field(default_factory=dict)
    callback_urls: dict[str, str] = field(default_factory=dict)
    creation_refused: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: app -> why a run for it cannot finish, as ``file:line: ...`` lines (planning errors).
    refusals: dict[str, list[str]] = field(default_factory=dict)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def spec_root(start: Path) -> Path:
    """The folder saved plans name spec files from: the git repository holding ``start``
    (its top level), else the current folder."""
    probe = start.resolve()
    for folder in (probe, *probe.parents):
        if (folder / ".git").exists():
            return folder
    return Path.cwd().resolve()


def spec_file_name(path: Path) -> str:
    """How a saved plan names a spec file: relative to its :func:`spec_root` (so the plan
    applies from any folder of any checkout), absolute when outside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(spec_root(resolved.parent)).as_posix()
    except ValueError:
        return str(resolved)


def file_digest(path: Path) -> str:
    """SHA-256 of a spec file's bytes (a saved plan records them)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wanted_by_org(desired: Desired, state: State) -> dict[str, list[tuple[str, str, str]]]:
    """(app name, API name, type) to read, per org: apps of the specs and apps in state."""
    wanted: dict[str, list[tuple[str, str, str]]] = {}
    for app in desired.apps.values():
        wanted.setdefault(app.org, []).append((app.name, app.api_name, app.app_type))
    for name, st in state.apps.items():
        if name not in desired.apps and st.org in desired.orgs:
            wanted.setdefault(st.org, []).append((name, st.api_name, st.app_type))
    return wanted


def _check_references(ctx: RunContext, snap: LiveSnapshot, pool: ThreadPoolExecutor
                      ) -> Callable[[], None]:
    """Ask each org whether the permission sets, profiles and JWT users its apps name exist
    (in ``pool``, beside the reads); the returned call waits and records the answers."""
    from provisioner.salesforce.references import check_references, references

    asked = []
    for org_name in sorted({a.org for a in ctx.desired.apps.values()}):
        refs = references(ctx.desired.apps_in(org_name))
        if refs:
            asked.append((org_name, pool.submit(check_references, ctx.connection(org_name),
                                                refs)))

    def collect() -> None:
        for org_name, future in asked:
            misses, unknown = future.result()
            if unknown:
                snap.warnings.append(f"org {org_name!r}: {unknown}; a deploy naming a missing "
                                     "permission set or profile fails")
            for miss in misses:
                snap.refusals.setdefault(miss.ref.app, []).append(miss.format(org_name))

    return collect


def record_field_problems(ctx: RunContext, app: AppSpec, cred: CredentialSpec,
                          facts: OrgFacts | None) -> list[str]:
    """Why the record ``cred`` asks for cannot be written as the server's own schema of its type
    stands (an older server lacks a field), each as a planning error at the credential."""
    from provisioner.appkinds import app_kind
    from provisioner.engine.inputs import public_fields

    target = ctx.target(cred.instance)
    record_type = target.record_type(cred.type)
    schema = ctx.sink(cred.instance).schema(record_type)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return []  # a server that publishes no schema: the write itself will say
    wanted = [*public_fields(target, app, cred, None, facts), target.secret_field(cred.type)]
    missing = [f for f in wanted if f not in props]
    if not missing:
        return []
    why = ""
    if "myDomainUrl" in missing and app_kind(app.app_type).audience_is_my_domain:
        why = (f"; without it the server's JWT logins carry the login host as audience, which "
               f"the {app_kind(app.app_type).label} refuses")
    return [
        f"{cred.source}: app {app.name!r}: Workflow² {cred.instance!r} has no field "
        f"{', '.join(missing)} in its {record_type!r} credential (an older version){why} "
        "hint: upgrade Workflow² to a version README.md lists as supported"
        + (", or use appType: connectedApp for this app (the login host is its audience)"
           if why else "")
    ]


def _check_record_fields(ctx: RunContext, snap: LiveSnapshot) -> None:
    """Refuse, before anything is deployed, records the servers cannot hold."""
    for app in ctx.desired.apps.values():
        for cred in app.credentials:
            for line in record_field_problems(ctx, app, cred, snap.org_facts.get(app.org)):
                snap.refusals.setdefault(app.name, []).append(line)


def _check_creation(ctx: RunContext, app: AppSpec) -> str | None:
    """Ask the org (check-only deploy) whether it lets this app be created."""
    from provisioner.appkinds import build_components
    from provisioner.metadata.package import deploy_zip
    from provisioner.salesforce.deploy import PollPolicy, check_only_deploy

    org = ctx.desired.orgs[app.org]
    comps = build_components(app, org, ctx.desired.callback_urls(app))
    result = check_only_deploy(
        ctx.connection(app.org),
        deploy_zip(comps, org.api_version, include_secrets=False),
        poll=PollPolicy(initial=0.1, timeout=ctx.options.deploy_timeout),
    )
    if result.success:
        return None
    problems = [f.problem for f in result.failures] or [result.error_message or result.status]
    return "; ".join(problems)


def read_credentials(
    ctx: RunContext, desired: Desired, state: State, warnings: list[str] | None = None
) -> dict[str, LiveCredential | None]:
    """The live record of every credential the specs ask for, per instance.

    A record is found by the id state recorded (or the deterministic id the target gives new
    records); a credential provisioner never wrote is adopted when exactly one record of its
    name and type exists (made by hand, say), so a first apply updates it instead of adding a
    duplicate.
    """
    out: dict[str, LiveCredential | None] = {}
    by_instance: dict[str, list[tuple[CredentialSpec, str, bool]]] = {}
    for app in desired.apps.values():
        st = state.apps.get(app.name)
        for cred in app.credentials:
            known = st is not None and credential_key(cred) in st.credentials
            rid = record_id_for(cred, st, ctx.target(cred.instance))
            by_instance.setdefault(cred.instance, []).append((cred, rid, known))
    for instance, items in sorted(by_instance.items()):
        sink = ctx.sink(instance)
        ctx.progress(f"reading {len(items)} credential record(s) from Workflow² {instance}")
        live = sink.read([rid for _, rid, _ in items])
        unknown = [(cred, rid) for cred, rid, known in items if live.get(rid) is None and not known]
        adopted = _adoptable(ctx, instance, unknown, warnings if warnings is not None else [])
        for cred, rid, _ in items:
            key = credential_key(cred)
            rec = live.get(rid)
            if rec is None and key in adopted:
                rec = sink.read([adopted[key]]).get(adopted[key])
            if rec is None:
                out[key] = None
                continue
            status = None
            if cred.type == "oauth2":
                status = sink.connection_status(rec)  # a record a person connects
            out[key] = LiveCredential(rec.id, rec.name, rec.type, status, adopted=key in adopted)
    return out


def _adoptable(
    ctx: RunContext, instance: str, unknown: Sequence[tuple[CredentialSpec, str]],
    warnings: list[str],
) -> dict[str, str]:
    """``{credential key: record id}`` of existing records to adopt by name and type."""
    if not unknown:
        return {}
    listed = ctx.sink(instance).list_records()
    target = ctx.target(instance)
    found: dict[str, str] = {}
    for cred, rid in unknown:
        ctype = target.record_type(cred.type)
        same = sorted(r.id for r in listed if r.name == cred.name and r.type == ctype)
        if len(same) == 1:
            found[credential_key(cred)] = same[0]
        elif len(same) > 1:
            warnings.append(
                f"Workflow² {instance} has {len(same)} {ctype} records named {cred.name!r} "
                f"({', '.join(same)}): none is adopted, a new one is written with id {rid}; "
                "delete the extra records or rename the credential in the spec"
            )
    return found


def sign_in_all(ctx: RunContext, orgs: Sequence[str]) -> dict[str, OrgConnection]:
    """Sign in to every org side by side (each is a round trip or two, and an embedded sandbox
    start); every org is tried, then the first failure in org-name order is raised."""
    from provisioner.parallel import each

    return each(orgs, ctx.connection, max_workers=ctx.options.max_workers, label="sign-in")


def read_live(ctx: RunContext, state: State) -> LiveSnapshot:
    """Read every org and instance the specs name; orgs in parallel."""
    desired = ctx.desired
    snap = LiveSnapshot()
    wanted = _wanted_by_org(desired, state)
    orgs = sorted(wanted)
    connections = sign_in_all(ctx, orgs)
    for org_name in orgs:
        ctx.progress(f"reading {len(wanted[org_name])} app(s) from org {org_name}")
    from provisioner.salesforce.reader import read_orgs

    # The names the apps use are checked while the apps are read: independent round trips.
    with ThreadPoolExecutor(max_workers=max(1, len(orgs)),
                            thread_name_prefix="references") as pool:
        references_checked = _check_references(ctx, snap, pool)
        found = read_orgs(
            connections,
            {o: [(api, kind) for _, api, kind in wanted[o]] for o in orgs},
            max_workers=ctx.options.max_workers,
        )
        references_checked()
    results = {o: {name: found[o].get(api) for name, api, _ in wanted[o]} for o in orgs}
    from provisioner.salesforce import endpoints

    for org_name in orgs:
        conn = ctx.connection(org_name)
        org = desired.orgs[org_name]
        read = [live for live in results[org_name].values() if live is not None]
        snap.org_facts[org_name] = OrgFacts(
            my_domain_url=endpoints.my_domain_url(org, conn),
            login_host=endpoints.login_host(org, conn),
            # Some orgs never return certificates on read: then absence proves nothing.
            certificates_readable=not read or any(
                live.view.certificate_fingerprint for live in read),
        )
        views = {}
        for name, live in results[org_name].items():
            snap.apps[name] = (LiveApp(live.view, {c.type: c.full_name for c in live.components},
                                       {c.type: c for c in live.components})
                               if live is not None else None)
            views[name] = live.view.as_dict() if live is not None else None
        snap.digests[f"org/{org_name}"] = _digest(views)
    from provisioner.appkinds import app_kind

    for app in desired.apps.values():
        if app_kind(app.app_type).creation_may_be_refused and snap.apps.get(app.name) is None:
            refused = _check_creation(ctx, app)
            if refused:
                snap.creation_refused[app.name] = refused
    snap.callback_urls = resolve_callbacks(ctx)
    _check_record_fields(ctx, snap)
    snap.credentials = read_credentials(ctx, desired, state, snap.warnings)
    for instance in sorted({c.instance for a in desired.apps.values() for c in a.credentials}):
        seen = {k: (v.id, v.name, v.type) if v else None for k, v in snap.credentials.items()
                if k.startswith(instance + "/")}
        snap.digests[f"workflow2/{instance}"] = _digest(seen)
    return snap


def resolve_callbacks(ctx: RunContext) -> dict[str, str]:
    """The OAuth callback URL of each instance an app refers to (the server's own when it
    publishes one; derived, without a call, for offline sinks)."""
    from provisioner.model import CallbackRef
    from provisioner.sinks import sink_factory

    out: dict[str, str] = {}
    for app in ctx.desired.apps.values():
        for url in app.callback_urls:
            if isinstance(url, CallbackRef) and url.instance not in out:
                spec = ctx.desired.instances[url.instance]
                target = ctx.target(url.instance)
                if sink_factory(spec.sink.type).remote:
                    out[url.instance] = target.resolve_callback_url(spec)
                else:
                    out[url.instance] = target.callback_url(spec)
    return out


def plan_inputs(
    ctx: RunContext, state: State, snap: LiveSnapshot, spec_files: Sequence[Path]
) -> PlanInputs:
    """Assemble the planner's inputs from what was read."""
    return PlanInputs(
        desired=ctx.desired,
        state=state,
        live_apps=snap.apps,
        live_credentials=snap.credentials,
        org_facts=snap.org_facts,
        callback_urls=snap.callback_urls,
        now=ctx.now(),
        creation_refused=snap.creation_refused,
        force_rotate=ctx.options.force_rotate,
        force_secret=ctx.options.force_secret,
        revoke=ctx.options.revoke,
        max_deploy_files=ctx.options.max_deploy_files,
        refusals=snap.refusals,
        prune=ctx.options.prune,
        destroy=ctx.options.destroy,
        spec_files=tuple((spec_file_name(p), file_digest(p)) for p in spec_files),
        live_digests=tuple(sorted(snap.digests.items())),
        sink_kinds={n: i.sink.type for n, i in ctx.desired.instances.items()},
        targets={n: ctx.target(n) for n in ctx.desired.instances},
        warnings=tuple(snap.warnings),
    )
