"""One Metadata API deploy of a package, polled with backoff, with structured failures.

``deploy`` starts through simple-salesforce's ``sf.deploy``; every option is passed as the XML
literal ``true``/``false`` (its template would otherwise print Python's ``False``/``None``), and
its ``sandbox`` switch is always set so it does not silently force ``rollbackOnError``.
``checkDeployStatus`` is sent directly over SOAP through the same session, because
simple-salesforce's wrapper drops the ``done`` flag, the error message and each failure's
``fullName`` and position, which the executor needs to map a failure back to its spec file.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from provisioner.errors import RemoteError
from provisioner.salesforce.connection import OrgConnection
from provisioner.salesforce.token_errors import clip

_NS = {
    "soapenv": "http://schemas.xmlsoap.org/soap/envelope/",
    "mt": "http://soap.sforce.com/2006/04/metadata",
}
_CHECK_STATUS = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:met="http://soap.sforce.com/2006/04/metadata">
<soapenv:Header><met:SessionHeader><met:sessionId>{session}</met:sessionId></met:SessionHeader>\
</soapenv:Header>
<soapenv:Body><met:checkDeployStatus><met:asyncProcessId>{deploy_id}</met:asyncProcessId>\
<met:includeDetails>true</met:includeDetails></met:checkDeployStatus></soapenv:Body>
</soapenv:Envelope>"""
SUCCEEDED = "Succeeded"


@dataclass(frozen=True)
class PollPolicy:
    """How to wait for a deploy: first interval, doubling up to ``max_interval``, within ``timeout``."""

    initial: float = 0.2
    max_interval: float = 5.0
    timeout: float = 600.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class ComponentFailure:
    """One component the org refused, as ``details/componentFailures`` reports it."""

    component_type: str | None
    file_name: str | None
    full_name: str | None
    problem_type: str | None
    problem: str
    line: int | None = None
    column: int | None = None

    def describe(self) -> str:
        """``file (Type Name): Error: problem``, one line."""
        where = self.file_name or self.full_name or "(unnamed component)"
        what = " ".join(x for x in (self.component_type, self.full_name) if x)
        pos = f" line {self.line}" if self.line else ""
        return f"{where}{pos} ({what}): {self.problem_type or 'Error'}: {self.problem}"


@dataclass(frozen=True)
class DeployProgress:
    """A snapshot taken at each poll, for a progress display."""

    deploy_id: str
    status: str
    done: bool
    components_total: int
    components_deployed: int
    component_errors: int
    state_detail: str | None
    elapsed: float


@dataclass(frozen=True)
class DeployResult:
    """The final state of a deploy."""

    deploy_id: str
    status: str
    success: bool
    check_only: bool
    components_total: int
    components_deployed: int
    component_errors: int
    failures: tuple[ComponentFailure, ...]
    error_message: str | None
    elapsed: float


class DeployFailedError(RemoteError):
    """The org refused the deploy; ``failures`` lists each component it refused."""

    def __init__(self, message: str, hint: str, *, result: DeployResult):
        super().__init__(message, hint)
        self.result = result
        self.failures = result.failures


def _text(node: ET.Element, tag: str) -> str | None:
    value = node.findtext(f"mt:{tag}", None, _NS)
    return value.strip() if value and value.strip() else None


def _int(node: ET.Element, tag: str) -> int:
    try:
        return int(_text(node, tag) or 0)
    except ValueError:
        return 0


