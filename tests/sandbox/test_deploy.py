"""deploy/checkDeployStatus and retrieve/checkRetrieveStatus, through simple-salesforce's own
calls (which send Python literals such as ``False``) and through zeep, which parses every
response against the bundled WSDL."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from sandbox_helpers import (
    INTEGRATION_USER,
    build_zip,
    jwt_login,
    keypair,
    md_file,
    wait_deploy,
)
from simple_salesforce import Salesforce

from provisioner.sandbox import SandboxServer


def eca_package(name: str, key: str, cert: str, *, callback: str = "https://x.example.com/cb",
                scopes: str = "Api, RefreshToken") -> tuple[dict[str, str], dict[str, list[str]]]:
    files = {
        f"externalClientApps/{name}.eca": md_file(
            "ExternalClientApplication",
            f"<contactEmail>t@example.com</contactEmail><distributionState>Local"
            f"</distributionState><label>{name}</label>"),
        f"extlClntAppOauthSettings/{name}_oauth.ecaOauth": md_file(
            "ExtlClntAppOauthSettings",
            f"<commaSeparatedOauthScopes>{scopes}</commaSeparatedOauthScopes>"
            f"<externalClientApplication>{name}</externalClientApplication><label>{name}</label>"),
        f"extlClntAppGlobalOauthSets/{name}_glbloauth.ecaGlblOauth": md_file(
            "ExtlClntAppGlobalOauthSettings",
            f"<callbackUrl>{callback}</callbackUrl><certificate>{cert}</certificate>"
            f"<consumerKey>{key}</consumerKey><consumerSecret>Secret{key}</consumerSecret>"
            f"<externalClientApplication>{name}</externalClientApplication><label>{name}</label>"),
        f"extlClntAppOauthPolicies/{name}_oauthPlcy.ecaOauthPlcy": md_file(
            "ExtlClntAppOauthConfigurablePolicies",
            "<commaSeparatedPermissionSet>Workflow_Integration</commaSeparatedPermissionSet>"
            f"<externalClientApplication>{name}</externalClientApplication>"
            "<ipRelaxationPolicyType>Enforce</ipRelaxationPolicyType>"
            f"<label>{name}</label>"
            "<permittedUsersPolicyType>AdminApprovedPreAuthorized</permittedUsersPolicyType>"),
        f"extlClntAppPolicies/{name}_plcy.ecaPlcy": md_file(
            "ExtlClntAppConfigurablePolicies",
            f"<externalClientApplication>{name}</externalClientApplication><isEnabled>true"
            "</isEnabled><isOauthPluginEnabled>true</isOauthPluginEnabled>"),
    }
    types = {
        "ExternalClientApplication": [name],
        "ExtlClntAppOauthSettings": [f"{name}_oauth"],
        "ExtlClntAppGlobalOauthSettings": [f"{name}_glbloauth"],
        "ExtlClntAppOauthConfigurablePolicies": [f"{name}_oauthPlcy"],
        "ExtlClntAppConfigurablePolicies": [f"{name}_plcy"],
    }
    return files, types


def test_deploy_an_eca_then_log_in_with_it(sandbox: SandboxServer, sf: Salesforce) -> None:
    key, cert = keypair(1)
    files, types = eca_package("Deployed_App", "DeployedKey001", cert)
    result = sf.deploy(io.BytesIO(build_zip(files, types)), sandbox=False)
    assert result["asyncId"].startswith("0Af")
    assert result["state"] == "Queued"
    status = wait_deploy(sf, result["asyncId"])
    assert status["state"] == "Succeeded", status
    assert status["deployment_detail"]["total_count"] == "5"
    assert status["deployment_detail"]["deployed_count"] == "5"
    assert sandbox.org.app("Deployed_App")["consumerKey"] == "DeployedKey001"
    resp = jwt_login(sandbox, "DeployedKey001", INTEGRATION_USER, key)
    assert resp.status_code == 200, resp.text


def test_component_failures_roll_back(sandbox: SandboxServer, sf: Salesforce) -> None:
    _, cert = keypair(1)
    files, types = eca_package("Broken_App", "BrokenKey0001", cert,
                               callback="http://insecure.example.com/cb", scopes="Api, Nope")
    before = sandbox.org.write_count
    job = sf.deploy(io.BytesIO(build_zip(files, types)), sandbox=False)["asyncId"]
    status = wait_deploy(sf, job)
    assert status["state"] == "Failed"
    errors = status["deployment_detail"]["errors"]
    by_file = {e["file"]: e["message"] for e in errors}
    assert "must use https" in by_file["extlClntAppGlobalOauthSets/Broken_App_glbloauth.ecaGlblOauth"]
    assert "bad value for restricted picklist field: Nope" in by_file[
        "extlClntAppOauthSettings/Broken_App_oauth.ecaOauth"]
    assert {e["type"] for e in errors} == {"ExtlClntAppGlobalOauthSettings",
                                           "ExtlClntAppOauthSettings"}
    assert all(e["status"] == "Error" for e in errors)
    assert sandbox.org.app("Broken_App") is None  # rollbackOnError: nothing saved
    assert sandbox.org.write_count == before + 1


def test_partial_success_without_rollback(sandbox: SandboxServer, sf: Salesforce) -> None:
    _, cert = keypair(1)
    files, types = eca_package("Part_App", "PartKey000001", cert, scopes="Nope")
    job = sf.deploy(io.BytesIO(build_zip(files, types)), sandbox=True)["asyncId"]
    status = wait_deploy(sf, job)
    assert status["state"] == "SucceededPartial"
    assert sandbox.org.app("Part_App") is not None


def test_check_only_validates_without_saving(sandbox: SandboxServer, sf: Salesforce) -> None:
    _, cert = keypair(1)
    files, types = eca_package("Check_App", "CheckKey00001", cert)
    job = sf.deploy(io.BytesIO(build_zip(files, types)), sandbox=False, checkOnly=True)["asyncId"]
    assert wait_deploy(sf, job)["state"] == "Succeeded"
    assert sandbox.org.app("Check_App") is None
    assert sandbox.org.write_count == 0


def test_missing_file_unknown_type_and_bad_zip(sf: Salesforce) -> None:
    job = sf.deploy(io.BytesIO(build_zip({}, {"ExternalClientApplication": ["Ghost"],
                                              "NoSuchType": ["X"]})), sandbox=False)["asyncId"]
    errors = wait_deploy(sf, job)["deployment_detail"]["errors"]
    messages = " | ".join(e["message"] for e in errors)
    assert "An object 'Ghost' of type ExternalClientApplication was named in package.xml, " \
           "but was not found in zipped directory" in messages
    assert "Unknown type name 'NoSuchType' specified in package.xml" in messages
    job = sf.deploy(io.BytesIO(b"not a zip"), sandbox=False)["asyncId"]
    status = wait_deploy(sf, job)
    assert status["state"] == "Failed"
    assert "The zip file is not valid" in status["deployment_detail"]["errors"][0]["message"]


def test_connected_app_deploy_respects_creation_setting(sandbox: SandboxServer,
                                                        sf: Salesforce) -> None:
    body = ("<contactEmail>t@example.com</contactEmail><label>Legacy</label><oauthConfig>"
            "<callbackUrl>https://x.example.com/cb</callbackUrl><consumerKey>LegacyKey0001"
            "</consumerKey><scopes>Api</scopes></oauthConfig>")
    data = build_zip({"connectedApps/Legacy.connectedApp": md_file("ConnectedApp", body)},
                     {"ConnectedApp": ["Legacy"]})
    status = wait_deploy(sf, sf.deploy(io.BytesIO(data), sandbox=False)["asyncId"])
    assert status["state"] == "Failed"
    assert "You can't create a connected app" in status["deployment_detail"]["errors"][0]["message"]
    sandbox.org.set_setting("connectedAppCreationDisabled", False)
    status = wait_deploy(sf, sf.deploy(io.BytesIO(data), sandbox=False)["asyncId"])
    assert status["state"] == "Succeeded"
    sandbox.org.set_setting("connectedAppCreationDisabled", True)
    # deploying it again carries the consumer key, which Salesforce refuses on anything but create
    status = wait_deploy(sf, sf.deploy(io.BytesIO(data), sandbox=False)["asyncId"])
    assert "consumer key is already taken" in status["deployment_detail"]["errors"][0]["message"]


def test_destructive_changes_delete(sandbox: SandboxServer, sf: Salesforce) -> None:
    _, cert = keypair(1)
    files, types = eca_package("Doomed", "DoomedKey0001", cert)
    wait_deploy(sf, sf.deploy(io.BytesIO(build_zip(files, types)), sandbox=False)["asyncId"])
    data = build_zip({}, {}, destructive={"ExternalClientApplication": ["Doomed", "Never_Was"]})
    # A member the org lacks is a warning, and ignoreWarnings=false (the default) turns any
    # warning into a failed deploy: nothing is deleted.
    status = wait_deploy(sf, sf.deploy(io.BytesIO(data), sandbox=False)["asyncId"])
    assert status["state"] == "Failed"
    assert "No ExternalClientApplication named: Never_Was found" in str(status)
    assert sandbox.org.app("Doomed") is not None
    # With ignoreWarnings the rest is deleted and the missing member stays a warning.
    status = wait_deploy(sf, sf.deploy(io.BytesIO(data), sandbox=False,
                                       ignoreWarnings=True)["asyncId"])
    assert status["state"] == "Succeeded"
    assert sandbox.org.app("Doomed") is None


def test_zeep_parses_deploy_and_retrieve_results(sandbox: SandboxServer, sf: Salesforce) -> None:
    md = sf.mdapi
    _, cert = keypair(1)
    files, types = eca_package("Zeep_App", "ZeepAppKey001", cert)
    opts = md._client.get_type("ns0:DeployOptions")(
        allowMissingFiles=False, autoUpdatePackage=False, checkOnly=False, ignoreWarnings=False,
        performRetrieve=False, purgeOnDelete=False, rollbackOnError=True, runTests=[],
        testLevel="NoTestRun",
        singlePackage=True)
    queued = md._service.deploy(build_zip(files, types), opts,
                                _soapheaders=[md._session_header])
    assert (queued.done, queued.state) == (False, "Queued")
    wait_deploy(sf, queued.id)
    # operations whose output declares a SOAP header come back as {header, body} from zeep
    result = md._service.checkDeployStatus(queued.id, True,
                                           _soapheaders=[md._session_header]).body.result
    assert (result.done, result.status, result.success) == (True, "Succeeded", True)
    assert result.numberComponentsDeployed == 5
    names = {m.fileName for m in result.details.componentSuccesses}
    assert "package.xml" in names and "externalClientApps/Zeep_App.eca" in names

    request = md._client.get_type("ns0:RetrieveRequest")(
        apiVersion=63.0, singlePackage=True,
        unpackaged=md._client.get_type("ns0:Package")(types=[
            md._client.get_type("ns0:PackageTypeMembers")(name="ExtlClntAppGlobalOauthSettings",
                                                          members=["*"]),
            md._client.get_type("ns0:PackageTypeMembers")(name="ConnectedApp",
                                                          members=["Missing"])],
            version="63.0"))
    job = md._service.retrieve(request, _soapheaders=[md._session_header])
    deadline = time.monotonic() + 120  # bounded, generous on a busy machine
    while time.monotonic() < deadline:
        res = md._service.checkRetrieveStatus(job.id, True,
                                              _soapheaders=[md._session_header])
        res = res.body.result if hasattr(res, "body") else res
        if res.done:
            break
        time.sleep(0.02)
    assert res.status == "Succeeded"
    assert any("Missing" in m.problem for m in res.messages)
    with zipfile.ZipFile(io.BytesIO(res.zipFile)) as zf:
        text = zf.read("extlClntAppGlobalOauthSets/Zeep_App_glbloauth.ecaGlblOauth").decode()
        assert "<consumerKey>ZeepAppKey001</consumerKey>" in text
        # Returned to a user who may read these settings at all (org setting + permission),
        # as the Metadata API guide's special access rules for the type say.
        assert "<consumerSecret>SecretZeepAppKey001</consumerSecret>" in text
        assert "package.xml" in zf.namelist()


def test_simple_salesforce_retrieve_helpers(sf: Salesforce) -> None:
    job, state = sf.mdapi.retrieve("0", unpackaged={"ExternalClientApplication": ["*"]})
    assert state == "Queued"
    deadline = time.monotonic() + 120  # bounded, generous on a busy machine
    while time.monotonic() < deadline:
        status, _, _ = sf.mdapi.check_retrieve_status(job)
        if status == "Succeeded":
            break
        time.sleep(0.02)
    _, _, _, data = sf.mdapi.retrieve_zip(job)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "externalClientApps/Provisioner_Bootstrap.eca" in zf.namelist()


def test_unknown_deploy_id_is_a_fault(sf: Salesforce) -> None:
    with pytest.raises(Exception, match="INVALID_ID_FIELD"):
        sf.checkDeployStatus("0AfXXXXXXXXXXXXXXX")
