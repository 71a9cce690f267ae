"""load_desired / check_paths: the model built from specs, and errors that never echo secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import model as m
from provisioner.errors import SpecError
from provisioner.spec import check_paths, load_desired

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "specs" / "quickstart.yaml"
PRODUCTION = REPO / "specs" / "examples" / "production.yaml"


def test_example_specs_validate_together() -> None:
    result = check_paths([REPO / "specs"])
    assert result.errors == []
    # The adopted Connected App carries the creation note, and nothing else warns.
    assert [(p.json_path, p.location.line) for p in result.warnings] == [("spec.appType", 84)]


def test_quickstart_model() -> None:
    desired = load_desired([QUICKSTART])
    org = desired.orgs["quickstart"]
    assert org.sandbox == m.EmbeddedSandbox(Path(".provisioner/sandbox"))
    assert org.auth is None and org.environment == "production"
    assert org.api_version == m.DEFAULT_API_VERSION
    inst = desired.instances["workflow"]
    assert inst.sink == m.ImportFileSinkSpec(
        QUICKSTART.parent / "../.provisioner/quickstart-credentials.json",
        encryption_key=m.SecretRef("env", "N8N_ENCRYPTION_KEY", QUICKSTART.parent),
    )
    assert inst.callback_url == "http://localhost:5678/rest/oauth2-credential/callback"
    app = desired.apps["workflow-integration"]
    assert app.api_name == "workflow_integration"
    assert app.app_type == "externalClientApp"
    assert app.scopes == ("Api", "Full", "RefreshToken")
    assert app.certificate == m.CertificateSpec(2048, 365, 30, None)
    assert app.callback_urls == (m.CallbackRef("workflow"),)
    assert desired.callback_urls(app) == ("http://localhost:5678/rest/oauth2-credential/callback",)
    assert app.pre_authorized_profiles == ("System Administrator",)
    assert app.pre_authorized_permission_sets == ("Workflow_Integration",)
    assert app.integration_username == "integration@sandbox.provisioner.test"
    assert [(c.type, c.name, c.environment) for c in app.credentials] == [
        ("jwt", "Salesforce (JWT)", "production"),
        ("oauth2", "Salesforce (OAuth2)", "production"),
    ]
    assert desired.files == (QUICKSTART,)


def test_production_model() -> None:
    desired = load_desired([PRODUCTION])
    org = desired.orgs["production"]
    assert org.auth == m.JwtBearerAuth(
        m.SecretRef("env", "SF_DEPLOY_CLIENT_ID", PRODUCTION.parent),
        "deploy@acme.com",
        m.SecretRef("env", "SF_DEPLOY_KEY", PRODUCTION.parent),
        None,
    )
    assert org.my_domain_url == "https://acme.my.salesforce.com"
    inst = desired.instances["acme-workflow"]
    assert inst.sink == m.ApiSinkSpec() and inst.api_key == m.SecretRef(
        "env", "WORKFLOW_API_KEY", PRODUCTION.parent
    )
    app = desired.apps["acme-workflow-integration"]
    assert app.scopes == ("Api", "Full", "RefreshToken", "OpenID")
    assert app.policies == m.OAuthPolicies(
        "adminApprovedPreAuthorized",
        "bypass",
        m.RefreshTokenPolicy("specificInactivity", 90, "days"),
        120,
    )
    assert app.certificate == m.CertificateSpec(3072, 365, 30, 180)
    assert app.jwt_credentials[0].my_domain_url == "https://acme.my.salesforce.com"
    legacy = desired.apps["legacy-reporting"]
    assert legacy.app_type == "connectedApp" and legacy.api_name == "Legacy_Reporting"
    assert legacy.scopes == ("Api", "RefreshToken")


def test_locations_point_at_the_spec_lines() -> None:
    app = load_desired([QUICKSTART]).apps["workflow-integration"]
    lines = QUICKSTART.read_text().splitlines()
    scopes_line = next(i for i, text in enumerate(lines, 1) if text.startswith("  scopes:"))
    assert app.location("spec.scopes[1]") == m.SourceLocation(QUICKSTART, scopes_line, 17)
    cred_line = next(i for i, t in enumerate(lines, 1) if "username: integration@" in t)
    assert app.location("spec.credentials[0].username").line == cred_line
    assert app.credentials[0].source.line == cred_line - 3
    # A path not written in the spec falls back to its nearest written ancestor.
    assert app.location("spec.certificate.maxAgeDays").line == app.location("spec.certificate").line
    assert app.source.line == lines.index("kind: SalesforceApp")


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


ORG = """apiVersion: provisioner.dev/v1
kind: SalesforceOrg
metadata: {name: uat}
spec:
  environment: sandbox
  apiVersion: 64
  myDomainUrl: https://uat.my.salesforce.com
  auth:
    accessToken: {token: {file: secrets/token.txt}, instanceUrl: https://uat.my.salesforce.com}
"""


def test_environment_inherited_and_paths_relative_to_spec(tmp_path: Path) -> None:
    sub = tmp_path / "conf"
    sub.mkdir()
    app = """---
apiVersion: provisioner.dev/v1
kind: SalesforceApp
metadata: {name: int-app}
spec:
  org: uat
  label: Int
  contactEmail: a@example.com
  certificate: {}
  preAuthorized: {permissionSets: [X]}
  credentials: [{type: jwt, instance: wf, name: J, username: u@example.com}]
---
apiVersion: provisioner.dev/v1
kind: WorkflowInstance
metadata: {name: wf}
spec:
  baseUrl: https://wf.example.com
  caFile: ca.pem
  sink: {type: importFile, path: out.json, encryptionKey: {file: /abs/key}}
"""
    desired = load_desired([_write(sub, ORG + app)])
    org = desired.orgs["uat"]
    assert org.api_version == "64.0"
    assert isinstance(org.auth, m.AccessTokenAuth)
    assert org.auth.access_token.path == sub / "secrets" / "token.txt"
    assert desired.apps["int-app"].credentials[0].environment == "sandbox"
    inst = desired.instances["wf"]
    assert inst.ca_file == sub / "ca.pem"
    assert inst.sink == m.ImportFileSinkSpec(sub / "out.json", m.SecretRef("file", "/abs/key", sub))


def test_spec_error_lists_every_error(tmp_path: Path) -> None:
    f = _write(tmp_path, ORG.replace("uat}", "UAT}").replace("sandbox\n", "staging\n"))
    with pytest.raises(SpecError) as caught:
        load_desired([f])
    assert caught.value.message.splitlines() == [
        "2 problems in the specs:",
        f"{f}:3:12: error: name must use lowercase letters, digits and '-', and start and end with a "
        "letter or digit (got 'UAT') (metadata.name)",
        f"{f}:5:3: error: environment must be one of production, sandbox, not 'staging' (spec.environment)",
    ]
    assert caught.value.hint is not None and "provisioner validate" in caught.value.hint


def test_warnings_do_not_fail_loading(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: o}\n"
        "spec: {sandbox: {}}\n---\napiVersion: provisioner.dev/v1\nkind: SalesforceApp\n"
        "metadata: {name: a}\nspec: {org: o, label: A, contactEmail: a@b.co, appType: connectedApp}\n",
    )
    assert load_desired([f]).apps["a"].app_type == "connectedApp"


@pytest.mark.parametrize(
    "field, value",
    [
        (
            "privateKey",
            "-----BEGIN PRIVATE KEY-----\\nCANARYKEYMATERIAL\\n-----END PRIVATE KEY-----",
        ),
        ("privateKey", "CANARYKEYMATERIAL"),
        (
            "clientId",
            "-----BEGIN RSA PRIVATE KEY-----\\nCANARYKEYMATERIAL\\n-----END RSA PRIVATE KEY-----",
        ),
    ],
)
def test_literal_secrets_are_errors_that_never_echo_them(
    tmp_path: Path, field: str, value: str
) -> None:
    jwt = {"clientId": "id", "username": "u@example.com", "privateKey": "{env: K}"}
    jwt[field] = f'"{value}"'
    body = "".join(f"      {k}: {v}\n" for k, v in jwt.items())
    f = _write(
        tmp_path,
        "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: o}\n"
        f"spec:\n  auth:\n    jwt:\n{body}",
    )
    result = check_paths([f])
    assert [p.json_path for p in result.errors] == [f"spec.auth.jwt.{field}"]
    assert "{env: NAME}" in (result.errors[0].hint or "")
    with pytest.raises(SpecError) as caught:
        load_desired([f])
    for text in (
        caught.value.message,
        caught.value.hint or "",
        *[p.format() for p in result.problems],
    ):
        assert "CANARY" not in text


def test_secret_values_in_wrong_fields_are_not_echoed(tmp_path: Path) -> None:
    f = _write(
        tmp_path,
        "apiVersion: provisioner.dev/v1\nkind: SalesforceOrg\nmetadata: {name: o}\n"
        "spec:\n  environment: 00D5g000004CANARYTOKEN!AQcAQH0dMHZfz972Szmpkb58urFRkgeBGsxL\n"
        "  sandbox: {}\n",
    )
    result = check_paths([f])
    assert [p.json_path for p in result.errors] == ["spec.environment"]
    assert "CANARY" not in result.errors[0].format()


def test_warnings_travel_with_the_model() -> None:
    desired = load_desired([REPO / "specs"])
    (line,) = desired.warnings
    assert line.startswith(f"{PRODUCTION}:84:3: warning: ")
    assert "Connected Apps" in line and "hint: use appType: externalClientApp" in line
    assert load_desired([QUICKSTART]).warnings == ()


def test_default_scopes_cover_what_the_credentials_ask_for(tmp_path: Path) -> None:
    """Without spec.scopes an app grants api and refresh_token, plus the scopes its
    credentials request at Connect (Workflow²'s OAuth2 credential asks for full)."""
    text = QUICKSTART.read_text()
    scopes_line = next(ln for ln in text.splitlines() if ln.startswith("  scopes:"))
    (tmp_path / "with-oauth2.yaml").write_text(text.replace(scopes_line + "\n", ""))
    app = load_desired([tmp_path / "with-oauth2.yaml"]).apps["workflow-integration"]
    assert app.scopes == ("Api", "Full", "RefreshToken")
    jwt_only = text.replace(scopes_line + "\n", "").split("    - type: oauth2")[0]
    (tmp_path / "jwt-only.yaml").write_text(jwt_only)
    app = load_desired([tmp_path / "jwt-only.yaml"]).apps["workflow-integration"]
    assert app.scopes == ("Api", "RefreshToken")
