"""Generated components: schema-valid, WSDL order, secrets handled, placeholders, names."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from provisioner.appkinds import build_components
from provisioner.appkinds.external_client_app import full_names as eca_full_names
from provisioner.errors import PlanError, RemoteError
from provisioner.metadata import (
    Component,
    Placeholder,
    from_crud,
    from_xml,
    to_crud_dict,
    to_xml,
)
from provisioner.metadata.types import fields_of
from provisioner.model import OAuthPolicies, RefreshTokenPolicy
from provisioner.secret import Secret
from tests.metadata.conftest import CANARY_SECRET, make_app, make_desired, make_org
from tests.metadata.wsdl import validate, wsdl_fields

APP_TYPES = ["externalClientApp", "connectedApp"]


def _components(app_type: str, **kw: object) -> list[Component]:
    app = make_app(app_type)
    desired = make_desired(app)
    return build_components(app, desired.orgs["acme"], desired.callback_urls(app), **kw)  # type: ignore[arg-type]


def _child_order(elem: ET.Element, type_name: str) -> None:
    """Assert children appear in the WSDL's order for ``type_name`` (recursively)."""
    wsdl = wsdl_fields(type_name)
    order = [name for name, *_ in wsdl]
    nested = {name: t for name, _, _, t in wsdl}
    names = [c.tag.rpartition("}")[2] for c in elem if isinstance(c.tag, str)]
    positions = [order.index(n) for n in names]
    assert positions == sorted(positions), f"{type_name}: {names}"
    for child in elem:
        if isinstance(child.tag, str) and nested.get(child.tag.rpartition("}")[2]):
            _child_order(child, nested[child.tag.rpartition("}")[2]])  # type: ignore[arg-type]


@pytest.mark.parametrize("app_type", APP_TYPES)
@pytest.mark.parametrize("mode", ["render", "deploy", "full-name"])
def test_generated_xml_validates_against_wsdl_schema(
    app_type: str, mode: str, certificate_pem: str
) -> None:
    kw: dict[str, object] = (
        {"placeholders": True}
        if mode == "render"
        else {
            "certificate_pem": certificate_pem,
            "consumer_key": "3MVG9pvProvisionerKey0001",
            "consumer_secret": Secret(CANARY_SECRET),
        }
    )
    comps = _components(app_type, **kw)
    assert comps
    for comp in comps:
        xml = to_xml(comp, include_secrets=mode == "deploy", include_full_name=mode == "full-name")
        validate(xml)
        _child_order(ET.fromstring(xml), comp.type)


@pytest.mark.parametrize(
    "policies",
    [
        OAuthPolicies("allSelfAuthorized", "enforce", RefreshTokenPolicy("zero")),
        OAuthPolicies("adminApprovedPreAuthorized", "bypass", RefreshTokenPolicy("infinite")),
        OAuthPolicies(
            "adminApprovedPreAuthorized",
            "enforceRelaxRefresh",
            RefreshTokenPolicy("specificInactivity", 4, "hours"),
            15,
        ),
        OAuthPolicies(
            "allSelfAuthorized", "bypass2fa", RefreshTokenPolicy("specificLifetime", 3, "months")
        ),
    ],
)
@pytest.mark.parametrize("app_type", APP_TYPES)
def test_every_policy_option_validates(app_type: str, policies: OAuthPolicies) -> None:
    app = make_app(
        app_type,
        policies=policies,
        scopes=(),
        certificate=None,
        description=None,
        contact_phone=None,
        pre_authorized_profiles=(),
        pre_authorized_permission_sets=(),
    )
    desired = make_desired(app)
    for comp in build_components(app, desired.orgs["acme"], (), placeholders=True):
        validate(to_xml(comp))


def test_missing_required_element_fails_schema() -> None:
    """The validator is real: a ConnectedApp without contactEmail (required) is rejected."""
    xml = to_xml(Component("ConnectedApp", "X", {"label": "X"}))
    with pytest.raises(AssertionError, match="contactEmail"):
        validate(xml)


def test_eca_full_names_follow_setup_convention() -> None:
    comps = _components("externalClientApp", placeholders=True)
    assert [(c.type, c.full_name) for c in comps] == list(eca_full_names("Billing_Sync").items())
    assert [c.path for c in comps] == [
        "externalClientApps/Billing_Sync.eca",
        "extlClntAppOauthSettings/Billing_Sync_oauth.ecaOauth",
        "extlClntAppGlobalOauthSets/Billing_Sync_glbloauth.ecaGlblOauth",
        "extlClntAppOauthPolicies/Billing_Sync_oauthPlcy.ecaOauthPlcy",
        "extlClntAppPolicies/Billing_Sync_plcy.ecaPlcy",
    ]
    for comp in comps[1:]:
        assert comp.fields["externalClientApplication"] == "Billing_Sync"


def test_connected_app_values() -> None:
    (comp,) = _components("connectedApp", placeholders=True)
    assert comp.path == "connectedApps/Billing_Sync.connectedApp"
    oauth = comp.fields["oauthConfig"]
    assert isinstance(oauth, dict)
    assert oauth["callbackUrl"] == (
        "https://ops.example.com/oauth/callback\nhttps://wf.example.com/rest/oauth2-credential/callback"
    )
    assert oauth["isAdminApproved"] is True
    assert oauth["scopes"] == ("Api", "RefreshToken", "OpenID", "Profile", "Email", "OfflineAccess")
    assert comp.fields["oauthPolicy"] == {
        "ipRelaxation": "BYPASS_2FACTOR",
        "refreshTokenPolicy": "specific_lifetime:90:DAYS",
    }
    assert comp.fields["profileName"] == ("Integration User", "System Administrator")
    assert comp.fields["sessionPolicy"] == {"sessionTimeout": 120}


