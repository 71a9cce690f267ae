"""Metadata API CRUD through the unmodified simple-salesforce/zeep client, and every fault and
item error the design depends on."""

from __future__ import annotations

import pytest
import requests
import zeep.exceptions
from sandbox_helpers import (
    API_VERSION,
    INTEGRATION_USER,
    client_for,
    connected_app,
    create_eca,
    eca_components,
    jwt_login,
    keypair,
)
from simple_salesforce import Salesforce

from provisioner.sandbox import SandboxServer

ECA_TYPES = ["ExternalClientApplication", "ExtlClntAppOauthSettings",
             "ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthConfigurablePolicies",
             "ExtlClntAppConfigurablePolicies"]


def test_eca_family_create_read_list_update_delete(sandbox: SandboxServer, sf: Salesforce) -> None:
    _, cert = keypair(1)
    create_eca(sf, "Workflow_Jwt", key="WorkflowJwtKey01", cert=cert)
    md = sf.mdapi
    app = md.ExternalClientApplication.read(["Workflow_Jwt"])
    assert (app.fullName, app.label, app.distributionState) == ("Workflow_Jwt", "Workflow_Jwt",
                                                                 "Local")
    glob = md.ExtlClntAppGlobalOauthSettings.read(["Workflow_Jwt_glbloauth"])
    assert glob.consumerKey == "WorkflowJwtKey01"
    # Returned to a user who may read these settings (org setting + user permission).
    assert glob.consumerSecret == "SecretWorkflowJwtKey01"
    assert glob.certificate.strip() == cert.strip()
    oauth = md.ExtlClntAppOauthSettings.read(["Workflow_Jwt_oauth"])
    assert oauth.commaSeparatedOauthScopes == "Api,RefreshToken"  # OfflineAccess folded
    pol = md.ExtlClntAppOauthConfigurablePolicies.read(["Workflow_Jwt_oauthPlcy"])
    assert pol.permittedUsersPolicyType == "AdminApprovedPreAuthorized"
    for type_name in ECA_TYPES:
        listed = md.list_metadata([md.ListMetadataQuery(type=type_name)])
        assert any(p.fullName.startswith("Workflow_Jwt") for p in listed), type_name
    # update: certificate changes, key not resent
    _, cert2 = keypair(2)
    md.ExtlClntAppGlobalOauthSettings.update([md.ExtlClntAppGlobalOauthSettings(
        fullName="Workflow_Jwt_glbloauth", externalClientApplication="Workflow_Jwt",
        callbackUrl="https://workflow.example.com/cb", certificate=cert2)])
    after = md.ExtlClntAppGlobalOauthSettings.read(["Workflow_Jwt_glbloauth"])
    assert (after.consumerKey, after.certificate.strip()) == ("WorkflowJwtKey01", cert2.strip())
    md.ExternalClientApplication.delete(["Workflow_Jwt"])  # removes the sub-components too
    assert md.ExternalClientApplication.read(["Workflow_Jwt"]).fullName is None
    assert md.ExtlClntAppGlobalOauthSettings.read(["Workflow_Jwt_glbloauth"]).fullName is None
    assert sandbox.org.app("Workflow_Jwt") is None


def test_upsert_reports_created_then_updated(sf: Salesforce) -> None:
    md = sf.mdapi
    obj = md.ExternalClientApplication(fullName="Up_App", label="Up", distributionState="Local")
    first = md._service.upsertMetadata([obj], _soapheaders=[md._session_header])
    assert (first[0].created, first[0].success) == (True, True)
    obj.label = "Up 2"
    second = md._service.upsertMetadata([obj], _soapheaders=[md._session_header])
    assert (second[0].created, second[0].success) == (False, True)
    assert md.ExternalClientApplication.read(["Up_App"]).label == "Up 2"


def test_read_of_several_and_rename(sf: Salesforce) -> None:
    md = sf.mdapi
    md.ExternalClientApplication.create([
        md.ExternalClientApplication(fullName=f"App_{i}", label=f"App {i}") for i in range(3)])
    records = md.ExternalClientApplication.read(["App_0", "Missing", "App_2"])
    assert [r.fullName for r in records] == ["App_0", None, "App_2"]
    md.ExternalClientApplication.rename("App_1", "App_One")
    assert md.ExternalClientApplication.read(["App_One"]).label == "App 1"


