"""Every --format json run prints exactly one JSON document on stdout, also when it fails: the
error envelope (``provisioner schema error``), with exit codes as Terraform's."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from tests.engine.conftest import Workspace, app_yaml, cli


def _doc(stdout: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(stdout)  # the whole of stdout, or this raises
    jsonschema.validate(doc, json.loads(cli("schema", "error").stdout))
    return doc


def test_spec_plan_lock_and_usage_errors_are_one_json_document(ws: Workspace) -> None:
    state = ("--state", str(ws.state_path))
    ws.write_apps(app_yaml("billing").replace("org: sb", "org: nowhere"))
    result = cli("plan", ws.specs, *state, "--format", "json")
    doc = _doc(result.stdout)
    assert result.code == 1 and doc["error"]["exitCode"] == 1
    assert (doc["command"], doc["status"], doc["error"]["code"]) == ("plan", "error", "SpecError")
    assert "unknown SalesforceOrg 'nowhere'" in doc["error"]["message"]
    assert "Error:" in result.stderr  # people still read stderr

    ws.write_apps(app_yaml("billing", permission_sets="[Missing_Set]"))
    result = cli("apply", ws.specs, *state, "--auto-approve", "--format", "json")
    doc = _doc(result.stdout)
    assert (result.code, doc["error"]["code"]) == (1, "PlanError")
    assert "permission set 'Missing_Set' does not exist" in doc["error"]["message"]

    # A usage error is 2, and 1 with --detailed-exitcode (2 means "changes present").
    ws.write_apps(app_yaml("billing"))
    result = cli("plan", ws.specs, *state, "--format", "json", "--no-such-flag")
    assert (result.code, _doc(result.stdout)["error"]["code"]) == (2, "UsageError")
    result = cli("plan", ws.specs, *state, "--format", "json", "--detailed-exitcode",
                 "--app", "nobody")
    doc = _doc(result.stdout)
    assert result.code == 1 and doc["error"]["exitCode"] == 1
    assert "no app named nobody" in doc["error"]["message"]


def test_a_command_that_printed_its_document_adds_no_second_one(ws: Workspace) -> None:
    result = cli("validate", ws.specs, "--format", "json")
    assert result.code == 0 and json.loads(result.stdout)["valid"] is True
    ws.write_apps(app_yaml("billing").replace("org: sb", "org: nowhere"))
    result = cli("validate", ws.specs, "--format", "json")
    assert result.code == 1 and json.loads(result.stdout)["valid"] is False  # one document


def test_a_file_system_refusal_is_an_error_with_the_path_not_a_traceback(ws: Workspace) -> None:
    state = ("--state", "/dev/null/nested/state.json")  # a part of the path is a file
    result = cli("apply", ws.specs, *state, "--auto-approve")
    assert result.code == 1
    assert "Error: cannot use /dev/null/nested: Not a directory" in result.stderr
    assert "hint: a part of the path is a file, not a folder" in result.stderr
    assert "Traceback" not in result.all
    doc = _doc(cli("apply", ws.specs, *state, "--auto-approve", "--format", "json").stdout)
    assert doc["error"]["code"] == "FileSystemError"
