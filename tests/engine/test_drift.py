"""Changes made outside provisioner, policy by age, and --prune: each planned precisely, each
applied back to a converged, working state."""

from __future__ import annotations

import json
from datetime import timedelta

from provisioner.engine.run import apply, compute_plan
from provisioner.keys import generate_key_material
from provisioner.secret import Secret
from tests.engine.conftest import (
    Lines,
    Workspace,
    app_yaml,
    approve,
    frozen,
    jwt_login,
    now,
    records,
    running_org,
    state_doc,
)


def _converged_and_working(ws: Workspace) -> None:
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
    st = state_doc(ws)["apps"]["billing"]
    recs = records(ws)
    assert recs["billing (OAuth2)"]["data"]["clientId"] == st["consumerKey"]
    assert Secret(recs["billing (OAuth2)"]["data"]["clientSecret"]).fingerprint() == st[
        "consumerSecretFingerprint"]
    with running_org(ws) as org:
        jwt_login(org, st["consumerKey"], Secret(recs["billing (JWT)"]["data"]["privateKey"]))


def test_oauth2_record_deleted_outside_gets_a_new_secret_only(applied: Workspace) -> None:
    ws = applied
    before = records(ws)
    items = json.loads(ws.import_file.read_text())
    ws.import_file.write_text(json.dumps([i for i in items if i["name"] != "billing (OAuth2)"]))

    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (app,) = plan.apps
    assert app.action == "rotate" and app.new_consumer_secret and not app.new_certificate
    assert "the OAuth2 credential 'wf/billing (OAuth2)' is missing" in app.rotate_reasons[0]
    creds = {c.name: c.action for c in plan.credentials}
    assert creds == {"billing (JWT)": "no-op", "billing (OAuth2)": "create"}

    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures
    assert result.records_written == ["wf/billing (OAuth2)"] and result.verified == []
    after = records(ws)
    assert after["billing (JWT)"] == before["billing (JWT)"]
    assert after["billing (OAuth2)"]["id"] == before["billing (OAuth2)"]["id"]
    assert after["billing (OAuth2)"]["data"]["clientSecret"] != before["billing (OAuth2)"][
        "data"]["clientSecret"]
    _converged_and_working(ws)


def test_app_deleted_outside_is_created_again(applied: Workspace) -> None:
    ws = applied
    old_key = state_doc(ws)["apps"]["billing"]["consumerKey"]
    with running_org(ws) as server, server.org.store() as store:
        for type_name in ("ExtlClntAppConfigurablePolicies", "ExtlClntAppOauthConfigurablePolicies",
                          "ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthSettings",
                          "ExternalClientApplication"):
            for name in [n for n in store.records(type_name) if n.startswith("billing")]:
                assert store.delete(type_name, name) == []
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (app,) = plan.apps
    assert app.action == "create"
    assert any("deleted outside provisioner" in n for n in app.notes)
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.verified == ["billing"]
    assert state_doc(ws)["apps"]["billing"]["consumerKey"] != old_key
    _converged_and_working(ws)


def test_certificate_replaced_outside_is_rotated_back_to_one_with_a_known_key(
    applied: Workspace,
) -> None:
    ws = applied
    foreign = generate_key_material("someone else", 2048, 30).certificate_pem
    with running_org(ws) as server:
        app = server.org.app("billing")
        assert app is not None
        md = dict(app["components"]["ExtlClntAppGlobalOauthSettings"])
        md["certificate"] = foreign
        md.pop("consumerKey", None)
        with server.org.store() as store:
            assert store.save("ExtlClntAppGlobalOauthSettings", md, "upsert")[1] == []
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (change,) = plan.apps
    assert change.action == "rotate" and change.new_certificate
    assert change.rotate_reasons[0].startswith("certificate foreign")
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.verified == ["billing"]
    _converged_and_working(ws)


def test_key_older_than_max_age_is_due(applied: Workspace) -> None:
    ws = applied
    ws.write_apps(app_yaml("billing", max_age_days=90))
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
    later = ws.options(clock=frozen(now() + timedelta(days=91)))
    (app,) = compute_plan(ws.paths(), later, Lines()).plan.apps
    assert app.action == "rotate"
    assert app.rotate_reasons == ("due by policy: the key is older than maxAgeDays (90)",)


