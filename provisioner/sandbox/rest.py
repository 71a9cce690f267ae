"""The REST API's ``/services/data`` resources the tool uses: the version list and a SOQL subset.

``GET /services/data`` lists the API versions the org answers. ``GET /services/data/vNN.N/query``
answers ``SELECT f, ... FROM Object [WHERE Field IN ('a', ...)]`` for ``User``, ``Profile`` and
``PermissionSet``, which is what a preflight needs to know that the names a spec uses exist.
Anything else is ``MALFORMED_QUERY``, as Salesforce answers a query it cannot parse.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .mdapi import MAX_VERSION, MIN_VERSION
from .oauth import Response, json_response
from .org import Org
from .store import STANDARD_PROFILES

_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<where>\w+)\s+IN\s*\((?P<values>(?:\s*'(?:[^'\\]|\\.)*'\s*,?)*)\))?\s*$",
    re.IGNORECASE)
_VALUE = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _error(status: int, code: str, message: str) -> Response:
    return status, {"Content-Type": "application/json;charset=UTF-8"}, json.dumps(
        [{"errorCode": code, "message": message}]).encode()


def versions() -> Response:
    """Every API version the model answers, oldest first."""
    out = []
    number = MIN_VERSION
    while number <= MAX_VERSION:
        out.append({"label": f"v{number:.1f}", "version": f"{number:.1f}",
                    "url": f"/services/data/v{number:.1f}"})
        number += 1.0
    return json_response(200, out)


def _rows(org: Org, obj: str) -> list[dict[str, Any]]:
    users = org.users()
    if obj == "user":
        return [{"Id": u["id"], "Username": u["username"], "Name": u["name"],
                 "IsActive": u["active"]} for u in users]
    if obj == "profile":
        names = sorted(STANDARD_PROFILES | {u["profile"] for u in users}
                       | set(org.data.get("profiles", [])))
        return [{"Name": n} for n in names]
    if obj == "permissionset":
        names = sorted({p for u in users for p in u["permissionSets"]}
                       | set(org.data.get("permissionSets", [])))
        return [{"Name": n} for n in names]
    raise KeyError(obj)


def query(org: Org, raw_path: str, authorization: str | None) -> Response:
    """``GET /services/data/vNN.N/query?q=...`` with a bearer session."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or org.session(value.strip()) is None:
        return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    q = (parse_qs(urlsplit(raw_path).query).get("q") or [""])[0]
    match = _QUERY.match(q)
    if match is None:
        return _error(400, "MALFORMED_QUERY", "unexpected token in the query (the sandbox "
                      "answers SELECT ... FROM User|Profile|PermissionSet [WHERE F IN (...)])")
    obj = match.group("object")
    try:
        rows = _rows(org, obj.lower())
    except KeyError:
        return _error(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
    fields = [f.strip() for f in match.group("fields").split(",") if f.strip()]
    known = {k.lower(): k for k in rows[0]} if rows else {}
    for name in fields + ([match.group("where")] if match.group("where") else []):
        if rows and name.lower() not in known:
            return _error(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj}'.")
    if match.group("where"):
        column = known.get(match.group("where").lower(), match.group("where"))
        wanted = {v.replace("\\'", "'").lower() for v in _VALUE.findall(match.group("values"))}
        rows = [r for r in rows if str(r.get(column, "")).lower() in wanted]
    records = [{"attributes": {"type": obj}, **{known.get(f.lower(), f): r.get(
        known.get(f.lower(), f)) for f in fields}} for r in rows]
    return json_response(200, {"totalSize": len(records), "done": True, "records": records})