def test_connected_app_creation_refused_by_default_but_edit_and_delete_work(
        sandbox: SandboxServer, sf: Salesforce) -> None:
    _, cert = keypair(1)
    app = connected_app(sf, "Legacy", key="LegacyKey0001", cert=cert,
                        scopes=("Api", "Profile", "Email", "OfflineAccess", "RefreshToken"))
    with pytest.raises(Exception, match="INSUFFICIENT_ACCESS, You can't create a connected app"):
        sf.mdapi.ConnectedApp.create([app])
    sandbox.org.set_setting("connectedAppCreationDisabled", False)
    sf.mdapi.ConnectedApp.create([app])
    sandbox.org.set_setting("connectedAppCreationDisabled", True)
    read = sf.mdapi.ConnectedApp.read(["Legacy"])
    assert read.oauthConfig.consumerKey == "LegacyKey0001"
    assert read.oauthConfig.consumerSecret is None
    assert read.oauthConfig.scopes == ["Basic", "RefreshToken", "Api"] or set(
        read.oauthConfig.scopes) == {"Basic", "Api", "RefreshToken"}
    assert read.profileName == ["Integration User"]
    # redeploying what was read back fails on the key ...
    with pytest.raises(Exception, match="consumer key is already taken"):
        sf.mdapi.ConnectedApp.update([read])
    # ... without it the edit works, and delete works
    read.oauthConfig.consumerKey = None
    read.label = "Legacy edited"
    sf.mdapi.ConnectedApp.update([read])
    assert sf.mdapi.ConnectedApp.read(["Legacy"]).label == "Legacy edited"
    sf.mdapi.ConnectedApp.delete(["Legacy"])
    assert sf.mdapi.ConnectedApp.read(["Legacy"]).fullName is None


