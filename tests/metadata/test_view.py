"""AppView: desired == live after a deploy/read round trip; diffs are precise and secret-free."""

from __future__ import annotations

import pytest

from provisioner.appkinds import build_components
from provisioner.metadata import (
    AppView,
    Component,
    certificate_fingerprint,
    desired_view,
    from_xml,
    live_view,
    to_xml,
)
from provisioner.model import AppSpec
from provisioner.secret import Secret
from tests.metadata.conftest import CANARY_SECRET, make_app, make_desired

APP_TYPES = ["externalClientApp", "connectedApp"]


def _round_trip(app: AppSpec, pem: str | None, *, mangle: bool = False) -> tuple[AppView, AppView]:
    desired = make_desired(app)
    org = desired.orgs["acme"]
    urls = desired.callback_urls(app)
    comps = build_components(
        app,
        org,
        urls,
        certificate_pem=pem,
        consumer_key="KEY1",
        consumer_secret=Secret(CANARY_SECRET),
    )
    read_back: list[Component] = []
    for comp in comps:
        xml = to_xml(comp, include_secrets=True)
        if mangle:
            xml = _as_salesforce_reads_it(xml)
        back = from_xml(xml, comp.full_name)
        read_back.append(back)
    return desired_view(app, org, urls, pem), live_view(read_back)


def _as_salesforce_reads_it(xml: bytes) -> bytes:
    """What a read returns: canonical scopes, CRLF PEM, no secret, trailing whitespace."""
    text = xml.decode()
    for spelled, canonical in (
        ("Profile", "Basic"),
        ("Email", "Basic"),
        ("OfflineAccess", "RefreshToken"),
    ):
        text = text.replace(f"<scopes>{spelled}</scopes>", f"<scopes>{canonical}</scopes>")
        text = text.replace(f",{spelled}", f",{canonical}")
    text = text.replace(CANARY_SECRET, "")
    text = text.replace("-----\n", "-----\r\n").replace("</callbackUrl>", "  </callbackUrl>")
    return text.encode()


@pytest.mark.parametrize("app_type", APP_TYPES)
@pytest.mark.parametrize("mangle", [False, True])
def test_desired_equals_live_after_round_trip(
    app_type: str, mangle: bool, certificate_pem: str
) -> None:
    want, got = _round_trip(make_app(app_type), certificate_pem, mangle=mangle)
    assert want.diff(got) == []
    assert got.consumer_key == "KEY1"
    assert want == AppView(**{**want.__dict__, "consumer_key": None})


@pytest.mark.parametrize("app_type", APP_TYPES)
def test_minimal_app_round_trip(app_type: str) -> None:
    app = make_app(
        app_type,
        scopes=(),
        certificate=None,
        description=None,
        contact_phone=None,
        callback_urls=(),
        pre_authorized_profiles=(),
        pre_authorized_permission_sets=(),
    )
    want, got = _round_trip(app, None)
    assert want.diff(got) == []
    assert want.callback_urls == ("https://login.salesforce.com/services/oauth2/success",)


def test_view_values_are_normalised(certificate_pem: str) -> None:
    want, _ = _round_trip(make_app(), certificate_pem)
    assert want.scopes == ("Api", "Basic", "OpenID", "RefreshToken")
    assert want.callback_urls == (
        "https://ops.example.com/oauth/callback",
        "https://wf.example.com/rest/oauth2-credential/callback",
    )
    assert want.refresh_token == "specificLifetime:90:days"
    assert want.profiles == ("Integration User", "System Administrator")
    assert want.certificate_fingerprint == certificate_fingerprint(certificate_pem)
    assert want.plugin_enabled is True
    # Whitespace in a PEM does not change its fingerprint; a different certificate does.
    assert (
        certificate_fingerprint("  " + certificate_pem.replace("\n", "\r\n  "))
        == want.certificate_fingerprint
    )
    with pytest.raises(ValueError):
        certificate_fingerprint("not a pem")


def test_diff_reports_drift_field_by_field(certificate_pem: str) -> None:
    want, got = _round_trip(make_app(), certificate_pem)
    drifted = AppView(
        **{
            **got.__dict__,
            "scopes": ("Api",),
            "ip_relaxation": "enforce",
            "certificate_fingerprint": None,
            "consumer_key": "OTHER",
        }
    )
    changes = {c.field: (c.before, c.after) for c in want.diff(drifted)}
    assert set(changes) == {"scopes", "ip_relaxation", "certificate_fingerprint"}
    assert changes["ip_relaxation"] == ("bypass2fa", "enforce")
    assert "consumer_key" in {c.field for c in got.diff(drifted)}  # both sides known


def test_live_eca_with_missing_children_shows_drift(certificate_pem: str) -> None:
    app = make_app()
    desired = make_desired(app)
    comps = build_components(
        app, desired.orgs["acme"], desired.callback_urls(app), certificate_pem=certificate_pem
    )
    partial = live_view(comps[:1])
    fields = {
        c.field
        for c in desired_view(
            app, desired.orgs["acme"], desired.callback_urls(app), certificate_pem
        ).diff(partial)
    }
    assert {
        "scopes",
        "callback_urls",
        "certificate_fingerprint",
        "plugin_enabled",
        "permitted_users",
        "profiles",
    } <= fields
    assert "label" not in fields


def test_live_connected_app_unknown_values_pass_through() -> None:
    comp = Component(
        "ConnectedApp",
        "X",
        {
            "contactEmail": "a@b.c",
            "label": "X",
            "oauthConfig": {
                "callbackUrl": "https://a.example.com/cb,https://b.example.com/cb\n",
                "scopes": ("Api", "NewFancyScope"),
            },
            "oauthPolicy": {
                "ipRelaxation": "SOMETHING_NEW",
                "refreshTokenPolicy": "specific_inactivity:2:MONTHS",
            },
        },
    )
    view = live_view([comp])
    assert view.callback_urls == ("https://a.example.com/cb", "https://b.example.com/cb")
    assert view.scopes == ("Api", "NewFancyScope")
    assert view.ip_relaxation == "SOMETHING_NEW"
    assert view.refresh_token == "specificInactivity:2:months"
    assert view.permitted_users == "allSelfAuthorized"


def test_secret_never_in_view_or_diff(certificate_pem: str) -> None:
    want, got = _round_trip(make_app(), certificate_pem)
    assert CANARY_SECRET not in repr(want) + repr(got) + repr(want.as_dict()) + repr(got.as_dict())
