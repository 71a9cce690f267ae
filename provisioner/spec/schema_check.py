"""Checking documents against the kind schemas, with messages a person can act on.

jsonschema's own messages quote the offending value (which could be a pasted secret) and describe
``anyOf`` failures in schema terms, so each error is rewritten here from its keyword, the failing
subschema's ``errorMessage``/``patternErrorMessage`` (the convention yaml-language-server also
shows) and the ``x-secret`` marker on secret references.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from provisioner import scopes
from provisioner.jsonschemas import validator
from provisioner.model import API_GROUP, KINDS
from provisioner.spec.problems import ProblemSink, json_path
from provisioner.spec.reader import REJECTED_ALIAS, Document
from provisioner.spec.schemas import kind_schema

_SECRET_HINT = (
    "secrets are never written in a spec: reference them as {env: NAME} (an environment "
    "variable) or {file: PATH} (a file, relative to the spec file)"
)
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.:/@+# -]{1,60}$")
_SECRETISH_KEY = re.compile(r"secret|password|passwd|token|private|apikey|api_key", re.I)
_REQUIRED_MESSAGE = re.compile(r"^'(.+)' is a required property$")
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "empty",
}


@cache
def _validator(kind: str) -> Draft202012Validator:
    # No format checker: patterns carry the real rules, and a format check would report the same
    # value twice (and change with the optional packages installed).
    return validator(kind_schema(kind))


def shown(value: Any) -> str:
    """A value safe to echo in a message (short, plain), or a description of its type."""
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "an empty value"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and _SAFE_VALUE.match(value) and "-----" not in value:
        return repr(value)
    return describe_type(value)


def describe_type(value: Any) -> str:
    """What kind of value this is, without showing it."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "an empty value"
    if isinstance(value, (datetime.date, datetime.time)):  # YAML reads 2024-01-01 as a date
        return "a date (quote it to keep it text)"
    return "a string"


