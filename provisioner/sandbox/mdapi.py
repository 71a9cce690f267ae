"""Metadata API operations, routed on the SOAP body element (SOAPAction is empty for CRUD).

Authentication and authorisation come first, as on Salesforce: a bad or expired session is
INVALID_SESSION_ID, a user without Modify Metadata is INSUFFICIENT_ACCESS, and API versions below
31 are UNSUPPORTED_API_VERSION. Item-level failures come back in their results, not as faults.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lxml import etree

from . import catalog as c
from . import deploy
from .org import Org
from .soap import Response, SoapFault, fault_response, ok, read_request, response, session_id
from .store import Store
from .validation import Problem
from .wsdl import MD_NS, XSI_NS, schema
from .xmlcodec import XmlError, add, child_text, children, decode, encode_into, xsi_type

# sandbox-rule: api-version-range (docs/salesforce-behaviour.md)
MIN_VERSION, MAX_VERSION = 31.0, 66.0
# sandbox-rule: crud-ten-per-call (docs/salesforce-behaviour.md)
CRUD_LIMIT = 10
_PATH = re.compile(r"^/services/Soap/m/(\d+(?:\.\d+)?)(?:/.*)?$")
_BAD_SESSION = "Invalid Session ID found in SessionHeader: Illegal Session"
METADATA_PERMISSIONS = {"ModifyAllData", "ModifyMetadata"}


def api_version(path: str) -> float:
    """The version in a Metadata API URL; unsupported versions are faults."""
    match = _PATH.match(path)
    version = float(match.group(1)) if match else 0.0
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise SoapFault("UNSUPPORTED_API_VERSION",
                        f"Invalid Api version specified on URL ({match.group(1) if match else path})")
    return version


def _errors(parent: etree._Element, problems: list[Problem]) -> None:
    for p in problems:
        err = add(parent, "errors", None)
        if p.field:
            add(err, "fields", p.field)
        add(err, "message", p.message)
        add(err, "statusCode", p.code)


def _items(op: etree._Element, name: str) -> list[etree._Element]:
    items = children(op, name)
    if len(items) > CRUD_LIMIT:
        raise SoapFault("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                        f"{CRUD_LIMIT} records in this operation")
    return items


def _type_of(name: str) -> str:
    if name not in c.TYPES:
        if name in schema().complex:
            raise SoapFault("INVALID_TYPE", f"The sandbox does not hold metadata of type {name}")
        raise SoapFault("INVALID_TYPE", f"Unknown type name '{name}'")
    return name


def _save(store: Store, op: etree._Element, mode: str) -> Response:
    items = _items(op, "metadata")
    types = {xsi_type(el) or "" for el in items}
    if len(types) > 1:
        raise SoapFault("INVALID_TYPE", "all components in one call must be of the same type")
    decoded: list[dict[str, Any]] = []
    for el in items:
        type_name = _type_of(xsi_type(el) or "")
        try:
            decoded.append(decode(el, type_name))
        except XmlError as exc:
            raise SoapFault("INVALID_XML", str(exc), client_fault=True) from exc
    root, resp = response(f"{mode}Metadata")
    for md in decoded:
        created, problems = store.save(next(iter(types)), md, mode)
        result = add(resp, "result", None)
        if mode == "upsert":
            add(result, "created", created)
        _errors(result, problems)
        add(result, "fullName", md.get("fullName", ""))
        add(result, "success", not problems)
    return ok(root)


def _delete(store: Store, op: etree._Element) -> Response:
    type_name = _type_of(child_text(op, "type", "") or "")
    root, resp = response("deleteMetadata")
    for el in _items(op, "fullNames"):
        name = (el.text or "").strip()
        problems = store.delete(type_name, name)
        result = add(resp, "result", None)
        _errors(result, problems)
        add(result, "fullName", name)
        add(result, "success", not problems)
    return ok(root)


def _rename(store: Store, op: etree._Element) -> Response:
    type_name = _type_of(child_text(op, "type", "") or "")
    old, new = child_text(op, "oldFullName", "") or "", child_text(op, "newFullName", "") or ""
    rec = store.get(type_name, old)
    problems: list[Problem] = []
    if rec is None:
        problems = [Problem("INVALID_CROSS_REFERENCE_KEY",
                            f"In field: fullName - no {type_name} named {old} found")]
    elif store.get(type_name, new) is not None:
        problems = [Problem("DUPLICATE_VALUE", f"duplicate value found: {new}")]
    else:
        store.records(type_name)[new] = store.records(type_name).pop(old)
    root, resp = response("renameMetadata")
    result = add(resp, "result", None)
    _errors(result, problems)
    add(result, "fullName", new)
    add(result, "success", not problems)
    return ok(root)


def _read(store: Store, op: etree._Element) -> Response:
    type_name = _type_of(child_text(op, "type", "") or "")
    if type_name == c.ECA_GLOBAL and not store.may_see_secrets:
        raise SoapFault("INSUFFICIENT_ACCESS", "You don't have access to OAuth consumer secrets "
                        "through the Metadata API (org setting or user permission missing)")
    root, resp = response("readMetadata")
    result = add(resp, "result", None)
    for el in _items(op, "fullNames"):
        md = store.read(type_name, (el.text or "").strip())
        rec = add(result, "records", None)
        rec.set(f"{{{XSI_NS}}}type", type_name)
        if md is not None:  # a missing component reads back as an empty record
            encode_into(rec, md, type_name)
    return ok(root)


def _list(store: Store, op: etree._Element) -> Response:
    queries = children(op, "queries")
    if len(queries) > 3:
        # sandbox-rule: list-three-queries (docs/salesforce-behaviour.md)
        raise SoapFault("EXCEEDED_ID_LIMIT", "listMetadata accepts at most 3 queries")
    root, resp = response("listMetadata")
    for query in queries:
        type_name = child_text(query, "type", "") or ""
        if type_name not in c.TYPES:
            continue  # types the sandbox does not hold are simply empty
        for name in sorted(store.records(type_name)):
            encode_into(add(resp, "result", None), store.file_properties(type_name, name),
                        "FileProperties")
    return ok(root)


OPERATIONS: dict[str, Callable[[Store, etree._Element], Response]] = {
    "createMetadata": lambda s, op: _save(s, op, "create"),
    "updateMetadata": lambda s, op: _save(s, op, "update"),
    "upsertMetadata": lambda s, op: _save(s, op, "upsert"),
    "deleteMetadata": _delete,
    "renameMetadata": _rename,
    "readMetadata": _read,
    "listMetadata": _list,
}


def operation_name(body: bytes) -> str:
    """The body element's local name, for routing faults before full handling (best effort)."""
    match = re.search(rb"<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)", body[:4096])
    return match.group(1).decode() if match else "unknown"


