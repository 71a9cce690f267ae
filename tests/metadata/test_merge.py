"""An update keeps the org's unmanaged fields and clears managed ones explicitly."""

from __future__ import annotations

from provisioner.metadata.merge import merge_component
from provisioner.metadata.types import Component
from provisioner.secret import Secret

MANAGED = frozenset({"callbackUrl", "certificate", "label"})


def test_unmanaged_fields_are_kept_and_managed_ones_follow_the_spec() -> None:
    live = Component("ExtlClntAppGlobalOauthSettings", "X_glbl", {
        "callbackUrl": "https://old.example.com/cb", "label": "Old", "isPkceRequired": True,
        "consumerKey": "3MVG9KEY", "consumerSecret": Secret("s3cr3t-value"),
        "certificate": "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----"})
    built = Component("ExtlClntAppGlobalOauthSettings", "X_glbl", {
        "callbackUrl": "https://new.example.com/cb", "label": "New",
        "externalClientApplication": "X"})
    merged = merge_component(built, live, MANAGED)
    assert merged.component.fields == {
        "callbackUrl": "https://new.example.com/cb", "label": "New",
        "externalClientApplication": "X", "isPkceRequired": True,
        "certificate": "",  # managed, dropped by the spec: cleared explicitly
    }  # the consumer key (create-only) and secret are never sent back
    assert merged.kept == ("isPkceRequired",)


def test_lists_are_cleared_with_one_empty_element_and_nested_fields_merge() -> None:
    managed = frozenset({"profileName", "oauthConfig.scopes", "oauthConfig.callbackUrl"})
    live = Component("ConnectedApp", "L", {
        "profileName": ("Old Profile",), "canvasConfig": {"canvasUrl": "https://c.example"},
        "oauthConfig": {"callbackUrl": "https://a", "scopes": ("Api",), "isPkceRequired": True,
                        "consumerKey": "K"}})
    built = Component("ConnectedApp", "L", {"oauthConfig": {"callbackUrl": "https://b",
                                                            "scopes": ("Api", "Full")}})
    merged = merge_component(built, live, managed)
    assert merged.component.fields == {
        "profileName": ("",),
        "canvasConfig": {"canvasUrl": "https://c.example"},
        "oauthConfig": {"callbackUrl": "https://b", "scopes": ("Api", "Full"),
                        "isPkceRequired": True},
    }
    assert merged.kept == ("canvasConfig", "oauthConfig.isPkceRequired")


def test_a_new_app_is_sent_as_built() -> None:
    built = Component("ExternalClientApplication", "X", {"label": "X"})
    assert merge_component(built, None, MANAGED).component is built
