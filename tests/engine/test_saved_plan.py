"""Saved plans (``plan --out`` then ``apply PLANFILE``), staleness, confirmation, output formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from tests.engine.conftest import (
    LOOKUP_REFUSED,
    REPO,
    Workspace,
    app_yaml,
    cli,
    records,
    running_org,
    state_doc,
)


def _scopes_changed_outside(ws: Workspace) -> None:
    """Someone edits the app in Setup: a scope is added behind provisioner's back."""
    with running_org(ws) as server:
        app = server.org.app("billing")
        assert app is not None
        md: dict[str, Any] = dict(app["components"]["ExtlClntAppOauthSettings"])
        md["commaSeparatedOauthScopes"] = md["commaSeparatedOauthScopes"] + ",Chatter"
        with server.org.store() as store:
            _created, problems = store.save("ExtlClntAppOauthSettings", md, "upsert")
        assert problems == []


def test_plan_out_then_apply_planfile(ws: Workspace) -> None:
    planfile = ws.root / "plan.json"
    made = cli("plan", ws.specs, "--state", ws.state_path, "--out", planfile)
    assert made.code == 0, made.all
    assert f"Saved the plan to {planfile}" in made.stderr
    applied = cli("apply", planfile, "--state", ws.state_path)
    assert applied.code == 0, applied.all
    assert "verified: app billing" in applied.stdout
    assert "Apply complete: 1 deploy(s)" in applied.stdout
    assert set(records(ws)) == {"billing (JWT)", "billing (OAuth2)"}
    # The same plan file again: the state moved on since, so it is stale and refused.
    again = cli("apply", planfile, "--state", ws.state_path)
    assert again.code == 1
    assert f"the saved plan {planfile} is stale: the state changed" in again.stderr
    assert "provisioner plan --out PLANFILE again" in again.stderr


def test_saved_plan_is_stale_after_a_spec_change(applied: Workspace) -> None:
    ws = applied
    planfile = ws.root / "plan.json"
    ws.write_apps(app_yaml("billing", scopes="[api, refresh_token, full, openid]"))
    assert cli("plan", ws.specs, "--state", ws.state_path, "--out", planfile).code == 0
    ws.write_apps(app_yaml("billing", scopes="[api, refresh_token, full, web]"))
    state_bytes = ws.state_path.read_bytes()
    result = cli("apply", planfile, "--state", ws.state_path)
    assert result.code == 1
    assert "is stale: a spec file changed" in result.stderr
    assert ws.state_path.read_bytes() == state_bytes
    assert "Apply complete" not in result.stdout


def test_saved_plan_is_stale_after_an_org_change_outside(applied: Workspace) -> None:
    ws = applied
    planfile = ws.root / "plan.json"
    ws.write_apps(app_yaml("billing", scopes="[api, refresh_token, full, openid]"))
    assert cli("plan", ws.specs, "--state", ws.state_path, "--out", planfile).code == 0
    _scopes_changed_outside(ws)
    state_bytes = ws.state_path.read_bytes()
    result = cli("apply", planfile, "--state", ws.state_path)
    assert result.code == 1
    assert "is stale: org/sb changed outside provisioner" in result.stderr
    assert ws.state_path.read_bytes() == state_bytes
    with running_org(ws) as server:
        app = server.org.app("billing")
        assert app is not None
        scopes = app["components"]["ExtlClntAppOauthSettings"]["commaSeparatedOauthScopes"]
        assert "OpenID" not in scopes and "Chatter" in scopes


def test_apply_without_approval_and_without_terminal_refuses(ws: Workspace) -> None:
    result = cli("apply", ws.specs, "--state", ws.state_path)
    assert result.code == 2
    assert "+ app.billing create" in result.stdout  # the plan is shown before the refusal
    assert "Error: apply needs confirmation, and there is no terminal to ask on" in result.stderr
    assert "--auto-approve" in result.stderr
    assert not ws.state_path.exists() and not ws.import_file.exists()
    with running_org(ws) as server:
        assert server.org.app("billing") is None


def test_plan_formats_json_validates_and_markdown_renders(applied: Workspace) -> None:
    ws = applied
    ws.write_apps(app_yaml("billing", scopes="[api, refresh_token, full, openid]"))
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())

    as_json = cli("plan", ws.specs, "--state", ws.state_path, "--format", "json")
    assert as_json.code == 0, as_json.all
    doc = json.loads(as_json.stdout)
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    assert doc["hasChanges"] is True
    assert doc["state"]["serial"] == state_doc(ws)["serial"]
    (app,) = doc["apps"]
    assert (app["address"], app["action"]) == ("app.billing", "update")
    assert app["changes"] == [{"field": "scopes", "before": "Api, Full, RefreshToken",
                               "after": "Api, Full, OpenID, RefreshToken", "sensitive": False}]
    assert app["source"].startswith(str(ws.specs / "apps.yaml") + ":1")
    assert {Path(f["path"]).name for f in doc["specFiles"]} == {"apps.yaml", "org.yaml"}

    # A fresh workspace plan (creates, sensitive fields) validates too.
    planfile = ws.root / "plan.json"
    assert cli("plan", ws.specs, "--state", ws.root / "none.json", "--out", planfile).code == 0
    created = json.loads(planfile.read_text())
    jsonschema.validate(created, schema, format_checker=jsonschema.FormatChecker())
    sensitive = [c for a in created["credentials"] for c in a["changes"] if c["sensitive"]]
    assert sensitive and all(c["after"] == "(sensitive)" for c in sensitive)

    markdown = cli("plan", ws.specs, "--state", ws.state_path, "--format", "markdown")
    assert markdown.code == 0
    lines = markdown.stdout.splitlines()
    assert lines[:2] == ["<!-- provisioner-plan:all -->", "### provisioner plan"]
    head = lines.index("<summary>update <code>app.billing</code> (externalClientApp "
                       "<code>billing</code> in <code>sb</code>)</summary>")
    diff = lines[head:lines.index("</details>", head)]
    assert any(ln.startswith("+ scopes: ") and "OpenID" in ln for ln in diff)
    assert any(ln.startswith("| commit | `") for ln in lines)  # this checkout's HEAD

    detailed = cli("plan", ws.specs, "--state", ws.state_path, "--detailed-exitcode")
    assert detailed.code == 2