def handle(org: Org, path: str, body: bytes,
           fail_deploy: bool = False) -> tuple[Response, str, str | None]:
    """Answer one Metadata API request: (response, operation, username)."""
    operation, username = operation_name(body), None
    try:
        api_version(path)
        header, op = read_request(body)
        operation = op.tag.rpartition("}")[2] if isinstance(op.tag, str) else operation
        found = org.session(session_id(header))
        if found is None:
            raise SoapFault("INVALID_SESSION_ID", _BAD_SESSION)
        sess, user = found
        username = user["username"]
        if not {"Api", "Full"} & {c.scope_name(s) for s in sess["scopes"]}:
            raise SoapFault("INVALID_SESSION_ID", "This session is not valid for use with the API")
        if not METADATA_PERMISSIONS & set(user["permissions"]):
            raise SoapFault("INSUFFICIENT_ACCESS", "use of the Metadata API requires a user with "
                            "the ModifyAllData or ModifyMetadata permissions")
        if operation == "deploy":
            resp, operation = deploy.submit_deploy(org, user, op, fail=fail_deploy)
            return resp, operation, username
        if operation in deploy.OPERATIONS:
            resp, operation = deploy.OPERATIONS[operation](org, user, op)
            return resp, operation, username
        if operation not in OPERATIONS:
            raise SoapFault("INVALID_XML", f"No operation available for request {{{MD_NS}}}"
                            f"{operation}", client_fault=True)
        with org.store(user, write=operation not in {"readMetadata", "listMetadata"}) as store:
            return OPERATIONS[operation](store, op), operation, username
    except SoapFault as fault:
        return fault_response(fault), operation, username
