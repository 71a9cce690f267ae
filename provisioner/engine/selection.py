"""Which apps a run acts on: ``rotate``/``destroy`` name apps or ask for all, and ``--org`` /
``--app`` restrict any run to some orgs and apps.

The rules live here, not in the CLI, so every front end (the CLI, a program embedding the engine,
a pipeline wrapper) selects the same apps and refuses the same mistakes with the same message.

Targeting restricts the *plan*: the whole plan is computed (so nothing outside the targets is
mistaken for gone), then only the changes of targeted apps are kept; every other pending change
is named in a warning and not applied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from provisioner.errors import UsageError
from provisioner.model import Desired, primary_name
from provisioner.plan.types import Plan
from provisioner.state import State


@dataclass(frozen=True)
class Selection:
    """The apps a run acts on, and those asked for but left out (with why)."""

    apps: frozenset[str]
    skipped: tuple[tuple[str, str], ...] = ()


def select_apps(desired: Desired, names: Iterable[str], *, every: bool, verb: str) -> Selection:
    """The apps ``names`` (``--app``) or ``every`` (``--all``) pick among the specs' apps.

    Usage errors name the choices: no selection at all, or a name no spec defines.
    """
    asked = set(names)
    if not asked and not every:
        raise UsageError(f"say which apps to {verb}", "pass --app NAME (repeatable) or --all")
    chosen = set(desired.apps) if every else asked
    unknown = sorted(chosen - set(desired.apps))
    if unknown:
        raise UsageError(f"no app named {', '.join(unknown)} in the specs",
                         "use the metadata.name of a SalesforceApp: "
                         + ", ".join(sorted(n for n in desired.apps if primary_name(n) == n)))
    # A blue/green pair is one app of the specs: naming either side picks both.
    primaries = {primary_name(n) for n in chosen}
    return Selection(frozenset(n for n in desired.apps if primary_name(n) in primaries))


def select_rotation(desired: Desired, names: Iterable[str], *, every: bool) -> Selection:
    """The apps to rotate: like :func:`select_apps`, and only apps with a certificate.

    Naming an app without one is a mistake (refused); ``every`` skips such apps and says so.
    """
    picked = select_apps(desired, names, every=every, verb="rotate")
    without = sorted(n for n in picked.apps if desired.apps[n].certificate is None)
    if without and not every:
        raise UsageError(f"app {', '.join(without)} has no certificate to rotate",
                         "add spec.certificate to the app, or pick another app")
    return Selection(picked.apps - set(without),
                     tuple((n, "it has no certificate") for n in without))


def select_secret_rotation(desired: Desired, names: Iterable[str], *, every: bool
                           ) -> Selection:
    """The apps whose consumer secret to rotate: only kinds that can get a new one."""
    from provisioner.appkinds import app_kind

    picked = select_apps(desired, names, every=every, verb="rotate")
    cannot = sorted(n for n in picked.apps
                    if app_kind(desired.apps[n].app_type).secret_rotation == "none")
    if cannot and not every:
        kinds = sorted({app_kind(desired.apps[n].app_type).label for n in cannot})
        raise UsageError(
            f"app {', '.join(cannot)} cannot get a new consumer secret: the Metadata API gives "
            f"an existing {', '.join(kinds)} none",
            "move the app to appType: externalClientApp, or pick another app")
    return Selection(picked.apps - set(cannot),
                     tuple((n, "its app type cannot get a new consumer secret") for n in cannot))


def check_targets(desired: Desired, state: State, orgs: Collection[str],
                  apps: Collection[str]) -> None:
    """Refuse ``--org``/``--app`` names that no spec (or, for apps, the state) knows."""
    unknown_orgs = sorted(set(orgs) - set(desired.orgs))
    if unknown_orgs:
        raise UsageError(f"no org named {', '.join(unknown_orgs)} in the specs",
                         "use the metadata.name of a SalesforceOrg: " + ", ".join(desired.orgs))
    known = set(desired.apps) | set(state.apps)
    unknown_apps = sorted(set(apps) - known)
    if unknown_apps:
        raise UsageError(f"no app named {', '.join(unknown_apps)} in the specs or the state",
                         "use the metadata.name of a SalesforceApp: " + ", ".join(sorted(known)))


def restrict_plan(plan: Plan, orgs: Collection[str], apps: Collection[str]) -> Plan:
    """The plan cut down to the targeted orgs and apps (nothing to cut when both are empty).

    Credential changes follow their app. Changes left out are listed in one warning, so a
    reviewer sees what a targeted run does not do.
    """
    if not orgs and not apps:
        return plan

    wanted = {primary_name(a) for a in apps}

    def targeted(app: str, org: str) -> bool:  # a blue/green pair is targeted as one
        return (not orgs or org in orgs) and (not apps or primary_name(app) in wanted)

    kept_apps = tuple(a for a in plan.apps if targeted(a.app, a.org))
    names = {a.app for a in kept_apps}
    kept_creds = tuple(c for c in plan.credentials if c.app in names)
    left = [f"{a.address} {a.action}" for a in plan.apps
            if a.app not in names and a.action != "no-op"]
    left += [f"{c.address} {c.action}" for c in plan.credentials
             if c.app not in names and c.action != "no-op"]
    warnings = plan.warnings
    if left:
        warnings = (*warnings, f"{len(left)} change(s) outside --org/--app are not applied: "
                    + ", ".join(left))
    instances = {c.address.split(".", 1)[1].split("/", 1)[0] for c in kept_creds}
    kept_orgs = {a.org for a in kept_apps} | set(orgs)
    digests = tuple((t, d) for t, d in plan.live_digests
                    if (t.startswith("org/") and t[4:] in kept_orgs)
                    or (t.startswith("workflow2/") and t[10:] in instances))
    serials = tuple((o, n) for o, n in plan.state_org_serials if o in kept_orgs)
    return replace(plan, apps=kept_apps, credentials=kept_creds, warnings=warnings,
                   target_orgs=tuple(sorted(orgs)), target_apps=tuple(sorted(apps)),
                   live_digests=digests, state_org_serials=serials)


__all__ = ["Selection", "check_targets", "restrict_plan", "select_apps", "select_rotation"]