def parse_status(body: str) -> ET.Element:
    """The ``result`` element of a checkDeployStatus answer (RemoteError when it has none)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise RemoteError(
            f"checkDeployStatus answered something that is not XML ({exc})", "retry later"
        ) from exc
    result = root.find("soapenv:Body/mt:checkDeployStatusResponse/mt:result", _NS)
    if result is None:
        raise RemoteError("checkDeployStatus answered without a result", "retry later")
    return result


def failures_of(result: ET.Element) -> tuple[ComponentFailure, ...]:
    """Every ``details/componentFailures`` entry."""
    out = []
    for node in result.findall("mt:details/mt:componentFailures", _NS):
        out.append(
            ComponentFailure(
                component_type=_text(node, "componentType"),
                file_name=_text(node, "fileName"),
                full_name=_text(node, "fullName"),
                problem_type=_text(node, "problemType"),
                problem=clip(_text(node, "problem") or "no problem text"),
                line=_int(node, "lineNumber") or None,
                column=_int(node, "columnNumber") or None,
            )
        )
    return tuple(out)


def _check_status(conn: OrgConnection, deploy_id: str) -> ET.Element:
    def check(sf: Any) -> ET.Element:
        from simple_salesforce.util import exception_handler

        body = _CHECK_STATUS.format(session=escape(sf.session_id), deploy_id=escape(deploy_id))
        resp = sf.session.post(
            sf.metadata_url + "deployRequest/" + deploy_id,
            data=body.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": "checkDeployStatus"},
            timeout=120,
        )
        if resp.status_code >= 300:
            exception_handler(resp)  # raises a SalesforceError that conn.call classifies
        return parse_status(resp.text)

    return conn.call(f"checkDeployStatus {deploy_id}", check)


def _start(conn: OrgConnection, zip_bytes: bytes, check_only: bool, rollback_on_error: bool) -> str:
    def flag(value: bool) -> str:
        return "true" if value else "false"

    def start(sf: Any) -> Any:
        return sf.deploy(
            io.BytesIO(zip_bytes),
            sandbox=True,  # keeps our rollbackOnError; it only forces options otherwise
            checkOnly=flag(check_only),
            rollbackOnError=flag(rollback_on_error),
            allowMissingFiles="false",
            autoUpdatePackage="false",
            ignoreWarnings="false",
            performRetrieve="false",
            purgeOnDelete="false",
            testLevel="",
            tests="",
        )

    answer = conn.call("deploy", start)
    deploy_id = answer.get("asyncId") if isinstance(answer, dict) else None
    if not deploy_id:
        raise RemoteError(
            f"{conn.who}: deploy was accepted without an id (state {answer!r})",
            "retry; if it persists, check the org's Deployment Status page",
        )
    return str(deploy_id)


def deploy(
    conn: OrgConnection,
    zip_bytes: bytes,
    *,
    check_only: bool = False,
    rollback_on_error: bool = True,
    poll: PollPolicy | None = None,
    on_progress: Callable[[DeployProgress], None] | None = None,
    raise_on_failure: bool = True,
) -> DeployResult:
    """Deploy ``zip_bytes`` (``package.xml`` at its root) and wait for the outcome.

    Raises :class:`DeployFailedError` (a RemoteError with ``.failures``) when the org refuses it,
    unless ``raise_on_failure`` is false; RemoteError when it does not finish within the poll
    timeout (the deploy may still complete on the org).
    """
    policy = poll or PollPolicy()
    start = policy.clock()
    deploy_id = _start(conn, zip_bytes, check_only, rollback_on_error)
    interval = policy.initial
    while True:
        policy.sleep(interval)
        result = _check_status(conn, deploy_id)
        elapsed = policy.clock() - start
        done = (_text(result, "done") or "").lower() == "true"
        status = _text(result, "status") or ("Done" if done else "Pending")
        if on_progress is not None:
            on_progress(
                DeployProgress(
                    deploy_id=deploy_id,
                    status=status,
                    done=done,
                    components_total=_int(result, "numberComponentsTotal"),
                    components_deployed=_int(result, "numberComponentsDeployed"),
                    component_errors=_int(result, "numberComponentErrors"),
                    state_detail=_text(result, "stateDetail"),
                    elapsed=elapsed,
                )
            )
        if done:
            break
        if elapsed + interval > policy.timeout:
            raise RemoteError(
                f"{conn.who}: deploy {deploy_id} did not finish within {policy.timeout:g} s (status {status})",
                "it may still complete: watch Setup > Deployment Status, then rerun plan",
            )
        interval = min(policy.max_interval, interval * 2)
    outcome = DeployResult(
        deploy_id=deploy_id,
        status=status,
        success=(_text(result, "success") or "").lower() == "true" and status == SUCCEEDED,
        check_only=check_only,
        components_total=_int(result, "numberComponentsTotal"),
        components_deployed=_int(result, "numberComponentsDeployed"),
        component_errors=_int(result, "numberComponentErrors"),
        failures=failures_of(result),
        error_message=_text(result, "errorMessage"),
        elapsed=policy.clock() - start,
    )
    if not outcome.success and raise_on_failure:
        raise _failed(conn, outcome, rollback_on_error)
    return outcome


def check_only_deploy(
    conn: OrgConnection, zip_bytes: bytes, *, poll: PollPolicy | None = None
) -> DeployResult:
    """Ask the org whether it would accept ``zip_bytes``, saving nothing (``checkOnly``).

    Failures are returned, not raised: this is how the planner learns what only the org knows
    (for instance whether it still lets a Connected App be created).
    """
    return deploy(conn, zip_bytes, check_only=True, poll=poll, raise_on_failure=False)


def _failed(
    conn: OrgConnection, outcome: DeployResult, rollback_on_error: bool
) -> DeployFailedError:
    kind = "validation" if outcome.check_only else "deploy"
    lines = [f"{conn.who}: {kind} {outcome.deploy_id} {outcome.status.lower()}"]
    if outcome.failures:
        lines[0] += f" with {len(outcome.failures)} component failure(s):"
        lines += [f"  - {f.describe()}" for f in outcome.failures]
    elif outcome.error_message:
        lines[0] += f": {clip(outcome.error_message)}"
    if outcome.check_only or outcome.status == "Failed" or rollback_on_error:
        hint = "fix the components listed; nothing in this deploy was saved"
    else:
        hint = "fix the components listed; the others were saved (rollbackOnError was off)"
    return DeployFailedError(conn.scrub("\n".join(lines)), hint, result=outcome)