@pytest.mark.parametrize(("change", "expected"), [
    ({"consumerKey": "short"}, "consumerKey: must be 8-256 alphanumeric characters"),
    ({"consumerKey": "has-dash-0001"}, "consumerKey: must be 8-256 alphanumeric characters"),
    ({"consumerKey": "PROVISIONERSANDBOXBOOTSTRAP0001"}, "consumer key is already taken"),
    ({"callbackUrl": "http://workflow.example.com/cb"}, "must use https"),
    ({"callbackUrl": "not a url"}, "invalid URL"),
    ({"certificate": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"},
     "not a valid PEM-encoded X.509 certificate"),
    ({"externalClientApplication": "Nope"}, "no ExternalClientApplication named Nope found"),
])
def test_global_oauth_settings_validation(sf: Salesforce, change: dict[str, str],
                                          expected: str) -> None:
    comps = eca_components(sf, "Val_App", key="ValAppKey0001", cert=keypair(1)[1])
    sf.mdapi.ExternalClientApplication.create([comps["ExternalClientApplication"]])
    glob = comps["ExtlClntAppGlobalOauthSettings"]
    for key, value in change.items():
        setattr(glob, key, value)
    with pytest.raises(Exception, match=expected):
        sf.mdapi.ExtlClntAppGlobalOauthSettings.create([glob])


def test_item_errors_required_enum_duplicate_missing(sf: Salesforce) -> None:
    md = sf.mdapi
    with pytest.raises(Exception, match=r"REQUIRED_FIELD_MISSING, Required fields are missing: "
                                        r"\[label\]"):
        md.ExternalClientApplication.create([md.ExternalClientApplication(fullName="No_Label")])
    with pytest.raises(Exception, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        md.ExternalClientApplication.create([md.ExternalClientApplication(
            fullName="Bad_Enum", label="x", distributionState="Everywhere")])
    with pytest.raises(Exception, match="FIELD_INTEGRITY_EXCEPTION, The API name"):
        md.ExternalClientApplication.create([md.ExternalClientApplication(
            fullName="bad__name", label="x")])
    with pytest.raises(Exception, match="DUPLICATE_VALUE"):
        md.ExternalClientApplication.create([md.ExternalClientApplication(
            fullName="Provisioner_Bootstrap", label="x")])
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        md.ExternalClientApplication.update([md.ExternalClientApplication(
            fullName="Not_There", label="x")])
    with pytest.raises(Exception, match="INVALID_CROSS_REFERENCE_KEY"):
        md.ExternalClientApplication.delete(["Not_There"])
    with pytest.raises(Exception, match="no Profile named Nobody found"):
        comps = eca_components(sf, "Bad_Prof", key="BadProfKey001", cert=None, profiles="Nobody")
        md.ExternalClientApplication.create([comps["ExternalClientApplication"]])
        md.ExtlClntAppOauthConfigurablePolicies.create(
            [comps["ExtlClntAppOauthConfigurablePolicies"]])


def test_consumer_secret_is_chosen_on_create_and_generated_on_rotation(
        sandbox: SandboxServer, sf: Salesforce) -> None:
    # An existing External Client App refuses a chosen secret ...
    create_eca(sf, "Sec_App", key="SecAppKey0001", cert=None)
    md = sf.mdapi
    assert md.ExtlClntAppGlobalOauthSettings.read(["Sec_App_glbloauth"]).consumerSecret == (
        "SecretSecAppKey0001")
    glob = eca_components(sf, "Sec_App", key="SecAppKey0001", cert=None)[
        "ExtlClntAppGlobalOauthSettings"]
    glob.consumerKey = None
    glob.consumerSecret = "ReplacedSecret0001"
    with pytest.raises(Exception, match="can only be set when the app is created; deploy "
                                        "shouldRotateConsumerSecret"):
        md.ExtlClntAppGlobalOauthSettings.update([glob])
    # ... and generates one when asked (the documented route); a read returns the new one, and
    # the flag is an action, not a stored setting.
    glob.consumerSecret = None
    glob.shouldRotateConsumerSecret = True
    md.ExtlClntAppGlobalOauthSettings.update([glob])
    after = md.ExtlClntAppGlobalOauthSettings.read(["Sec_App_glbloauth"])
    assert after.consumerSecret and after.consumerSecret != "SecretSecAppKey0001"
    assert len(after.consumerSecret) == 64 and after.shouldRotateConsumerSecret is None
    assert after.consumerKey == "SecAppKey0001"
    saved = (sandbox.state_dir / "org.json").read_text()
    assert after.consumerSecret not in saved and "SecretSecAppKey0001" not in saved  # sealed
    # Without the org setting, the settings (and so the secret) cannot be read at all.
    sandbox.org.set_setting("oauthConsumerSecretsViaMetadataApi", False)
    with pytest.raises(Exception, match=r"INSUFFICIENT_ACCESS"):
        md.ExtlClntAppGlobalOauthSettings.read(["Sec_App_glbloauth"])
    sandbox.org.set_setting("oauthConsumerSecretsViaMetadataApi", True)
    # A Connected App's secret is settable on create only.
    sandbox.org.set_setting("connectedAppCreationDisabled", False)
    app = connected_app(sf, "Sec_Legacy", key="SecLegacyKey01")
    md.ConnectedApp.create([app])
    app.oauthConfig.consumerKey = None
    app.oauthConfig.consumerSecret = "ReplacedSecret0002"
    with pytest.raises(Exception, match="consumerSecret: can only be set when the app is created"):
        md.ConnectedApp.update([app])


def test_more_than_ten_components_is_a_fault(sf: Salesforce) -> None:
    md = sf.mdapi
    objs = [md.ExternalClientApplication(fullName=f"Many_{i}", label="x") for i in range(11)]
    with pytest.raises(zeep.exceptions.Fault) as info:
        md.ExternalClientApplication.create(objs)
    assert info.value.code == "sf:EXCEEDED_ID_LIMIT"
    md.ExternalClientApplication.create(objs[:10])  # ten is fine


def test_invalid_or_expired_session_is_invalid_session_id(sandbox: SandboxServer) -> None:
    sf = client_for(sandbox, token="00Dbogus!token")
    with pytest.raises(zeep.exceptions.Fault) as info:
        sf.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"])
    assert info.value.code == "sf:INVALID_SESSION_ID"
    assert info.value.message.startswith("INVALID_SESSION_ID: ")
    good = client_for(sandbox)
    good.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"])
    sandbox.org.expire_sessions()
    with pytest.raises(zeep.exceptions.Fault) as info:
        good.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"])
    assert info.value.code == "sf:INVALID_SESSION_ID"


def test_integration_user_has_no_metadata_access(sandbox: SandboxServer) -> None:
    sf = client_for(sandbox)
    key, cert = keypair(1)
    create_eca(sf, "Int_App", key="IntAppKey0001", cert=cert)
    token = jwt_login(sandbox, "IntAppKey0001", INTEGRATION_USER, key).json()["access_token"]
    with pytest.raises(zeep.exceptions.Fault) as info:
        client_for(sandbox, token).mdapi.ExternalClientApplication.read(["Int_App"])
    assert info.value.code == "sf:INSUFFICIENT_ACCESS"


def test_global_settings_need_the_consumer_secret_permission(sandbox: SandboxServer,
                                                             sf: Salesforce) -> None:
    sandbox.org.set_setting("oauthConsumerSecretsViaMetadataApi", False)
    with pytest.raises(zeep.exceptions.Fault) as info:
        sf.mdapi.ExtlClntAppGlobalOauthSettings.read(["Provisioner_Bootstrap_glbloauth"])
    assert info.value.code == "sf:INSUFFICIENT_ACCESS"
    comps = eca_components(sf, "Perm_App", key="PermAppKey001", cert=None)
    sf.mdapi.ExternalClientApplication.create([comps["ExternalClientApplication"]])
    with pytest.raises(Exception, match="INSUFFICIENT_ACCESS"):
        sf.mdapi.ExtlClntAppGlobalOauthSettings.create([comps["ExtlClntAppGlobalOauthSettings"]])


def test_old_api_version_is_unsupported(sandbox: SandboxServer) -> None:
    token = jwt_login(sandbox).json()["access_token"]
    sf = Salesforce(instance_url=sandbox.url, session_id=token, version="30.0")
    with pytest.raises(zeep.exceptions.Fault) as info:
        sf.mdapi.ExternalClientApplication.read(["Provisioner_Bootstrap"])
    assert info.value.code == "sf:UNSUPPORTED_API_VERSION"


def _soap(sandbox: SandboxServer, body: bytes) -> requests.Response:
    return requests.post(f"{sandbox.url}/services/Soap/m/{API_VERSION}", data=body,
                         headers={"Content-Type": "text/xml", "SOAPAction": '""'}, timeout=10)


def test_entities_and_doctypes_are_refused(sandbox: SandboxServer) -> None:
    token = jwt_login(sandbox).json()["access_token"]
    body = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:m="http://soap.sforce.com/2006/04/metadata"><soapenv:Header><m:SessionHeader>'
            f'<m:sessionId>{token}</m:sessionId></m:SessionHeader></soapenv:Header><soapenv:Body>'
            '<m:readMetadata><m:type>ConnectedApp</m:type><m:fullNames>&e;</m:fullNames>'
            '</m:readMetadata></soapenv:Body></soapenv:Envelope>').encode()
    resp = _soap(sandbox, body)
    assert resp.status_code == 500
    assert b"DOCTYPE is not allowed" in resp.content
    assert b"root:" not in resp.content


def test_request_size_is_limited(make_sandbox: object) -> None:
    srv = make_sandbox(max_request_bytes=1000)  # type: ignore[operator]
    resp = _soap(srv, b"<x>" + b"a" * 2000 + b"</x>")
    assert resp.status_code == 413


def test_unknown_operation_and_type(sf: Salesforce, sandbox: SandboxServer) -> None:
    with pytest.raises(zeep.exceptions.Fault) as info:
        sf.mdapi.CustomObject.read(["Account"])
    assert info.value.code == "sf:INVALID_TYPE"
