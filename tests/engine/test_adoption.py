"""Records provisioner never wrote are adopted by name and type instead of duplicated."""

from __future__ import annotations

import json
from typing import Any

from provisioner.engine.run import apply, compute_plan
from provisioner.secret import Secret
from provisioner.workflow2.atrest import encrypt_data
from tests.engine.conftest import Lines, Workspace, app_yaml, approve, records, running_org


def _hand_made(ws: Workspace, *items: tuple[str, str, str]) -> None:
    """An import file holding records made by hand (random ids), as a person would have."""
    ws.import_file.parent.mkdir(parents=True, exist_ok=True)
    docs = [{"id": rid, "name": name, "type": ctype,
             "data": encrypt_data({"environment": "production", "clientId": "by-hand"},
                                  ws.encryption_key)}
            for rid, name, ctype in items]
    ws.import_file.write_text(json.dumps(docs))


def test_a_hand_made_record_is_adopted_not_duplicated(ws: Workspace) -> None:
    _hand_made(ws, ("handmadeJwt01", "billing (JWT)", "salesforceJwtApi"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    jwt = next(c for c in plan.credentials if c.name == "billing (JWT)")
    assert (jwt.action, jwt.record_id) == ("update", "handmadeJwt01")
    assert any("adopting the existing record handmadeJwt01" in n for n in jwt.notes)

    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures
    recs = records(ws)
    assert recs["billing (JWT)"]["id"] == "handmadeJwt01"
    assert recs["billing (JWT)"]["data"]["clientId"] != "by-hand"
    assert len(json.loads(ws.import_file.read_text())) == 2  # adopted JWT + new OAuth2
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_ambiguous_names_are_not_adopted_and_say_so(ws: Workspace) -> None:
    _hand_made(ws, ("dupA", "billing (JWT)", "salesforceJwtApi"),
               ("dupB", "billing (JWT)", "salesforceJwtApi"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    jwt = next(c for c in plan.credentials if c.name == "billing (JWT)")
    assert jwt.action == "create" and jwt.record_id not in ("dupA", "dupB")
    assert any("2 salesforceJwtApi records named 'billing (JWT)' (dupA, dupB)" in w
               for w in plan.warnings)


def test_a_record_renamed_by_hand_is_renamed_back_without_a_new_key(applied: Workspace) -> None:
    doc = json.loads(applied.import_file.read_text())
    jwt = next(d for d in doc if d["type"] == "salesforceJwtApi")
    key_before = records(applied)[jwt["name"]]["data"]["privateKey"]
    original, jwt["name"] = jwt["name"], "renamed by hand"
    applied.import_file.write_text(json.dumps(doc))

    plan = compute_plan(applied.paths(), applied.options(), Lines()).plan
    assert [a.action for a in plan.apps] == ["no-op"]
    change = next(c for c in plan.credentials if c.name == original)
    assert change.action == "update" and [f.field for f in change.changes] == ["name"]

    _plan, result = apply(applied.paths(), applied.options(), Lines(), approve)
    assert result is not None and not result.failures and result.deploys == 0
    recs = records(applied)
    assert recs[original]["id"] == jwt["id"]
    assert recs[original]["data"]["privateKey"] == key_before  # data untouched
    assert not compute_plan(applied.paths(), applied.options(), Lines()).plan.has_changes


#: Names another tool gave the children (public sfdx projects retrieve names like these).
FOREIGN = {
    "ExtlClntAppOauthSettings": "BillingOAuthSettings",
    "ExtlClntAppGlobalOauthSettings": "BillingGlblOAuth",
    "ExtlClntAppOauthConfigurablePolicies": "billing_defaultPolicy",
    "ExtlClntAppConfigurablePolicies": "BillingPlugin",
}


def _made_elsewhere(ws: Workspace, extras: dict[str, dict[str, Any]] | None = None) -> None:
    """App ``billing`` deployed by another tool: same header name, children under other names,
    label 'Made Elsewhere' (so provisioner has an update to make); ``extras`` adds fields the
    spec does not manage, by component type."""
    from provisioner.appkinds import build_components
    from provisioner.engine.run import load_specs
    from provisioner.keys import KeyRequest, generate_consumer_key, generate_many
    from provisioner.metadata.package import deploy_zip
    from provisioner.salesforce.connection import connect
    from provisioner.salesforce.deploy import deploy

    desired = load_specs(ws.paths())
    app = desired.apps["billing"]
    org = desired.orgs[app.org]
    key = generate_many([KeyRequest("billing", "made elsewhere")])["billing"]
    from dataclasses import replace

    comps = build_components(replace(app, label="Made Elsewhere"), org,
                             desired.callback_urls(app), certificate_pem=key.certificate_pem,
                             consumer_key=generate_consumer_key(), names=FOREIGN)
    from provisioner.metadata.types import Component

    comps = [Component(c.type, c.full_name, {**c.fields, **(extras or {}).get(c.type, {})})
             for c in comps]
    with connect(org, environ=ws.options().environ) as conn:
        deploy(conn, deploy_zip(comps, org.api_version))


def _children(ws: Workspace) -> dict[str, list[str]]:
    """The names of app ``billing``'s children in the org, by type."""
    with running_org(ws) as server:
        comps = server.org.data["components"]
        return {t: sorted(n for n, rec in comps.get(t, {}).items()
                          if rec["metadata"].get("externalClientApplication") == "billing")
                for t in FOREIGN}


def test_an_app_with_foreign_child_names_is_adopted_updated_and_destroyed_in_place(
    ws: Workspace,
) -> None:
    _made_elsewhere(ws)
    assert _children(ws) == {t: [n] for t, n in FOREIGN.items()}

    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (app,) = plan.apps
    # Read whole under its own names: only the label differs, plus the adoption's new key.
    assert app.action == "rotate" and app.notes[0] == (
        "adopting an app that exists in the org but not in state")
    assert app.new_consumer_secret and "shouldRotateConsumerSecret" in app.notes[1]
    assert [(c.field, c.before, c.after) for c in app.changes] == [
        ("label", "Made Elsewhere", "Billing")]

    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures, result.failures
    assert result.verified == ["billing"]
    # Updated in place: still one child of each type, under the names it had.
    assert _children(ws) == {t: [n] for t, n in FOREIGN.items()}
    # The secret the org generated for the adopted app was read back (from the foreign-named
    # global settings) and is the one state now knows.
    with running_org(ws) as server:
        rec = server.org.data["components"]["ExtlClntAppGlobalOauthSettings"][
            FOREIGN["ExtlClntAppGlobalOauthSettings"]]
        assert server.org.box is not None
        generated = Secret(server.org.box.open(rec["sealedSecret"]))
    state = json.loads(ws.state_path.read_text())
    assert state["apps"]["billing"]["consumerSecretFingerprint"] == generated.fingerprint()
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes

    destroyed = apply(ws.paths(), ws.options(destroy=frozenset({"billing"})), Lines(), approve)[1]
    assert destroyed is not None and not destroyed.failures, destroyed.failures
    assert _children(ws) == {t: [] for t in FOREIGN}
    with running_org(ws) as server:
        assert server.org.app("billing") is None


def test_an_update_keeps_what_the_spec_does_not_manage_and_clears_what_it_empties(
    ws: Workspace,
) -> None:
    ip_range = ({"description": "office", "startIpAddress": "10.0.0.1",
                 "endIpAddress": "10.0.0.9"},)
    _made_elsewhere(ws, {
        "ExtlClntAppOauthSettings": {"trustedIpRanges": ip_range},
        "ExtlClntAppGlobalOauthSettings": {"isPkceRequired": True},
    })
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (app,) = plan.apps
    assert ("keeps 2 field(s) of the org's components that the spec does not manage: "
            "ExtlClntAppGlobalOauthSettings.isPkceRequired, "
            "ExtlClntAppOauthSettings.trustedIpRanges") in app.notes
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures, result.failures

    def live() -> dict[str, Any]:
        with running_org(ws) as server:
            found = server.org.app("billing")
            assert found is not None
            comps: dict[str, Any] = found["components"]
            return comps

    comps = live()
    assert comps["ExtlClntAppGlobalOauthSettings"]["isPkceRequired"] is True
    assert comps["ExtlClntAppOauthSettings"]["trustedIpRanges"][0]["startIpAddress"] == "10.0.0.1"
    assert comps["ExternalClientApplication"]["label"] == "Billing"  # the managed change made
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes

    # The spec drops the last permission set: sent explicitly empty, it is gone from the org.
    ws.write_apps(app_yaml("billing", permission_sets="[]"))
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures, result.failures
    assert "commaSeparatedPermissionSet" not in live()["ExtlClntAppOauthConfigurablePolicies"]
    assert live()["ExtlClntAppGlobalOauthSettings"]["isPkceRequired"] is True
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes


def test_a_connected_apps_last_profile_and_permission_set_are_removed(ws: Workspace) -> None:
    with running_org(ws) as server:
        server.org.set_setting("connectedAppCreationDisabled", False)
    ws.write_apps(app_yaml("legacy", app_type="connectedApp"))
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures, result.failures
    # Pre-authorize nobody: leaving profileName/permissionSetName out would change nothing on
    # such an app, so both are sent as one empty element.
    ws.write_apps(app_yaml("legacy", app_type="connectedApp", permission_sets="[]").replace(
        "profiles: [System Administrator]", "profiles: []"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    assert [a.action for a in plan.apps] == ["update"]
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures, result.failures
    with running_org(ws) as server:
        found = server.org.app("legacy")
        assert found is not None
        md = found["components"]["ConnectedApp"]
        assert "profileName" not in md and "permissionSetName" not in md
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