def test_apply_rotate_destroy_json_is_one_document_valid_against_schema_result(
    ws: Workspace,
) -> None:
    """--format json: stdout is exactly one JSON document (provisioner schema result); the
    report lines go to stderr; a failed step says status 'failed' and exits 1."""
    schema = json.loads(cli("schema", "result").stdout)
    plan_schema = json.loads(cli("schema", "plan").stdout)
    assert json.loads(cli("schema", "state").stdout)["title"]
    state = ["--state", str(ws.state_path)]

    def run(*args: str | Path, faults: tuple[str, ...] = ()) -> tuple[int, dict[str, Any], str]:
        result = cli(*args, *state, "--format", "json", faults=faults)
        doc = json.loads(result.stdout)  # the whole of stdout, or this raises
        jsonschema.validate(doc, schema)
        jsonschema.validate(doc["plan"], plan_schema)
        return result.code, doc, result.stderr

    code, doc, err = run("apply", ws.specs, "--auto-approve")
    assert (code, doc["command"], doc["status"]) == (0, "apply", "applied")
    assert doc["result"]["verified"] == ["billing"] and doc["result"]["deploys"] == 1
    assert list(doc["result"]["deployIds"]) == ["sb"] and doc["result"]["rotations"] == []
    assert "Apply complete:" in err
    first_cert = json.loads(ws.state_path.read_text())["apps"]["billing"]["certificate"]
    code, doc, _ = run("apply", ws.specs, "--auto-approve")
    assert (code, doc["status"], doc["result"]) == (0, "no-changes", None)
    code, doc, _ = run("rotate", ws.specs, "--app", "billing", "--auto-approve")
    assert (code, doc["command"], doc["status"]) == (0, "rotate", "applied")
    assert [a["action"] for a in doc["plan"]["apps"]] == ["rotate"]
    new_cert = json.loads(ws.state_path.read_text())["apps"]["billing"]["certificate"]
    assert doc["result"]["rotations"] == [{"app": "billing",
                                           "previousCertificate": first_cert["fingerprint"],
                                           "certificate": new_cert["fingerprint"]}]

    ws.write_apps(app_yaml("billing"), app_yaml("payroll", permission_sets="[No_Such_Set]"))
    # The org refuses plan's lookup of the names, so the deploy is what fails.
    code, doc, err = run("apply", ws.specs, "--auto-approve", faults=LOOKUP_REFUSED)
    assert (code, doc["status"]) == (1, "failed")
    assert "No_Such_Set" in doc["result"]["failures"][0]["message"]
    assert "Error: 1 step(s) failed" in err

    ws.write_apps(app_yaml("billing"))
    code, doc, _ = run("destroy", ws.specs, "--app", "billing", "--auto-approve")
    assert (code, doc["command"], doc["status"]) == (0, "destroy", "applied")


def test_a_saved_plan_names_spec_files_from_the_checkout_and_applies_from_any_folder(
    ws: Workspace, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    repo = tmp_path / "checkout"
    shutil.copytree(ws.specs, repo / "specs")
    subprocess.run(["git", "init", "--quiet", str(repo)], check=True)
    artifact = tmp_path / "artifacts" / "plan.json"
    state = ("--state", str(tmp_path / "state.json"))
    made = cli("plan", "specs", *state, "--out", artifact, cwd=repo)
    assert made.code == 0, made.all
    names = [s["path"] for s in json.loads(artifact.read_text())["specFiles"]]
    assert names == ["specs/apps.yaml", "specs/org.yaml"]  # relative to the checkout's top
    # The merge job applies the reviewed file from another folder of the checkout.
    applied = cli("apply", artifact, *state, cwd=repo / "specs")
    assert applied.code == 0, applied.all
    assert "Apply complete" in applied.stdout


def test_saved_plan_is_stale_after_the_state_is_swapped_for_another_lineage(
    applied: Workspace,
) -> None:
    ws = applied
    planfile = ws.root / "plan.json"
    ws.write_apps(app_yaml("billing", scopes="[api, refresh_token, full, openid]"))
    assert cli("plan", ws.specs, "--state", ws.state_path, "--out", planfile).code == 0
    # Another deployment's state file with the same serial put in its place.
    doc = state_doc(ws)
    doc["lineage"] = "00000000-0000-4000-8000-000000000000"
    ws.state_path.write_text(json.dumps(doc))
    state_bytes = ws.state_path.read_bytes()
    result = cli("apply", planfile, "--state", ws.state_path)
    assert result.code == 1
    assert "is stale: the state was replaced by another (lineage " in result.stderr
    assert f"serial {doc['serial']} -> {doc['serial']}" not in result.stderr
    assert ws.state_path.read_bytes() == state_bytes
