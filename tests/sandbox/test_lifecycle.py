"""Persistence across restarts, propagation delay, fault injection, and parallel clients."""

from __future__ import annotations

import io
import json
import os
import pathlib
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import zeep.exceptions
from sandbox_helpers import (
    INTEGRATION_USER,
    build_zip,
    client_for,
    create_eca,
    jwt_login,
    keypair,
    wait_deploy,
)

from provisioner.sandbox import FaultSpec, SandboxServer
from provisioner.sandbox.faults import UNLIMITED, FaultInjector

Make = Callable[..., SandboxServer]


def test_restart_keeps_org_port_keys_and_sessions(make_sandbox: Make, tmp_path: object) -> None:
    first = make_sandbox()
    state, url, ca = first.state_dir, first.url, first.ca_file.read_bytes()
    key, cert = keypair(1)
    sf = client_for(first)
    create_eca(sf, "Kept_App", key="KeptAppKey001", cert=cert)
    token = jwt_login(first).json()["access_token"]
    org_id = first.org.org_id
    first.stop()
    second = make_sandbox(state_dir=state)
    assert second.url == url  # the persisted port is reused, so My Domain stays the same
    assert second.ca_file.read_bytes() == ca
    assert second.org.org_id == org_id
    assert second.org.app("Kept_App")["consumerKey"] == "KeptAppKey001"
    assert jwt_login(second, "KeptAppKey001", INTEGRATION_USER, key).status_code == 200
    # the old session still works, as a Salesforce session survives a server restart
    client_for(second, token).mdapi.ExternalClientApplication.read(["Kept_App"])
    key_file = second.deploy_credentials().private_key_path
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    saved = (state / "org.json").read_text()
    assert "BEGIN PRIVATE KEY" not in saved and "SecretKeptAppKey001" not in saved
    assert token not in saved


def test_port_taken_falls_back_to_a_free_one(make_sandbox: Make) -> None:
    first = make_sandbox()
    port_file = first.state_dir / "server.json"
    other = make_sandbox()
    port_file.write_text(json.dumps({"port": other.port}))
    first.stop()
    again = make_sandbox(state_dir=first.state_dir)
    assert again.port != other.port
    assert json.loads(port_file.read_text())["port"] == again.port


@pytest.mark.parametrize("cutover", ["propagated", "immediate"])
def test_new_app_and_new_certificate_propagate_after_the_delay(
        make_sandbox: Make, cutover: str) -> None:
    # An hour's delay, ended by settle_propagation(): no load can make a change arrive early.
    srv = make_sandbox(propagation_delay=3600.0)
    srv.org.set_setting("certificateCutover", cutover)
    sf = client_for(srv)
    key, cert = keypair(1)
    create_eca(sf, "Slow_App", key="SlowAppKey001", cert=cert)
    early = jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key)
    assert early.json() == {"error": "app_not_found",  # an ECA; a Connected App: invalid_client_id
                            "error_description": "External client app is not installed in this org"}
    assert srv.org.settle_propagation() >= 1
    assert jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key).status_code == 200
    key2, cert2 = keypair(2)

    def change_certificate(pem: str) -> None:
        sf.mdapi.ExtlClntAppGlobalOauthSettings.update([sf.mdapi.ExtlClntAppGlobalOauthSettings(
            fullName="Slow_App_glbloauth", externalClientApplication="Slow_App",
            callbackUrl="https://x.example.com/cb", certificate=pem)])

    change_certificate(cert2)
    bad = {"error": "invalid_grant", "error_description": "invalid assertion"}
    old_key = jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key)
    if cutover == "propagated":  # the old configuration serves until the change takes effect
        assert old_key.status_code == 200
    else:  # the old certificate stops at once
        assert old_key.json() == bad
    assert jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key2).json() == bad  # not yet
    # A second change while the first propagates keeps the certificate that is really live.
    key3, cert3 = keypair(3)
    change_certificate(cert3)
    assert (jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key).status_code == 200) is (
        cutover == "propagated")
    change_certificate(cert2)
    assert srv.org.settle_propagation() == 1  # only the certificate change was pending
    assert jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key2).status_code == 200
    assert jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key).json() == bad
    assert jwt_login(srv, "SlowAppKey001", INTEGRATION_USER, key3).json() == bad


