"""A hostile Workflow² server: garbage, huge, endless, redirecting, looping and echoing answers.

``provisioner plan`` and ``apply`` run as child processes (RLIMIT_DATA 1 GiB: heap and anonymous maps, bounded
by a timeout far above what a refusal needs) against the embedded sandbox org and a loopback
server that misbehaves one way per case. Each run must end with a clear error naming the
Workflow² instance and the operation, exit 1, leave no secret (the API key, which an echoing
server sends back) in any output, and write no state for records it could not write.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.engine.conftest import Workspace, app_yaml
from tests.hostile_server import Answer, endless, serving

API_KEY = "n8n_api_CANARYHOSTILEkey9f3Xq2Lm7Rt"
GIB = 1024 ** 3


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _garbage(h: BaseHTTPRequestHandler) -> None:
    _send(h, 200, b"\x00\xff<html>not json at all", {"Content-Type": "application/json"})


_huge = endless(b"[" * 65536, "application/json")


def _redirecting(h: BaseHTTPRequestHandler) -> None:
    _send(h, 307, b"", {"Location": "http://127.0.0.1:9/steal" + h.path})


def _looping(h: BaseHTTPRequestHandler) -> None:
    if "/credentials/schema/" in h.path:
        _send(h, 200, json.dumps({"type": "object", "properties": {}}).encode())
        return
    if h.path.split("?")[0].rstrip("/") != "/api/v1/credentials":
        _send(h, 404, b"{}")  # no record by id: the list is where records are looked for
        return
    _send(h, 200, json.dumps({"data": [], "nextCursor": "again"}).encode(),
          {"Content-Type": "application/json"})


def _echoing(h: BaseHTTPRequestHandler) -> None:
    key = h.headers.get("X-N8N-API-KEY", "")
    _send(h, 500, json.dumps({"message": f"internal error, your key was {key}",
                              "stack": key * 3}).encode(), {"Content-Type": "application/json"})


def _unauthorized_echo(h: BaseHTTPRequestHandler) -> None:
    key = h.headers.get("X-N8N-API-KEY", "")
    _send(h, 403, json.dumps({"message": f"key {key} may not do that"}).encode(),
          {"Content-Type": "application/json"})


CASES: dict[str, tuple[Answer, str]] = {
    "garbage": (_garbage, "Workflow² instance 'wf'"),
    "huge": (_huge, "Workflow² instance 'wf'"),
    "redirecting": (_redirecting, "a redirect to http://127.0.0.1:9/steal"),
    "looping": (_looping, "a cursor it had already given"),
    "echoing": (_echoing, "Workflow² instance 'wf'"),
    "unauthorized-echo": (_unauthorized_echo, "the API key may not"),
}


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (GIB, GIB))


def _run(ws: Workspace, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ws.env, "PROVTEST_WORKFLOW2_API_KEY": API_KEY}
    return subprocess.run([sys.executable, "-m", "provisioner", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False, env=env,
                          preexec_fn=_limit_memory)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_workflow2_server_is_a_clear_bounded_error(ws: Workspace, case: str) -> None:
    answer, expected = CASES[case]
    with serving(answer) as url:
        org = (ws.specs / "org.yaml").read_text()
        (ws.specs / "org.yaml").write_text(
            org.replace("baseUrl: http://localhost:5678", f"baseUrl: {url}")
            .replace("    type: importFile\n    path: ../out/credentials.json\n"
                     "    encryptionKey: {env: PROVTEST_N8N_ENCRYPTION_KEY}\n", "    type: api\n"))
        ws.write_apps(app_yaml("billing"))
        for args in (("plan", ws.specs), ("apply", ws.specs, "--auto-approve")):
            done = _run(ws, *args, "--state", ws.state_path)
            out = done.stdout + done.stderr
            assert done.returncode == 1, f"{case} {args[0]}: {out}"
            assert expected in out, f"{case} {args[0]}: {out}"
            assert API_KEY not in out and "Traceback" not in out, f"{case}: {out}"
    assert not ws.state_path.exists() or "credentials\": {}" in ws.state_path.read_text() or (
        json.loads(ws.state_path.read_text())["apps"] == {})
