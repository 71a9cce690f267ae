"""Connected Apps where the org still allows creating them, and the move to an External Client App."""

from __future__ import annotations

from provisioner.engine.run import apply, compute_plan
from provisioner.salesforce.auth import jwt_bearer_token
from provisioner.secret import Secret
from tests.engine.conftest import (
    INTEGRATION_USER,
    Lines,
    Workspace,
    app_yaml,
    approve,
    jwt_login,
    records,
    running_org,
    state_doc,
)


def test_connected_app_lifecycle_then_replaced_by_external_client_app(ws: Workspace) -> None:
    with running_org(ws) as server:
        server.org.set_setting("connectedAppCreationDisabled", False)
    ws.write_apps(app_yaml("billing", app_type="connectedApp"))
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.verified == ["billing"]
    st = state_doc(ws)["apps"]["billing"]
    assert st["appType"] == "connectedApp"
    old = records(ws)
    # A Connected App's JWT audience is the login host; the record carries no My Domain URL.
    assert "myDomainUrl" not in old["billing (JWT)"]["data"]
    with running_org(ws) as server:
        login_host = server.org.login_host()
        session = jwt_bearer_token(
            server.url, st["consumerKey"], INTEGRATION_USER,
            Secret(old["billing (JWT)"]["data"]["privateKey"]), login_host,
            verify=str(server.ca_file), timeout=10)
        assert session.access_token.reveal()
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes

    # Moving to an External Client App: a new app, verified, the same records switched to it.
    ws.write_apps(app_yaml("billing"))
    plan = compute_plan(ws.paths(), ws.options(), Lines()).plan
    (change,) = plan.apps
    assert change.action == "replace" and change.app_type == "externalClientApp"
    assert any("replaced by a new externalClientApp" in n for n in change.notes)
    _plan, result = apply(ws.paths(), ws.options(), Lines(), approve)
    assert result is not None and not result.failures and result.verified == ["billing"]
    new_state = state_doc(ws)["apps"]["billing"]
    assert new_state["appType"] == "externalClientApp"
    assert new_state["consumerKey"] != st["consumerKey"]
    new = records(ws)
    assert {n: r["id"] for n, r in new.items()} == {n: r["id"] for n, r in old.items()}
    assert new["billing (JWT)"]["data"]["clientId"] == new_state["consumerKey"]
    with running_org(ws) as server:
        assert new["billing (JWT)"]["data"]["myDomainUrl"] == server.url
        jwt_login(server, new_state["consumerKey"],
                  Secret(new["billing (JWT)"]["data"]["privateKey"]))
        # The old Connected App is left in place (the design: nothing is deleted unasked).
        assert server.org.app("billing") is not None
    assert not compute_plan(ws.paths(), ws.options(), Lines()).plan.has_changes