def test_certificate_cutover_setting_is_checked(make_sandbox: Make) -> None:
    srv = make_sandbox()
    with pytest.raises(ValueError, match="certificateCutover must be one of"):
        srv.org.set_setting("certificateCutover", "sometimes")


def test_fault_spec_parsing() -> None:
    assert FaultSpec.parse("token:latency=0.1") == FaultSpec(
        "token", "latency", 0.1, 1.0, None, UNLIMITED)
    assert FaultSpec.parse("soap:http500@rate=0.2") == FaultSpec("soap", "http500", None, 0.2)
    assert FaultSpec.parse("soap:REQUEST_LIMIT_EXCEEDED@count=2").count == 2
    assert FaultSpec.parse("deploy:fail").count == 1
    assert FaultSpec.parse("*:drop@count=1,max=1").max_injections == 1
    for bad in ["token", "soap:explode", "soap:http404", "soap:http500@rate=2", "x:latency",
                "soap:drop@often=1"]:
        with pytest.raises(ValueError, match="bad fault spec"):
            FaultSpec.parse(bad)


def test_latency_without_max_never_stops_and_other_faults_stop_at_100() -> None:
    specs = (FaultSpec.parse("token:latency=0"), FaultSpec.parse("soap:http500@rate=1"),
             FaultSpec.parse("userinfo:latency=0@rate=1,max=3"))
    injector = FaultInjector(specs, seed=1)
    for endpoint in ("token", "soap", "userinfo"):
        hits = [injector.pick(endpoint, "op") for _ in range(150)]
        assert sum(len(h) for h in hits) == {"token": 150, "soap": 100, "userinfo": 3}[endpoint]


def test_soap_faults_are_bounded(make_sandbox: Make) -> None:
    srv = make_sandbox(faults=("soap:REQUEST_LIMIT_EXCEEDED@count=2",))
    sf = client_for(srv)
    for _ in range(2):
        with pytest.raises(zeep.exceptions.Fault) as info:
            sf.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"])
        assert info.value.code == "sf:REQUEST_LIMIT_EXCEEDED"
    assert sf.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"]).fullName
    assert srv.faults.injected() == 2


def test_http_errors_drops_and_latency(make_sandbox: Make) -> None:
    srv = make_sandbox(faults=("token:http503@count=1", "userinfo:drop@count=1",
                               "token:latency=0.2@count=1"))
    started = time.monotonic()
    first = jwt_login(srv)
    assert first.status_code == 503
    assert time.monotonic() - started >= 0.2
    token = jwt_login(srv).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{srv.url}/services/oauth2/userinfo", headers=headers, timeout=10)
    assert requests.get(f"{srv.url}/services/oauth2/userinfo", headers=headers,
                        timeout=10).status_code == 200


def test_expired_session_fault_and_deploy_failure(make_sandbox: Make) -> None:
    srv = make_sandbox(faults=("readMetadata:INVALID_SESSION_ID", "deploy:fail"))
    sf = client_for(srv)
    with pytest.raises(zeep.exceptions.Fault) as info:
        sf.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"])
    assert info.value.code == "sf:INVALID_SESSION_ID"
    job = sf.deploy(io.BytesIO(build_zip({}, {})), sandbox=False)["asyncId"]
    status = wait_deploy(sf, job)
    assert status["state"] == "Failed"
    assert "sandbox fault injection" in status["deployment_detail"]["errors"][0]["message"]
    job = sf.deploy(io.BytesIO(build_zip({}, {})), sandbox=False)["asyncId"]
    assert wait_deploy(sf, job)["state"] == "Succeeded"