def test_prune_deletes_an_app_removed_from_the_specs(applied: Workspace) -> None:
    ws = applied
    (ws.specs / "apps.yaml").unlink()
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    assert plan.apps == () and not plan.has_changes
    assert any("'billing'" in w and "--prune" in w for w in plan.warnings)

    pruned = compute_plan(ws.paths(), ws.options(prune=True), Lines()).plan
    assert [(a.app, a.action) for a in pruned.apps] == [("billing", "delete")]
    assert sorted((c.name, c.action) for c in pruned.credentials) == [
        ("billing (JWT)", "delete"), ("billing (OAuth2)", "delete")]
    _plan, result = apply(ws.paths(), ws.options(prune=True), Lines(), approve)
    assert result is not None and not result.failures and result.deploys == 1
    assert sorted(result.records_deleted) == ["wf/billing (JWT)", "wf/billing (OAuth2)"]
    assert json.loads(ws.import_file.read_text()) == []
    assert state_doc(ws)["apps"] == {}
    with running_org(ws) as server:
        assert server.org.app("billing") is None
    assert not compute_plan(ws.paths(), ws.options(prune=True), Lines()).plan.has_changes


def test_prune_with_the_specs_of_one_org_never_touches_another(ws: Workspace) -> None:
    """The reproduction: specs for org sb only, state for sb and sb2, apply --prune. Before, the
    plan deleted sb2's app (never read), apply dropped it from state and left it in its org,
    and the next full run rotated its certificate and consumer secret."""
    other_org = (
        "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata:\n  name: sb2\n"
        "spec:\n  sandbox:\n    stateDir: ../sandbox2\n"
    )
    emea = app_yaml("emea").replace("  org: sb\n", "  org: sb2\n")
    ws.write_apps(other_org, emea, file="emea.yaml")
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.deploys == 2
    emea_state = state_doc(ws)["apps"]["emea"]

    (ws.specs / "emea.yaml").rename(ws.root / "emea.yaml.aside")  # specs for org sb only
    plan = compute_plan(ws.paths(), ws.options(prune=True), Lines()).plan
    assert [(a.app, a.action) for a in plan.apps] == [("billing", "no-op")]
    assert any("org 'sb2' is not in these specs, so it was not read" in w for w in plan.warnings)
    _plan, pruned = apply(ws.paths(), ws.options(prune=True), Lines(), approve)
    assert pruned is None  # nothing to do
    assert state_doc(ws)["apps"]["emea"] == emea_state

    (ws.root / "emea.yaml.aside").rename(ws.specs / "emea.yaml")  # the full specs again
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
    # apply --org sb --prune with every spec: org sb2 is neither read nor changed.
    ws.recorder.reset()
    _plan, targeted = apply(ws.paths(), ws.options(prune=True, target_orgs=frozenset({"sb"})),
                            Lines(), approve)
    assert targeted is None and state_doc(ws)["apps"]["emea"] == emea_state
    assert [c.org.name for c in ws.recorder.connections] == ["sb"]  # sb2 not even signed in to


def test_an_org_that_returns_no_certificates_converges_after_apply(ws: Workspace) -> None:
    """Sandbox set to omit certificates from reads (what one tool reports of live orgs): apply,
    then plan says No changes instead of rotating on every run."""
    ws.write_org()
    with running_org(ws) as server:
        server.org.set_setting("certificatesReadable", False)
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.verified == ["billing"]
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    assert not plan.has_changes
    (app,) = plan.apps
    assert any("returns no certificate on read" in n for n in app.notes)
    # Policy still decides from state: near expiry, it rotates (and verifies the new key).
    later = ws.options(clock=frozen(now() + timedelta(days=340)))
    (due,) = compute_plan(ws.paths(), later, Lines()).plan.apps
    assert due.action == "rotate" and due.rotate_reasons[0].startswith("due by policy")
