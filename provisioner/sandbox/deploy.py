"""Asynchronous ``deploy``/``checkDeployStatus`` and ``retrieve``/``checkRetrieveStatus``.

A deploy is queued and processed when it is first polled after ``deployProcessingSeconds``: the
zip is applied to a copy of the org and committed only if the deploy succeeds (or partially, when
``rollbackOnError`` is false), and never for ``checkOnly``. Results are built as dicts and written
in WSDL order, so zeep and simple-salesforce parse them as they parse Salesforce's.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import zipfile
from collections.abc import Callable
from typing import Any

from lxml import etree

from . import catalog as c
from .org import Org
from .seed import new_id
from .soap import Response, SoapFault, ok, response
from .store import Store, iso
from .wsdl import MD_NS, schema
from .xmlcodec import (
    XmlError,
    child_text,
    children,
    decode,
    encode_into,
    local,
    parse,
    parse_bool,
)

# sandbox-rule: deploy-size-limits (docs/salesforce-behaviour.md)
MAX_ENTRIES, MAX_UNZIPPED = 10_000, 400 * 1024 * 1024
_JOB_LIMIT = 50
_DESTRUCTIVE = ("destructiveChangesPre.xml", "destructiveChanges.xml", "destructiveChangesPost.xml")


def _new_job(org: Org, user: dict[str, Any], kind: str, **fields: Any) -> dict[str, Any]:
    now = org.clock()
    job = {"id": new_id("0Af" if kind == "deploy" else "09S"), "kind": kind, "userId": user["id"],
           "userName": user["name"], "createdDate": now,
           "readyAt": now + float(org.setting("deployProcessingSeconds")), "result": None} | fields
    jobs = org.data["jobs"]
    jobs[job["id"]] = job
    for old in sorted(jobs, key=lambda k: jobs[k]["createdDate"])[:-_JOB_LIMIT]:
        del jobs[old]  # bounded history, like Salesforce's 30-day retention but smaller
    return job


def _async_result(operation: str, job_id: str) -> Response:
    root, resp = response(operation)
    encode_into(etree.SubElement(resp, f"{{{MD_NS}}}result"),
                {"done": False, "id": job_id, "state": "Queued"}, "AsyncResult")
    return ok(root)


def submit_deploy(org: Org, user: dict[str, Any], op: etree._Element,
                  fail: bool = False) -> tuple[Response, str]:
    """Queue a deploy; ``fail`` (fault injection) makes it fail without saving anything."""
    opts_el = children(op, "DeployOptions")
    opts = {local(e.tag): parse_bool(e.text) for e in (opts_el[0] if opts_el else [])
            if isinstance(e.tag, str)}
    with org.lock:
        job = _new_job(org, user, "deploy", zip=child_text(op, "ZipFile", "") or "",
                       options=opts, forceFail=fail)
        org.save()
    return _async_result("deploy", job["id"]), "deployCheckOnly" if opts.get("checkOnly") else "deploy"


def _read_zip(b64: str) -> dict[str, bytes]:
    try:
        raw = base64.b64decode(b64, validate=False)
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (binascii.Error, zipfile.BadZipFile, ValueError) as exc:
        raise XmlError("The zip file is not valid") from exc
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES or sum(i.file_size for i in infos) > MAX_UNZIPPED:
        raise XmlError("The zip file is too large")
    files = {i.filename: zf.read(i) for i in infos if not i.is_dir()}
    pkg = sorted((n for n in files if n.rsplit("/", 1)[-1] == "package.xml"), key=len)
    if not pkg:
        raise XmlError("No package.xml found")
    prefix = pkg[0][: -len("package.xml")]
    return {n[len(prefix):]: data for n, data in files.items() if n.startswith(prefix)}


def _package(data: bytes) -> list[tuple[str, list[str]]]:
    root = parse(data)
    return [(child_text(t, "name", "") or "", [(m.text or "").strip() for m in children(t, "members")])
            for t in children(root, "types")]


def _message(type_name: str, file_name: str, full_name: str, problem: str | None = None,
             *, created: bool = False, deleted: bool = False, warning: bool = False,
             now: float = 0.0) -> dict[str, Any]:
    msg: dict[str, Any] = {"changed": problem is None and not deleted, "componentType": type_name,
                           "created": created, "createdDate": iso(now), "deleted": deleted,
                           "fileName": file_name, "fullName": full_name,
                           "success": problem is None or warning}
    if problem is not None:
        msg |= {"problem": problem, "problemType": "Warning" if warning else "Error"}
    return msg


def _members(files: dict[str, bytes], package: list[tuple[str, list[str]]],
             fail: Callable[[str, str, str, str], None]) -> list[tuple[str, str]]:
    wanted: list[tuple[str, str]] = []
    for type_name, members in package:
        if type_name not in schema().complex:
            fail(type_name, "package.xml", type_name,
                 f"Unknown type name '{type_name}' specified in package.xml")
            continue
        for member in members:
            if member == "*":
                wanted += sorted((t, n) for t, n in (c.type_for_path(p) or ("", "") for p in files)
                                 if t == type_name)
            elif type_name not in c.TYPES:
                fail(type_name, "package.xml", member,
                     "Not available for deploy for this organization")
            else:
                wanted.append((type_name, member))
    return sorted(set(wanted), key=lambda tn: (c.DEPLOY_ORDER.index(tn[0]), tn[1]))


def _process(org: Org, job: dict[str, Any]) -> dict[str, Any]:
    opts, now = job["options"], org.clock()
    failures: list[dict[str, Any]] = []
    successes: list[dict[str, Any]] = []
    user = next((u for u in org.data["users"] if u["id"] == job["userId"]), None)
    data = {k: v for k, v in org.data.items() if k != "jobs"}
    store = Store(copy.deepcopy(data), org.clock, org.propagation_delay, job["userId"],
                  org.may_see_secrets(user), org.box)

    def fail(type_name: str, file_name: str, full_name: str, problem: str) -> None:
        failures.append(_message(type_name, file_name, full_name, problem, now=now))

    total = 0
    try:
        files = _read_zip(job.pop("zip", ""))
        wanted = _members(files, _package(files["package.xml"]), fail)
    except (XmlError, KeyError) as exc:
        files, wanted = {}, []
        fail("", "package.xml", "package.xml", str(exc))
    if job.get("forceFail"):
        fail("", "package.xml", "package.xml", "An unexpected error occurred. Please include this "
             "ErrorId if you contact support: 1234567890-12345 (-1) [sandbox fault injection]")
    for type_name, name in wanted:
        total += 1
        path = c.TYPES[type_name].file_name(name)
        if path not in files:
            fail(type_name, "package.xml", name, f"An object '{name}' of type {type_name} was "
                 "named in package.xml, but was not found in zipped directory")
            continue
        try:
            root = parse(files[path])
            if local(root.tag) != type_name:
                raise XmlError(f"Expected root element {type_name}, found {local(root.tag)}")
            md = decode(root, type_name) | {"fullName": name}
        except XmlError as exc:
            fail(type_name, path, name, str(exc))
            continue
        created, problems = store.save(type_name, md, "upsert")
        for p in problems:
            fail(type_name, path, name, p.message)
        if not problems:
            successes.append(_message(type_name, path, name, created=created, now=now))
    for destructive in _DESTRUCTIVE:
        if destructive not in files:
            continue
        for type_name, members in _package(files[destructive]):
            for name in members:
                total += 1
                path = c.TYPES[type_name].file_name(name) if type_name in c.TYPES else destructive
                problems = store.delete(type_name, name) if type_name in c.TYPES else []
                warn = f"No {type_name} named: {name} found" if problems else None
                # sandbox-rule: destroy-missing-member-fails (docs/salesforce-behaviour.md)
                if warn and not opts.get("ignoreWarnings"):
                    # A missing member is a warning, and DeployOptions.ignoreWarnings=false
                    # (the default) makes any warning fail the deploy
                    # (docs/salesforce-behaviour.md, "destroy of a missing component").
                    fail(type_name, path, name, warn)
                    continue
                successes.append(_message(type_name, path, name, warn, deleted=not problems,
                                          warning=bool(problems), now=now))
    # sandbox-rule: deploy-transactional (docs/salesforce-behaviour.md)
    if failures and (opts.get("rollbackOnError", True) or not successes):
        status = "Failed"
    else:
        status = "SucceededPartial" if failures else "Succeeded"
    if status != "Failed" and not opts.get("checkOnly"):
        org.data["components"] = store.data["components"]
    successes.insert(0, _message("", "package.xml", "package.xml", now=now))
    deployed = 0 if status == "Failed" else len(successes) - 1
    return {"status": status, "success": status != "Failed", "completedDate": now,
            "numberComponentsTotal": total, "numberComponentErrors": len(failures),
            "numberComponentsDeployed": deployed, "failures": failures, "successes": successes}


def _job(
    org: Org, op: etree._Element, kind: str,
    finish: Callable[[Org, dict[str, Any]], dict[str, Any]],
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """The async job ``op`` asks about, finished by ``finish`` once its time has come."""
    job_id = child_text(op, "asyncProcessId", "") or ""
    with org.lock:
        job = org.data["jobs"].get(job_id)
        if job is None or job["kind"] != kind:
            raise SoapFault("INVALID_ID_FIELD", f"invalid id: {job_id}")
        if job["result"] is None and org.clock() >= job["readyAt"]:
            job["result"] = finish(org, job)
            org.save()
        return job_id, job, job["result"]


def check_deploy(org: Org, user: dict[str, Any], op: etree._Element) -> tuple[Response, str]:
    """Report a deploy's state, processing it once its time has come."""
    job_id, job, res = _job(org, op, "deploy", _process)
    opts = job["options"]
    out: dict[str, Any] = {
        "checkOnly": bool(opts.get("checkOnly")), "createdBy": job["userId"],
        "createdByName": job["userName"], "createdDate": iso(job["createdDate"]),
        "done": res is not None, "id": job_id, "ignoreWarnings": bool(opts.get("ignoreWarnings")),
        "lastModifiedDate": iso(org.clock()), "numberComponentErrors": 0,
        "numberComponentsDeployed": 0, "numberComponentsTotal": 0, "numberTestErrors": 0,
        "numberTestsCompleted": 0, "numberTestsTotal": 0,
        "rollbackOnError": bool(opts.get("rollbackOnError", True)), "runTestsEnabled": False,
        "startDate": iso(job["createdDate"]), "status": "InProgress", "success": False,
    }
    if res is not None:
        out |= {k: res[k] for k in ("status", "success", "numberComponentsTotal",
                                    "numberComponentErrors", "numberComponentsDeployed")}
        out["completedDate"] = iso(res["completedDate"])
        if res["status"] == "Failed":
            out["errorStatusCode"] = "UNKNOWN_EXCEPTION" if job.get("forceFail") else None
        if child_text(op, "includeDetails", "true") != "false":
            out["details"] = {"componentFailures": res["failures"],
                              "componentSuccesses": res["successes"]}
    root, resp = response("checkDeployStatus")
    encode_into(etree.SubElement(resp, f"{{{MD_NS}}}result"), out, "DeployResult")
    return ok(root), "checkDeployStatus"


