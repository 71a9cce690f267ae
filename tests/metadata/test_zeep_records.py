"""to_crud_dict fits zeep's types from the bundled WSDL, and from_crud reads zeep objects back."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.appkinds import build_components
from provisioner.metadata import (
    METADATA_NS,
    desired_view,
    from_crud,
    live_view,
    to_crud_dict,
)
from provisioner.secret import Secret
from tests.metadata.conftest import CANARY_SECRET, make_app, make_desired
from tests.metadata.wsdl import WSDL_PATH


@pytest.fixture(scope="module")
def zeep_client() -> Any:
    """A zeep client over the bundled WSDL (what simple-salesforce's ``sf.mdapi`` uses)."""
    zeep = pytest.importorskip("zeep")
    return zeep.Client(str(WSDL_PATH))


@pytest.mark.parametrize("app_type", ["externalClientApp", "connectedApp"])
def test_crud_dicts_build_zeep_objects_and_read_back(
    app_type: str, zeep_client: Any, certificate_pem: str
) -> None:
    app = make_app(app_type)
    desired = make_desired(app)
    org, urls = desired.orgs["acme"], desired.callback_urls(app)
    comps = build_components(
        app,
        org,
        urls,
        certificate_pem=certificate_pem,
        consumer_key="KEY9",
        consumer_secret=Secret(CANARY_SECRET),
    )
    records = []
    for comp in comps:
        zeep_type = zeep_client.get_type(f"{{{METADATA_NS}}}{comp.type}")
        obj = zeep_type(**to_crud_dict(comp, include_secrets=True))  # unknown keys would raise
        back = from_crud(comp.type, obj)
        assert back == comp
        records.append(back)
    assert desired_view(app, org, urls, certificate_pem).diff(live_view(records)) == []
