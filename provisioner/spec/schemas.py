"""Access to the JSON Schemas in ``schemas/``: the single source of truth for the spec language.

In an installed wheel the files sit at ``provisioner/_schemas/`` (hatch force-include); in a
checkout they are ``<repo>/schemas``. The bundle ``provisioner.schema.json`` is generated from the
per-kind files by :func:`build_bundle` (``python -c 'from provisioner.spec.schemas import main;
main()'`` rewrites it) and a test keeps the committed file identical to what the function builds.
"""

from __future__ import annotations

import copy
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from provisioner.errors import SpecError
from provisioner.model import KINDS

BUNDLE_FILE = "provisioner.schema.json"
BUNDLE_ID = "https://provisioner.dev/schemas/provisioner.schema.json"


def schema_dir() -> Path:
    """The folder holding the schema files (installed copy first, then the repository's)."""
    package_root = Path(__file__).resolve().parent.parent
    for candidate in (package_root / "_schemas", package_root.parent / "schemas"):
        if (candidate / f"{KINDS[0]}.schema.json").is_file():
            return candidate
    raise SpecError(
        "the JSON Schemas of the spec language are missing",
        f"reinstall provisioner; looked in {package_root / '_schemas'} and {package_root.parent / 'schemas'}",
    )


@cache
def _load(name: str) -> str:
    return (schema_dir() / name).read_text(encoding="utf-8")


def kind_schema(kind: str) -> dict[str, Any]:
    """The schema of one kind (a fresh copy the caller may keep)."""
    if kind not in KINDS:
        raise SpecError(f"unknown kind {kind!r}", f"kinds are {', '.join(KINDS)}")
    data: dict[str, Any] = json.loads(_load(f"{kind}.schema.json"))
    return data


#: The documents provisioner writes, with their schema files (``provisioner schema NAME``).
DOCUMENT_SCHEMAS: dict[str, str] = {
    "plan": "plan.schema.json",
    "state": "state.schema.json",
    "result": "result.schema.json",
    "error": "error.schema.json",
}


def document_schema(name: str) -> dict[str, Any]:
    """The schema of a document provisioner writes: ``plan``, ``state`` or ``result``."""
    if name not in DOCUMENT_SCHEMAS:
        raise SpecError(f"unknown document {name!r}", f"choose {', '.join(DOCUMENT_SCHEMAS)}")
    data: dict[str, Any] = json.loads(_load(DOCUMENT_SCHEMAS[name]))
    return data


def bundle_schema() -> dict[str, Any]:
    """The committed bundle schema (every kind, selected by ``kind``)."""
    data: dict[str, Any] = json.loads(_load(BUNDLE_FILE))
    return data


def _rebase_refs(node: Any, prefix: str) -> Any:
    # Embedded kind schemas keep their local "#/$defs/x" refs valid by pointing them into the
    # kind's own slot in the bundle; editors then need no network or file resolution.
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                out[key] = prefix + value[1:]
            else:
                out[key] = _rebase_refs(value, prefix)
        return out
    if isinstance(node, list):
        return [_rebase_refs(item, prefix) for item in node]
    return node


def build_bundle() -> dict[str, Any]:
    """The bundle schema built from the per-kind files: ``oneOf`` over the kinds, self-contained."""
    defs: dict[str, Any] = {}
    for kind in KINDS:
        schema = copy.deepcopy(kind_schema(kind))
        for key in ("$schema", "$id"):
            schema.pop(key, None)
        defs[kind] = _rebase_refs(schema, f"#/$defs/{kind}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BUNDLE_ID,
        "title": "provisioner spec",
        "description": (
            "One document of a provisioner spec file: a SalesforceOrg, a WorkflowInstance or a "
            "SalesforceApp, chosen by kind. Use it with the modeline "
            "`# yaml-language-server: $schema=<path or URL of this file>`."
        ),
        "type": "object",
        "properties": {
            "kind": {
                "enum": list(KINDS),
                "description": "The kind of resource: " + ", ".join(KINDS) + ".",
                "examples": list(KINDS),
            }
        },
        "required": ["kind"],
        "oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in KINDS],
        "$defs": defs,
    }


def render_json(schema: dict[str, Any]) -> str:
    """Schema text exactly as committed (2-space indent, UTF-8, trailing newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Regenerate ``schemas/provisioner.schema.json`` from the per-kind files (developer tool)."""
    args = sys.argv[1:] if argv is None else argv
    target = schema_dir() / BUNDLE_FILE
    text = render_json(build_bundle())
    if args == ["--check"]:
        return 0 if target.is_file() and target.read_text(encoding="utf-8") == text else 1
    target.write_text(text, encoding="utf-8")
    return 0
