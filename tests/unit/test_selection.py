"""Choosing the apps of rotate and destroy (a core rule, shared by every front end)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from provisioner.engine.selection import Selection, select_apps, select_rotation
from provisioner.errors import UsageError
from provisioner.model import Desired
from provisioner.spec import load_desired

ORG = """\
apiVersion: provisioner.dev/v1
kind: SalesforceOrg
metadata: {name: sb}
spec: {sandbox: {stateDir: sandbox}}
"""


def _app(name: str, certificate: bool) -> str:
    cert = "  certificate: {keySize: 2048}\n" if certificate else ""
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceApp
        metadata: {{name: {name}}}
        spec:
          org: sb
          label: {name}
          contactEmail: a@example.com
          callbackUrls: [https://example.com/cb]
        """) + cert


@pytest.fixture
def desired(tmp_path: Path) -> Desired:
    """Three apps; ``legacy-crm`` has no certificate."""
    spec = tmp_path / "specs.yaml"
    spec.write_text("---\n".join([ORG, _app("legacy-crm", False), _app("payments", True),
                                   _app("quickstart-app", True)]))
    d = load_desired([spec])
    assert {n for n, a in d.apps.items() if a.certificate is None} == {"legacy-crm"}
    return d


@pytest.mark.parametrize(("names", "every", "chosen"), [
    (["quickstart-app"], False, {"quickstart-app"}),
    (["quickstart-app", "quickstart-app"], False, {"quickstart-app"}),
    ([], True, {"legacy-crm", "payments", "quickstart-app"}),
    (["payments"], True, {"legacy-crm", "payments", "quickstart-app"}),
], ids=["one", "repeated", "all", "all-wins"])
def test_select_apps(desired: Desired, names: list[str], every: bool, chosen: set[str]) -> None:
    assert select_apps(desired, names, every=every, verb="delete") == Selection(frozenset(chosen))


@pytest.mark.parametrize(("names", "message", "hint"), [
    ([], "say which apps to delete", "pass --app NAME (repeatable) or --all"),
    (["nope", "quickstart-app", "also-nope"], "no app named also-nope, nope in the specs",
     "use the metadata.name of a SalesforceApp: legacy-crm, payments, quickstart-app"),
], ids=["nothing", "unknown"])
def test_select_apps_refuses(desired: Desired, names: list[str], message: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        select_apps(desired, names, every=False, verb="delete")
    assert (info.value.message, info.value.hint) == (message, hint)


def test_rotation_skips_apps_without_a_certificate_only_with_all(desired: Desired) -> None:
    every = select_rotation(desired, [], every=True)
    assert every.apps == {"payments", "quickstart-app"}
    assert every.skipped == (("legacy-crm", "it has no certificate"),)
    assert select_rotation(desired, ["payments"], every=False).apps == {"payments"}
    with pytest.raises(UsageError, match="app legacy-crm has no certificate to rotate"):
        select_rotation(desired, ["legacy-crm", "payments"], every=False)