def test_rate_faults_are_deterministic_for_a_seed(make_sandbox: Make) -> None:
    def pattern(seed: int) -> list[int]:
        srv = make_sandbox(faults=("token:http500@rate=0.5,max=5",), seed=seed)
        codes = [jwt_login(srv).status_code for _ in range(12)]
        srv.stop()
        return codes

    first, second = pattern(7), pattern(7)
    assert first == second
    assert 0 < first.count(500) <= 5  # some faults, never more than max


def test_twenty_parallel_clients(sandbox: SandboxServer) -> None:
    key, cert = keypair(1)
    create_eca(client_for(sandbox), "Shared_App", key="SharedAppKey01", cert=cert)
    sandbox.org.reset_request_log()

    def work(i: int) -> tuple[str, bool]:
        token = jwt_login(sandbox).json()["access_token"]
        sf = client_for(sandbox, token)
        md = sf.mdapi
        name = f"Par_{i}"
        md.ExternalClientApplication.create([md.ExternalClientApplication(
            fullName=name, label=name, distributionState="Local")])
        label = md.ExternalClientApplication.read([name]).label
        ok = jwt_login(sandbox, "SharedAppKey01", INTEGRATION_USER, key).status_code == 200
        return label, ok

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(work, range(20)))
    assert results == [(f"Par_{i}", True) for i in range(20)]
    listed = {a["fullName"] for a in sandbox.org.apps()}
    assert {f"Par_{i}" for i in range(20)} <= listed
    assert sandbox.org.counters["createMetadata"] == 20
    assert sandbox.org.write_count == 20
    on_disk = json.loads((sandbox.state_dir / "org.json").read_text())
    assert {f"Par_{i}" for i in range(20)} <= set(
        on_disk["components"]["ExternalClientApplication"])


def test_custom_json_seed_with_an_existing_connected_app(template_dir: object, tmp_path: object,
                                                         make_sandbox: Make) -> None:
    from pathlib import Path

    from provisioner.sandbox.seed import load_seed

    seed = load_seed()
    seed["org"]["environment"] = "production"
    seed["components"] = [{"type": "ConnectedApp", "metadata": {
        "fullName": "Existing_App", "label": "Existing", "contactEmail": "a@example.com",
        "oauthConfig": {"callbackUrl": "https://x.example.com/cb", "consumerKey": "ExistingKey01",
                        "scopes": ["Api"], "isAdminApproved": True},
        "profileName": ["Integration User"]}}]
    seed_file = Path(str(tmp_path)) / "seed.json"
    seed_file.write_text(json.dumps(seed))
    srv = make_sandbox(seed_file=seed_file)
    assert srv.org.environment == "production"
    assert srv.org.setting("connectedAppCreationDisabled") is True
    app = srv.org.app("Existing_App")
    assert (app["type"], app["consumerKey"]) == ("ConnectedApp", "ExistingKey01")


def test_the_sandbox_creates_its_default_folders_0700(tmp_path: pathlib.Path) -> None:
    # The embedded org may be the first to create .provisioner/, where the state goes next.
    from provisioner.sandbox import SandboxOptions

    server = SandboxServer(SandboxOptions(state_dir=tmp_path / ".provisioner" / "sandbox"))
    server.start()
    server.stop()
    for folder in (tmp_path / ".provisioner", tmp_path / ".provisioner" / "sandbox"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_connect_latency_is_charged_per_new_connection_only(make_sandbox: Make) -> None:
    # connect:latency models a TLS handshake: a client that reuses its connection pays it once.
    import requests


    srv = make_sandbox(faults=("connect:latency=0.01",))
    http = requests.Session()
    for _ in range(3):
        http.get(srv.url + "/services/oauth2/userinfo", verify=str(srv.ca_file), timeout=30)
    assert srv.faults.injected() == 1
    for _ in range(2):
        requests.get(srv.url + "/services/oauth2/userinfo", verify=str(srv.ca_file),
                     timeout=30)
    assert srv.faults.injected() == 3
    assert FaultSpec.parse("*:latency=0.1").matches("connect", "connect") is False
