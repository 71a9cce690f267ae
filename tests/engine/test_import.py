"""``provisioner import``: an app and its records adopted into state without a rotation, where
the key (and the secret) is proven; a preview first, nothing written without approval."""

from __future__ import annotations

import json

from tests.engine.conftest import Workspace, cli, records


def test_import_adopts_a_lost_state_without_rotating(applied: Workspace) -> None:
    ws = applied
    state = ("--state", str(ws.state_path))
    before = json.loads(ws.state_path.read_text())["apps"]["billing"]
    keys_before = {n: r["data"]["privateKey" if "JWT" in n else "clientSecret"]
                   for n, r in records(ws).items()}
    ws.state_path.unlink()  # the state is lost (or the app was made by another tool)
    adopt_plan = cli("plan", *state, ws.specs, "--format", "json")
    assert [a["action"] for a in json.loads(adopt_plan.stdout)["apps"]] == ["rotate"]

    preview = cli("import", ws.specs, *state, "--app", "billing")  # no terminal: asks, refuses
    assert preview.code == 2 and "--auto-approve" in preview.stderr
    assert "+ app.billing adopt" in preview.stdout and not ws.state_path.exists()

    done = cli("import", ws.specs, *state, "--app", "billing", "--auto-approve")
    assert done.code == 0, done.all
    assert ("+ credential.wf/billing (JWT) adopt: record" in done.stdout
            and "its private key matches the app's certificate" in done.stdout)
    assert "its client secret is the one the org returns for the app" in done.stdout
    assert "Import complete: 1 app(s) recorded" in done.stdout
    after = json.loads(ws.state_path.read_text())["apps"]["billing"]
    for field in ("consumerKey", "consumerSecretFingerprint"):
        assert after[field] == before[field], field
    assert after["certificate"]["fingerprint"] == before["certificate"]["fingerprint"]
    # Converged: no rotation, and the records keep their secrets.
    again = cli("plan", *state, ws.specs, "--detailed-exitcode")
    assert again.code == 0, again.all
    assert {n: r["data"]["privateKey" if "JWT" in n else "clientSecret"]
            for n, r in records(ws).items()} == keys_before


def test_a_record_whose_key_is_not_the_apps_is_not_imported(applied: Workspace) -> None:
    from provisioner.keys import KeyRequest, generate_many
    from provisioner.secret import Secret
    from provisioner.workflow2.atrest import decrypt_data, encrypt_data

    ws = applied
    items = json.loads(ws.import_file.read_text())
    other = generate_many([KeyRequest("x", "other key")])["x"].private_key
    for item in items:
        data = decrypt_data(item["data"], ws.encryption_key)
        if "privateKey" in data:
            data["privateKey"] = other.reveal()
            item["data"] = encrypt_data(data, ws.encryption_key)
    ws.import_file.write_text(json.dumps(items))
    ws.state_path.unlink()
    done = cli("import", ws.specs, "--state", ws.state_path, "--all", "--auto-approve",
               "--format", "json")
    assert done.code == 0, done.all
    doc = json.loads(done.stdout)
    outcome = {i["address"]: (i["outcome"], i["detail"]) for i in doc["items"]}
    assert outcome["app.billing"][0] == "adopt"
    assert outcome["credential.wf/billing (JWT)"] == (
        "skip", "not proven (its private key does not match the app's certificate): the next "
        "apply rotates the key and rewrites it")
    assert outcome["credential.wf/billing (OAuth2)"][0] == "adopt"
    assert Secret(other.reveal()).reveal() not in done.all
    plan = json.loads(cli("plan", ws.specs, "--state", ws.state_path, "--format", "json").stdout)
    assert [a["action"] for a in plan["apps"]] == ["rotate"]
