"""Canaries: every secret a full lifecycle handles is collected, and none appears in any output
(stdout, stderr, verbose errors) or any file provisioner writes (state, journal, lock, saved
plans, the encrypted import file). The ``e2e`` fixture scans at the end of every e2e test; this
test drives every command and output format once and proves the scan is not vacuous.
"""

from __future__ import annotations

import json

import pytest

from provisioner.secret import Secret
from provisioner.workflow2 import decrypt_data
from tests.e2e.conftest import API_KEY_ENV, APP, E2E
from tests.e2e.observe import Api

pytestmark = pytest.mark.workflow2


def test_no_secret_in_any_output_or_file(
    e2e: E2E, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    e2e.write_specs(file_sink=True)
    plan_file = e2e.root / "plans" / "plan.json"
    assert e2e.plan("--out", plan_file).code == 2
    assert e2e.cli("plan", e2e.specs, "--format", "markdown").code == 0
    assert e2e.cli("-v", "apply", plan_file).code == 0
    assert e2e.cli("plan", e2e.specs, "--format", "json", "--show-unchanged").code == 0
    assert e2e.cli("-v", "rotate", e2e.specs, "--app", APP, "--auto-approve").code == 0
    assert e2e.cli("apply", e2e.specs, "--auto-approve", "--format", "markdown").code == 0
    monkeypatch.setenv(API_KEY_ENV, "n8n_api_CANARYREJECTEDKEY" + "f" * 32)
    e2e.canaries.add("a rejected API key", "n8n_api_CANARYREJECTEDKEY" + "f" * 32)
    assert e2e.cli("-v", "apply", e2e.specs, "--auto-approve").code == 1

    # The secrets in the import file (decrypted here with the server's key), and in the server.
    key = Secret(e2e.server.encryption_key)
    from_file = []
    for item in json.loads(e2e.import_file.read_text()):
        data = decrypt_data(item["data"], key)
        from_file += [data["privateKey"]] if "privateKey" in data else [data["clientSecret"]]
    for value in from_file:
        e2e.canaries.add("a secret in the import file", value)
    e2e.export_decrypted()
    # Every kind of secret is a canary (the file's secrets are the ones this run generated).
    assert len(from_file) == 2 and all(v in e2e.canaries.values for v in from_file)
    labels = set(e2e.canaries.values.values())
    for kind in ("the Workflow² API key", "the Workflow² encryption key", "a rejected API key",
                 "the private key of app billing", "the consumer secret of app billing",
                 f"an access token issued through app {APP}",
                 "an access token issued through app Provisioner_Bootstrap"):
        assert kind in labels, f"no canary for {kind}"
    # Both keys of the app (the first one and the rotated one) are canaries.
    assert list(e2e.canaries.values.values()).count("the private key of app billing") == 2
    written = {p.relative_to(e2e.root).as_posix() for p in e2e.root.rglob("*") if p.is_file()}
    assert {"state/state.json", "plans/plan.json", "out/credentials.json"} <= written

    e2e.scan_everything()

    # The scan is not vacuous: half a line of a private key's secret half is caught anywhere.
    pem = next(v for v in e2e.canaries.values if "PRIVATE KEY" in v)
    body = "".join(line for line in pem.splitlines() if "-----" not in line)
    leak = e2e.root / "state" / "leak.log"
    leak.write_text("debug: " + body[len(body) * 3 // 4:][:30] + "\n")
    caught = r"part of .* appears in file state/leak\.log \(at the end\)"
    with pytest.raises(AssertionError, match=caught):
        e2e.scan_everything()
    leak.unlink()
