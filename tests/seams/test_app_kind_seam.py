"""A new app kind plugs in through the registry: planned, deployed, read back, converged and
destroyed by the real engine against the sandbox org, with no engine change.

The kind is :mod:`tests.seams.example_app_kind` (an External Client App whose children carry
Metadata-API-style names); its docstring says which product files a product kind touches.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.appkinds import app_kind, register, unregister
from provisioner.engine.run import apply_desired, load_specs, plan_desired
from provisioner.model import Desired
from tests.engine.conftest import Workspace, approve, running_org
from tests.seams.example_app_kind import KIND, TYPE_NAME, names


@pytest.fixture
def example_kind() -> Iterator[None]:
    register(KIND)
    yield
    unregister(TYPE_NAME)


def _desired(ws: Workspace) -> Desired:
    """The workspace's specs with the app switched to the example kind (specs name only the
    schema's types; a product kind would be named in the schema's enum)."""
    desired = load_specs(ws.paths())
    apps = {n: dataclasses.replace(a, app_type=TYPE_NAME) for n, a in desired.apps.items()}
    return dataclasses.replace(desired, apps=apps)


def _files(ws: Workspace) -> list[Path]:
    return sorted(ws.specs.glob("*.yaml"))


def quiet(_line: str) -> None:
    return None


def test_unknown_kind_is_named() -> None:
    with pytest.raises(KeyError, match=r"unknown app type 'nope'.*externalClientApp"):
        app_kind("nope")


def test_example_kind_is_created_read_back_converged_and_destroyed(
    ws: Workspace, example_kind: None
) -> None:
    desired = _desired(ws)
    plan, result = apply_desired(desired, _files(ws), ws.options(), quiet, approve)
    assert [(a.app, a.action, a.app_type) for a in plan.apps] == [("billing", "create", TYPE_NAME)]
    assert result is not None and not result.failures, result and result.failures
    assert result.verified == ["billing"]  # a real JWT login with the new key

    with running_org(ws) as server:
        app = server.org.app("billing")
        assert app is not None
        stored = {t: comp["fullName"] for t, comp in app["components"].items()}
    assert stored == names("billing")  # its own names, no Setup-named duplicates

    again = plan_desired(_desired(ws), _files(ws), ws.options(), quiet).plan
    assert not again.has_changes, [a.to_json() for a in again.apps]

    gone, destroyed = apply_desired(
        _desired(ws), _files(ws), ws.options(destroy=frozenset({"billing"})), quiet, approve)
    assert [a.action for a in gone.apps] == ["delete"]
    assert destroyed is not None and not destroyed.failures
    with running_org(ws) as server:
        assert server.org.app("billing") is None


def test_spec_checks_and_render_ask_the_kind(ws: Workspace, example_kind: None) -> None:
    from provisioner.render_package import render_files

    files = render_files(_desired(ws))
    summaries = {f.path: f.summary for f in files}
    assert summaries["sb/extlClntAppGlobalOauthSets/billingGlblOAuth.ecaGlblOauth"] == (
        "ExtlClntAppGlobalOauthSettings billingGlblOAuth (External Client App (metadata names) "
        "billing)")
