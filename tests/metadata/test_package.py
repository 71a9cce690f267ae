"""package.xml, destructiveChanges.xml and the deterministic deploy zip."""

from __future__ import annotations

import io
import zipfile

from provisioner.appkinds import build_components
from provisioner.metadata import (
    deploy_zip,
    from_xml,
    package_files,
    package_xml,
)
from provisioner.secret import Secret
from tests.metadata.conftest import CANARY_SECRET, make_app, make_desired


def _all_components(certificate_pem: str | None = None, secret: Secret | None = None):  # type: ignore[no-untyped-def]
    eca = make_app()
    ca = make_app("connectedApp", name="legacy", api_name="Legacy_App")
    desired = make_desired(eca, ca)
    out = []
    for app in (ca, eca):
        out += build_components(
            app,
            desired.orgs["acme"],
            desired.callback_urls(app),
            certificate_pem=certificate_pem,
            consumer_key="KEY" + app.api_name,
            consumer_secret=secret,
        )
    return out


def test_package_xml_lists_types_and_members_sorted() -> None:
    xml = package_xml(_all_components(), "63.0").decode()
    assert (
        xml
        == """<?xml version="1.0" encoding="UTF-8"?>
<Package xmlns="http://soap.sforce.com/2006/04/metadata">
    <types>
        <members>Legacy_App</members>
        <name>ConnectedApp</name>
    </types>
    <types>
        <members>Billing_Sync</members>
        <name>ExternalClientApplication</name>
    </types>
    <types>
        <members>Billing_Sync_plcy</members>
        <name>ExtlClntAppConfigurablePolicies</name>
    </types>
    <types>
        <members>Billing_Sync_glbloauth</members>
        <name>ExtlClntAppGlobalOauthSettings</name>
    </types>
    <types>
        <members>Billing_Sync_oauthPlcy</members>
        <name>ExtlClntAppOauthConfigurablePolicies</name>
    </types>
    <types>
        <members>Billing_Sync_oauth</members>
        <name>ExtlClntAppOauthSettings</name>
    </types>
    <version>63.0</version>
</Package>
"""
    )


def test_deploy_zip_is_byte_identical_and_complete(certificate_pem: str) -> None:
    comps = _all_components(certificate_pem, Secret(CANARY_SECRET))
    first = deploy_zip(comps, "63.0", destructive=[("ConnectedApp", "Old_App")])
    second = deploy_zip(list(reversed(comps)), "63.0", destructive=[("ConnectedApp", "Old_App")])
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert "package.xml" in names and "destructiveChanges.xml" in names
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
        assert b"<members>Old_App</members>" in archive.read("destructiveChanges.xml")
        assert b"Old_App" not in archive.read("package.xml")
        for comp in comps:
            assert from_xml(archive.read(comp.path), comp.full_name) == comp
        # A deploy carries the secret: once in the ECA global settings, once in the Connected App.
        blob = b"".join(archive.read(n) for n in names)
        assert blob.count(CANARY_SECRET.encode()) == 2


def test_safe_zip_and_package_files_have_no_secret(certificate_pem: str) -> None:
    comps = _all_components(certificate_pem, Secret(CANARY_SECRET))
    assert CANARY_SECRET.encode() not in deploy_zip(comps, "63.0", include_secrets=False)
    files = package_files(comps, "63.0")
    assert all(CANARY_SECRET.encode() not in data for data in files.values())
    assert list(files) == sorted(files)


def test_duplicate_paths_are_refused() -> None:
    comps = _all_components()
    try:
        package_files([*comps, comps[0]], "63.0")
    except ValueError as exc:
        assert "share the package path" in str(exc)
    else:
        raise AssertionError("duplicate component accepted")


def test_deploy_batches_keep_each_app_whole_within_the_files_limit() -> None:
    from provisioner.metadata.package import MAX_DEPLOY_FILES, deploy_batches

    assert deploy_batches([5] * 3, 13) == [range(0, 2), range(2, 3)]  # 10 files a deploy
    assert deploy_batches([5] * 2000) == [range(0, 1999), range(1999, 2000)]
    assert deploy_batches([5] * 1999) == [range(0, 1999)]  # 9,995 files + the manifests
    assert deploy_batches([]) == [range(0, 0)]
    assert deploy_batches([20], 10) == [range(0, 1)]  # too big alone: sent alone, the org says
    assert MAX_DEPLOY_FILES == 10_000