def _path_of(error: ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out = json_path(out, part if isinstance(part, int) else str(part))
    return out


def check_document(doc: Document, sink: ProblemSink) -> str | None:
    """Check the envelope and the kind's schema; returns the kind when the document is valid."""
    data = doc.data
    if not isinstance(data, dict):
        sink.error(
            doc.start,
            f"a document must be a mapping, not {describe_type(data)}",
            hint="start each document with apiVersion, kind, metadata and spec",
        )
        return None
    before = sink.error_count
    api = data.get("apiVersion")
    if api != API_GROUP:
        text = (
            "missing apiVersion"
            if api is None
            else f"apiVersion must be {API_GROUP}, not {shown(api)}"
        )
        sink.error(doc.location("apiVersion"), text, "apiVersion", f"write apiVersion: {API_GROUP}")
    kind = data.get("kind")
    if kind not in KINDS:
        close = (
            difflib.get_close_matches(str(kind), KINDS, n=1, cutoff=0.5)
            if isinstance(kind, str)
            else []
        )
        text = "missing kind" if kind is None else f"unknown kind {shown(kind)}"
        hint = f"did you mean {close[0]!r}?" if close else f"kind is one of {', '.join(KINDS)}"
        sink.error(doc.location("kind"), text, "kind", hint)
        return None
    for error in _validator(kind).iter_errors(data):
        if error.validator == "const" and list(error.absolute_path) == ["apiVersion"]:
            continue  # reported above with a better message
        if error.instance is REJECTED_ALIAS:
            continue  # the alias itself was reported by the reader
        _report(doc, error, sink)
    _scan_literals(doc, data, "", sink)
    if _has_alias(data):
        return None  # the reader reported it; the document cannot be used as written
    return kind if sink.error_count == before else None


def _has_alias(node: Any) -> bool:
    if node is REJECTED_ALIAS:
        return True
    if isinstance(node, dict):
        return any(_has_alias(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_alias(v) for v in node)
    return False


def _schema(error: ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _report(doc: Document, error: ValidationError, sink: ProblemSink) -> None:
    path = _path_of(error)
    schema = _schema(error)
    keyword = str(error.validator)
    field = path.rsplit(".", 1)[-1] if path else "document"
    if schema.get("x-secret") and isinstance(error.instance, str):
        sink.error(
            doc.location(path),
            f"{field} must be a reference, not a literal value",
            path,
            _SECRET_HINT,
        )
        return
    if keyword == "additionalProperties":
        _unknown_fields(doc, error, path, sink)
        return
    if keyword == "required":
        missing = _missing(error)
        message = schema.get("errorMessage") or f"missing required field {missing!r}"
        if path and "errorMessage" not in schema:
            message += f" in {path}"
        sink.error(
            doc.location(path),
            message,
            json_path(path, missing) if missing else path,
            schema.get("x-hint"),
        )
        return
    if keyword == "enum" and re.fullmatch(r"spec\.scopes\[\d+\]", path):
        _unknown_scope(doc, error, path, sink)
        return
    if keyword in ("anyOf", "oneOf") and "errorMessage" not in schema and error.context:
        _report(doc, best_match(error.context), sink)
        return
    message = _message(error, schema)
    custom = "errorMessage" in schema and not (
        keyword == "pattern" and "patternErrorMessage" in schema
    )
    if not custom or message.startswith("must"):
        message = f"{field} {message}"
    sink.error(doc.location(path), message, path, schema.get("x-hint"))


def _missing(error: ValidationError) -> str:
    # jsonschema reports one error per missing property; its message names it.
    found = _REQUIRED_MESSAGE.match(error.message)
    if found:
        return found.group(1)
    required = error.validator_value if isinstance(error.validator_value, list) else []
    present = error.instance if isinstance(error.instance, dict) else {}
    return next((str(r) for r in required if r not in present), "")


def _message(error: ValidationError, schema: dict[str, Any]) -> str:
    keyword = str(error.validator)
    value = error.validator_value
    if keyword == "pattern" and "patternErrorMessage" in schema:
        return f"{schema['patternErrorMessage']} (got {shown(error.instance)})"
    if "errorMessage" in schema:
        return str(schema["errorMessage"])
    if keyword == "enum" and isinstance(value, list):
        return f"must be one of {', '.join(str(v) for v in value)}, not {shown(error.instance)}"
    if keyword == "type":
        wanted = value if isinstance(value, list) else [value]
        names = " or ".join(_TYPE_NAMES.get(str(w), str(w)) for w in wanted)
        return f"must be {names}, not {describe_type(error.instance)}"
    simple = {
        "minimum": f"must be at least {value}",
        "maximum": f"must be at most {value}",
        "exclusiveMinimum": f"must be more than {value}",
        "minLength": "must not be empty"
        if value == 1
        else f"must be at least {value} characters long",
        "maxLength": f"must be at most {value} characters long",
        "minItems": f"needs at least {value} item(s)",
        "uniqueItems": "lists an item twice",
        "minProperties": "must not be empty",
        "maxProperties": f"takes at most {value} field(s)",
        "format": f"must be a valid {value}",
        "pattern": "has the wrong format",
        "not": "is not allowed here",
        "false": "is not allowed here",
    }
    return simple.get(keyword, "is not valid")


def _unknown_fields(doc: Document, error: ValidationError, path: str, sink: ProblemSink) -> None:
    schema = _schema(error)
    allowed = list(schema.get("properties", {}))
    present: Iterable[str] = error.instance if isinstance(error.instance, dict) else ()
    for key in present:
        if key in allowed:
            continue
        child = json_path(path, key)
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint: str | None
        if _SECRETISH_KEY.search(key):
            hint = (
                "provisioner generates consumer keys and secrets itself; other secrets are "
                "referenced as {env: NAME} or {file: PATH} where a field accepts them"
            )
        elif close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = f"allowed fields here: {', '.join(allowed)}" if allowed else None
        where = "at the top level" if not path else f"in {path}"
        sink.error(doc.location(child), f"unknown field {key!r} {where}", child, hint)


def _unknown_scope(doc: Document, error: ValidationError, path: str, sink: ProblemSink) -> None:
    value = error.instance
    if not isinstance(value, str):
        sink.error(
            doc.location(path), f"a scope must be a string, not {describe_type(value)}", path
        )
        return
    try:
        correct = scopes.to_metadata(value)
        hint = f"write it as {correct!r} (or its OAuth name); scope names are case-sensitive"
        sink.error(doc.location(path), f"unknown OAuth scope {shown(value)}", path, hint)
    except scopes.UnknownScopeError as exc:
        hint = (
            f"did you mean {exc.suggestion!r}?"
            if exc.suggestion
            else "see the scopes list in docs/specs.md (e.g. api, refresh_token, openid)"
        )
        sink.error(doc.location(path), f"unknown OAuth scope {shown(value)}", path, hint)


def _scan_literals(doc: Document, node: Any, path: str, sink: ProblemSink) -> None:
    # A PEM block or an sfdx auth URL anywhere is a leaked secret, whatever field it sits in.
    if isinstance(node, dict):
        for key, value in node.items():
            _scan_literals(doc, value, json_path(path, key), sink)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _scan_literals(doc, value, json_path(path, i), sink)
    elif isinstance(node, str):
        field = path.rsplit(".", 1)[-1] or "value"
        text: str
        if "-----BEGIN" in node and "PRIVATE KEY" in node:
            text = f"{field} contains a literal private key (a PEM block)"
        elif node.strip().startswith("force://"):
            text = f"{field} contains a literal sfdx auth URL"
        else:
            return
        if not any(p.location == doc.location(path) and p.json_path == path for p in sink.items):
            sink.error(
                doc.location(path),
                text,
                path,
                _SECRET_HINT + "; remove the key from the file and from git history, and rotate it",
            )
