"""Reader and deployer against the embedded sandbox: batches, structured failures, check-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.appkinds import build_components
from provisioner.errors import RemoteError
from provisioner.keys import generate_consumer_key, generate_consumer_secret, generate_key_material
from provisioner.metadata import ECA_OAUTH, Component, deploy_zip
from provisioner.model import AppSpec, OrgSpec
from provisioner.salesforce.connection import OrgConnection, connect
from provisioner.salesforce.deploy import (
    DeployFailedError,
    DeployProgress,
    PollPolicy,
    check_only_deploy,
    deploy,
)
from provisioner.salesforce.reader import list_app_types, list_apps, read_apps, read_orgs
from tests.salesforce.conftest import app_spec, sandbox_org

FAST = PollPolicy(initial=0.05, max_interval=0.2, timeout=20)


def app_zip(conn: OrgConnection, *apps: AppSpec) -> bytes:
    """A deploy package creating ``apps`` with fresh keys and consumer keys."""
    components: list[Component] = []
    for app in apps:
        material = generate_key_material(app.api_name, 2048, 30)
        components += build_components(
            app,
            conn.org,
            app.callback_urls,  # type: ignore[arg-type]
            certificate_pem=material.certificate_pem,
            consumer_key=generate_consumer_key(),
            consumer_secret=generate_consumer_secret(),
        )
    return deploy_zip(components, conn.org.api_version)


def _count(conn: OrgConnection, operation: str) -> int:
    assert conn.sandbox is not None
    return sum(1 for r in conn.sandbox.org.request_log if r["operation"] == operation)


def test_deploy_then_read_back_both_types(conn: OrgConnection) -> None:
    progress: list[DeployProgress] = []
    result = deploy(
        conn, app_zip(conn, app_spec("Billing_Sync")), poll=FAST, on_progress=progress.append
    )
    assert result.success and result.status == "Succeeded" and not result.check_only
    assert (
        result.components_total == 5 and result.components_deployed == 5 and result.failures == ()
    )
    assert progress and progress[-1].done and progress[-1].deploy_id == result.deploy_id
    live = read_apps(
        conn,
        [
            ("Billing_Sync", "externalClientApp"),
            ("Nope", "externalClientApp"),
            ("Legacy", "connectedApp"),
        ],
    )
    assert live["Nope"] is None and live["Legacy"] is None
    billing = live["Billing_Sync"]
    assert billing is not None and billing.missing == ()
    assert {c.full_name for c in billing.components} == {
        "Billing_Sync",
        "Billing_Sync_oauth",
        "Billing_Sync_glbloauth",
        "Billing_Sync_oauthPlcy",
        "Billing_Sync_plcy",
    }
    view = billing.view
    assert view.scopes == ("Api", "RefreshToken")
    assert view.profiles == ("Integration User",)
    assert list_apps(conn) == ["Billing_Sync", "Provisioner_Bootstrap"]
    assert list_app_types(conn)["Billing_Sync"] == "externalClientApp"


def test_reads_go_in_batches_of_ten(conn: OrgConnection) -> None:
    assert conn.sandbox is not None
    conn.sandbox.org.reset_request_log()
    wanted = [(f"Eca_{i}", "externalClientApp") for i in range(12)] + [
        (f"Ca_{i}", "connectedApp") for i in range(23)
    ]
    wanted.append(("Provisioner_Bootstrap", "externalClientApp"))
    live = read_apps(conn, wanted)  # type: ignore[arg-type]
    # the sandbox refuses more than 10 names a call (EXCEEDED_ID_LIMIT), so success proves the bound
    assert _count(conn, "readMetadata") == 5 * 2 + 3  # 13 ECA names x 5 types; 23 CA names
    assert [name for name, app in live.items() if app is not None] == ["Provisioner_Bootstrap"]


def test_component_failure_names_the_file_and_saves_nothing(conn: OrgConnection) -> None:
    good = app_spec("Good_App")
    components = build_components(good, conn.org, good.callback_urls)  # type: ignore[arg-type]
    orphan = Component(
        ECA_OAUTH,
        "Ghost_oauth",
        {
            "externalClientApplication": "Ghost",
            "label": "Ghost_oauth",
            "commaSeparatedOauthScopes": "Api",
        },
    )
    with pytest.raises(DeployFailedError) as info:
        deploy(conn, deploy_zip([*components, orphan], "63.0"), poll=FAST)
    err = info.value
    assert [f.file_name for f in err.failures] == ["extlClntAppOauthSettings/Ghost_oauth.ecaOauth"]
    failure = err.failures[0]
    assert (failure.component_type, failure.full_name, failure.problem_type) == (
        ECA_OAUTH,
        "Ghost_oauth",
        "Error",
    )
    assert "Ghost" in failure.problem
    assert err.message.startswith("org 'sb': deploy ")
    assert "extlClntAppOauthSettings/Ghost_oauth.ecaOauth" in err.message
    assert "nothing in this deploy was saved" in (err.hint or "")
    assert read_apps(conn, [("Good_App", "externalClientApp")]) == {"Good_App": None}


def test_injected_deploy_failure_is_reported(tmp_path: Path) -> None:
    with connect(sandbox_org(tmp_path / "sb"), sandbox_faults=["deploy:fail"]) as conn:
        with pytest.raises(DeployFailedError) as info:
            deploy(conn, app_zip(conn, app_spec("Flaky")), poll=FAST)
        assert info.value.result.status == "Failed"


def test_check_only_asks_the_org_without_saving(conn: OrgConnection) -> None:
    assert conn.sandbox is not None
    legacy = app_spec("Legacy_App", app_type="connectedApp")
    writes = conn.sandbox.org.write_count
    result = check_only_deploy(conn, app_zip(conn, legacy), poll=FAST)
    assert result.check_only and not result.success
    assert result.failures[0].file_name == "connectedApps/Legacy_App.connectedApp"
    assert "connected app" in result.failures[0].problem.lower()
    ok = check_only_deploy(conn, app_zip(conn, app_spec("New_Eca")), poll=FAST)
    assert ok.success
    assert conn.sandbox.org.write_count == writes
    assert list_apps(conn) == ["Provisioner_Bootstrap"]


def test_deploy_poll_timeout_is_bounded(conn: OrgConnection) -> None:
    assert conn.sandbox is not None
    conn.sandbox.org.set_setting("deployProcessingSeconds", 30)
    polls: list[DeployProgress] = []
    with pytest.raises(
        RemoteError, match=r"did not finish within 0.3 s \(status (Pending|InProgress)\)"
    ) as info:
        deploy(
            conn,
            app_zip(conn, app_spec("Slow")),
            poll=PollPolicy(initial=0.05, timeout=0.3),
            on_progress=polls.append,
        )
    assert "Deployment Status" in (info.value.hint or "")
    assert polls and not polls[-1].done and polls[-1].elapsed <= 0.3 + 5


def test_read_orgs_in_parallel(tmp_path: Path) -> None:
    orgs: list[OrgSpec] = [sandbox_org(tmp_path / f"o{i}", name=f"o{i}") for i in range(3)]
    conns = {o.name: connect(o) for o in orgs}
    try:
        deploy(conns["o1"], app_zip(conns["o1"], app_spec("Only_In_O1")), poll=FAST)
        wanted = {name: [("Only_In_O1", "externalClientApp")] for name in conns}
        live = read_orgs(conns, wanted, max_workers=3)  # type: ignore[arg-type]
        assert {name: apps["Only_In_O1"] is not None for name, apps in live.items()} == {
            "o0": False,
            "o1": True,
            "o2": False,
        }
    finally:
        for c in conns.values():
            c.close()


def test_partial_deploy_without_rollback_says_what_was_saved(conn: OrgConnection) -> None:
    good = app_spec("Kept_App")
    components = build_components(good, conn.org, good.callback_urls)  # type: ignore[arg-type]
    orphan = Component(
        ECA_OAUTH,
        "Ghost_oauth",
        {
            "externalClientApplication": "Ghost",
            "label": "Ghost_oauth",
            "commaSeparatedOauthScopes": "Api",
        },
    )
    with pytest.raises(DeployFailedError) as info:
        deploy(conn, deploy_zip([*components, orphan], "63.0"), rollback_on_error=False, poll=FAST)
    assert info.value.result.status == "SucceededPartial"
    assert "the others were saved" in (info.value.hint or "")
    assert read_apps(conn, [("Kept_App", "externalClientApp")])["Kept_App"] is not None