def test_jwt_only_app_gets_default_callback_and_no_secret_placeholder() -> None:
    app = make_app(callback_urls=(), credentials=make_app().credentials[:1])
    comps = build_components(app, make_org(), (), placeholders=True)
    glob = comps[2].fields
    assert glob["callbackUrl"] == "https://login.salesforce.com/services/oauth2/success"
    assert "consumerSecret" not in glob
    assert isinstance(glob["consumerKey"], Placeholder)


def test_deploy_without_placeholders_omits_unknown_material() -> None:
    comps = _components("externalClientApp")
    glob = comps[2].fields
    assert "certificate" not in glob and "consumerKey" not in glob and "consumerSecret" not in glob


@pytest.mark.parametrize("app_type", APP_TYPES)
def test_secret_only_in_deploy_xml(app_type: str, certificate_pem: str) -> None:
    comps = _components(
        app_type, certificate_pem=certificate_pem, consumer_secret=Secret(CANARY_SECRET)
    )
    rendered = b"".join(to_xml(c) for c in comps)
    deployed = b"".join(to_xml(c, include_secrets=True) for c in comps)
    assert CANARY_SECRET.encode() not in rendered
    assert b"consumerSecret: omitted; generated at apply time" in rendered
    assert deployed.count(CANARY_SECRET.encode()) == 1
    assert CANARY_SECRET not in repr(comps)
    assert CANARY_SECRET not in str(
        to_crud_dict(comps[-1] if app_type == "connectedApp" else comps[2])
    )
    crud = to_crud_dict(comps[0] if app_type == "connectedApp" else comps[2], include_secrets=True)
    assert CANARY_SECRET in str(crud)


def test_deploy_refuses_placeholders() -> None:
    comps = _components("externalClientApp", placeholders=True)
    with pytest.raises(PlanError, match="certificate, consumerKey, consumerSecret not generated"):
        to_xml(comps[2], include_secrets=True)
    with pytest.raises(PlanError):
        to_crud_dict(comps[2])


def test_xml_output_shape_is_stable() -> None:
    xml = to_xml(
        Component(
            "ExtlClntAppConfigurablePolicies",
            "A_plcy",
            {
                "label": "a--b",
                "isEnabled": True,
                "externalClientApplication": "A",
            },
        )
    )
    assert xml == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ExtlClntAppConfigurablePolicies xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        b"    <externalClientApplication>A</externalClientApplication>\n"
        b"    <isEnabled>true</isEnabled>\n"
        b"    <label>a--b</label>\n"
        b"</ExtlClntAppConfigurablePolicies>\n"
    )


def test_component_rejects_unknown_fields_and_types() -> None:
    with pytest.raises(ValueError, match="no field"):
        Component("ConnectedApp", "X", {"colour": "red"})
    with pytest.raises(ValueError, match="unsupported"):
        Component("ApexClass", "X")


@pytest.mark.parametrize("app_type", APP_TYPES)
def test_xml_round_trip_preserves_fields(app_type: str, certificate_pem: str) -> None:
    comps = _components(app_type, certificate_pem=certificate_pem, consumer_key="KEY123")
    for comp in comps:
        back = from_xml(to_xml(comp, include_secrets=True), comp.full_name)
        assert back == comp


def test_crud_round_trip_and_zeep_like_objects(certificate_pem: str) -> None:
    (comp,) = _components("connectedApp", certificate_pem=certificate_pem, consumer_key="KEY123")
    crud = to_crud_dict(comp)
    assert crud["fullName"] == "Billing_Sync"
    assert crud["profileName"] == ["Integration User", "System Administrator"]

    class Zeepish:  # zeep CompoundValue keeps its fields in __values__
        def __init__(self, values: dict[str, object]) -> None:
            self.__values__ = values

    record = dict(crud)
    record["oauthConfig"] = Zeepish(
        {
            **crud["oauthConfig"],
            "isAdminApproved": "true",
            "consumerSecret": None,
            "assetTokenConfig": {"x": 1},
        }
    )
    record["sessionPolicy"] = {"sessionTimeout": "120", "sessionLevel": None}
    record["canvas"] = {"anything": 1}
    assert from_crud("ConnectedApp", Zeepish(record)) == comp


def test_from_crud_missing_component_is_remote_error() -> None:
    with pytest.raises(RemoteError, match="returned no component"):
        from_crud("ConnectedApp", {"fullName": None})


def test_from_xml_rejects_doctype() -> None:
    with pytest.raises(RemoteError, match="DOCTYPE"):
        from_xml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><ConnectedApp/>', "X")


def test_secret_read_back_stays_wrapped() -> None:
    comp = from_crud(
        "ExtlClntAppGlobalOauthSettings",
        {
            "fullName": "A_glbloauth",
            "externalClientApplication": "A",
            "consumerSecret": CANARY_SECRET,
        },
    )
    assert isinstance(comp.fields["consumerSecret"], Secret)
    assert CANARY_SECRET not in repr(comp)


def test_every_field_table_name_is_unique() -> None:
    for type_name in ["ConnectedApp", "ConnectedAppOauthConfig", "ExtlClntAppGlobalOauthSettings"]:
        names = [f.name for f in fields_of(type_name)]
        assert len(names) == len(set(names))
        assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", n) for n in names)