def submit_retrieve(org: Org, user: dict[str, Any], op: etree._Element) -> tuple[Response, str]:
    """Queue a retrieve of ``unpackaged`` types/members (``*`` for all)."""
    req = (children(op, "retrieveRequest") or [op])[0]
    unpackaged = children(req, "unpackaged")
    types = [(child_text(t, "name", "") or "", [(m.text or "").strip() for m in children(t, "members")])
             for t in (children(unpackaged[0], "types") if unpackaged else [])]
    with org.lock:
        job = _new_job(org, user, "retrieve", types=types,
                       singlePackage=parse_bool(child_text(req, "singlePackage", "true")),
                       apiVersion=child_text(req, "apiVersion", "63.0"))
        org.save()
    return _async_result("retrieve", job["id"]), "retrieve"


def _metadata_file(type_name: str, md: dict[str, Any]) -> bytes:
    root = etree.Element(f"{{{MD_NS}}}{type_name}", nsmap={None: MD_NS})
    encode_into(root, {k: v for k, v in md.items() if k != "fullName"}, type_name)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _build_retrieve(org: Org, job: dict[str, Any]) -> dict[str, Any]:
    user = next((u for u in org.data["users"] if u["id"] == job["userId"]), None)
    store = Store(org.data, org.clock, 0.0, job["userId"], org.may_see_secrets(user), org.box)
    prefix = "" if job["singlePackage"] else "unpackaged/"
    buf, messages, props = io.BytesIO(), [], []
    pkg = etree.Element(f"{{{MD_NS}}}Package", nsmap={None: MD_NS})
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for type_name, members in job["types"]:
            if type_name not in c.TYPES or (type_name == c.ECA_GLOBAL and not store.may_see_secrets):
                messages.append({"fileName": f"{prefix}package.xml", "problem":
                                 f"Entity type: '{type_name}' is unknown or not accessible"})
                continue
            names = sorted(store.records(type_name)) if "*" in members else members
            found = []
            for name in names:
                md = store.read(type_name, name)
                if md is None:
                    messages.append({"fileName": f"{prefix}package.xml", "problem":
                                     f"Entity of type '{type_name}' named '{name}' cannot be found"})
                    continue
                found.append(name)
                zf.writestr(prefix + c.TYPES[type_name].file_name(name), _metadata_file(type_name, md))
                props.append(store.file_properties(type_name, name) | {
                    "fileName": prefix + c.TYPES[type_name].file_name(name)})
            if found:
                encode_into(pkg, {"types": [{"members": found, "name": type_name}]}, "Package")
        etree.SubElement(pkg, f"{{{MD_NS}}}version").text = str(job["apiVersion"])
        zf.writestr(f"{prefix}package.xml", etree.tostring(pkg, xml_declaration=True,
                                                           encoding="UTF-8", pretty_print=True))
    return {"messages": messages, "fileProperties": props,
            "zipFile": base64.b64encode(buf.getvalue()).decode()}


def check_retrieve(org: Org, user: dict[str, Any], op: etree._Element) -> tuple[Response, str]:
    """Report a retrieve's state; once done, with the zip if ``includeZip`` is true."""
    job_id, _job_doc, res = _job(org, op, "retrieve", _build_retrieve)
    out: dict[str, Any] = {"done": res is not None, "id": job_id,
                           "status": "InProgress" if res is None else "Succeeded",
                           "success": res is not None}
    if res is not None:
        out |= {"fileProperties": res["fileProperties"], "messages": res["messages"]}
        if parse_bool(child_text(op, "includeZip", "true")):
            out["zipFile"] = res["zipFile"]
    root, resp = response("checkRetrieveStatus")
    encode_into(etree.SubElement(resp, f"{{{MD_NS}}}result"), out, "RetrieveResult")
    return ok(root), "checkRetrieveStatus"


OPERATIONS: dict[str, Callable[[Org, dict[str, Any], etree._Element], tuple[Response, str]]] = {
    "deploy": submit_deploy,
    "checkDeployStatus": check_deploy,
    "retrieve": submit_retrieve,
    "checkRetrieveStatus": check_retrieve,
}
