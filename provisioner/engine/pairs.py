"""Planning a blue/green pair: which side Workflow²'s JWT credentials use, and when they switch.

A spec app with ``rotation.strategy: blueGreen`` is two apps in the org: the spec app (``blue``,
its API name) and its partner (``green``, ``NAME.green`` in plans and state). Both are built from
the one spec. The spec app's JWT credentials use one side, the *active* one (state:
``loginApp`` of the spec app); the other side, the *standby*, holds a certificate whose private
key was thrown away, so nothing can sign in with it.

A rotation (due by policy, forced, or because the active key is unknown) never touches the
active side first:

1. the standby gets a new key and certificate (deployed with the org's other changes);
2. the new key signs in for real (verification waits through propagation);
3. the JWT credentials are rewritten in place with the standby's consumer key and new key, and
   Workflow² tests them;
4. only then is the old side's key retired (a second deploy: a certificate without a key).

Every step is journaled; a run killed between two steps is finished by the next plan, which sees
which side the credentials use and what each side holds. ``rotate --now`` (a leaked key) retires
the active key in the first deploy instead, and says that logins fail until step 3.

OAuth2 credentials stay on the spec app: a person connected them to that app's consumer key.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from provisioner.model import AppSpec
from provisioner.plan.types import AppAction, AppChange
from provisioner.state import AppState

if TYPE_CHECKING:
    from provisioner.engine.planner import Planner, _AppDecision


def login_app_name(primary: AppSpec, st: AppState | None, partner: AppSpec | None) -> str:
    """The app whose keys the spec app's JWT credentials use now (by state)."""
    login = st.login_app if st is not None else None
    if partner is not None and login == partner.name:
        return partner.name
    return primary.name


def plan_pair(planner: Planner, primary: AppSpec, partner: AppSpec
              ) -> tuple[_AppDecision, _AppDecision, str]:
    """The decisions for both apps of a pair and the app the JWT credentials use after the
    apply: ``(primary's, partner's, login app name)``."""
    inp = planner.inputs
    states = inp.state.apps
    login = login_app_name(primary, states.get(primary.name), partner)
    active, standby = (partner, primary) if login == partner.name else (primary, partner)
    holder = (primary, states.get(primary.name))
    # The active side: the app's usual plan (its key is rotated when policy says so).
    d_active = planner.plan_app(active, holder if active is partner else None)
    revoke = primary.name in inp.revoke
    # A new app (or one made again) simply gets its key: nobody signs in with it yet.
    switching = d_active.change.new_certificate and d_active.change.action not in (
        "create", "replace")
    if switching:
        d_standby = _promote(planner, standby, active, d_active.change.rotate_reasons, revoke)
        d_active = _retire_active(d_active, standby, revoke)
        after = standby.name
    else:
        d_standby = _keep_standby(planner, standby)
        after = active.name
    d_active.change = _with_roles(d_active.change, active, "active",
                                  "standby" if switching else "active")
    d_standby.change = _with_roles(d_standby.change, standby, "standby",
                                   "active" if switching else "standby")
    by_name = {active.name: d_active, standby.name: d_standby}
    return by_name[primary.name], by_name[partner.name], after


def _with_roles(change: AppChange, app: AppSpec, role: str, after: str) -> AppChange:
    side = app.pair.side if app.pair is not None else "blue"
    return replace(change, pair_side=side, pair_role=role, pair_role_after=after)


def _secret_only(decision: _AppDecision) -> tuple[str, ...]:
    return (decision.secret_reason,) if decision.secret_reason else ()


def _promote(planner: Planner, standby: AppSpec, active: AppSpec, reasons: tuple[str, ...],
             revoke: bool) -> _AppDecision:
    """The standby gets a new key: it takes over the JWT login."""
    decision = planner.plan_app(standby)
    change = decision.change
    why = f"blue/green: takes over the JWT login from {active.name!r} ({'; '.join(reasons)})"
    notes = list(change.notes)
    if revoke:
        notes.append("rotate --now: the active key is revoked in the same deploy, so logins fail "
                     "until Workflow² holds this app's new key (a window of seconds to minutes)")
    action = change.action if change.action in ("create", "replace") else "rotate"
    decision.change = replace(
        change, action=action, rotate_reasons=(why, *_secret_only(decision)),
        new_certificate=True, notes=tuple(notes), revoke_first=revoke)
    return decision


def _retire_active(decision: _AppDecision, standby: AppSpec, revoke: bool) -> _AppDecision:
    """The active side keeps its key until the credentials use the standby, then retires it
    (``revoke``: at once, in the first deploy)."""
    change = decision.change
    notes = change.notes
    if revoke:
        notes = (*notes, "rotate --now: its key is retired in the first deploy, before the new "
                 "key is live (nothing is rolled back to it)")
    action: AppAction = "rotate" if change.new_consumer_secret else (
        "update" if change.changes else "retire")
    decision.change = replace(
        change, action=action,
        rotate_reasons=(f"blue/green: its key is retired once {standby.name!r} has taken over", *_secret_only(decision)),
        new_certificate=False, retired_certificate=True, after_records=not revoke,
        revoke_first=revoke, notes=notes)
    return decision


def _keep_standby(planner: Planner, standby: AppSpec) -> _AppDecision:
    """The standby stays standby: created, or kept, with a certificate nobody has a key for."""
    st = planner.inputs.state.apps.get(standby.name)
    live = planner.inputs.live_apps.get(standby.name)
    decision = planner.plan_app(standby)
    change = decision.change
    if change.action in ("create", "replace"):
        decision.change = replace(
            change, new_certificate=False, retired_certificate=True,
            notes=(*change.notes, "blue/green standby: created with a certificate whose key is " "thrown away; it gets a key when it takes over"))
        return decision
    secret = _secret_only(decision)
    unknown = live is not None and st is not None and st.certificate is not None and (
        live.view.certificate_fingerprint not in (None, st.certificate.fingerprint))
    if st is None or not st.key_retired or unknown:
        decision.change = replace(
            change, action="rotate" if secret else "retire", new_certificate=False,
            retired_certificate=True,
            rotate_reasons=("blue/green standby: its certificate may still have a usable key " "(an interrupted rotation, or changed outside provisioner): it is " "retired", *secret),
        )
        return decision
    # A retired side is not rotated by policy: nothing can sign in with it anyway.
    decision.change = replace(
        change, action="rotate" if secret else ("update" if change.changes else "no-op"),
        rotate_reasons=secret, new_certificate=False)
    return decision
