"""The JSON Schemas: valid draft 2020-12, documented for editors, and in step with the code."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from provisioner import scopes
from provisioner.model import KINDS
from provisioner.spec import schemas

HERE = Path(__file__).parent
REPO = HERE.parents[1]
SCHEMA_FILES = [f"{k}.schema.json" for k in KINDS] + [schemas.BUNDLE_FILE]


def test_schemas_are_read_from_the_repository_in_a_checkout() -> None:
    assert schemas.schema_dir() == REPO / "schemas"


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    data = json.loads((REPO / "schemas" / name).read_text())
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(data)


def test_committed_bundle_is_generated_from_the_kind_schemas() -> None:
    committed = (REPO / "schemas" / schemas.BUNDLE_FILE).read_text()
    assert committed == schemas.render_json(schemas.build_bundle()), (
        "regenerate: python -c 'from provisioner.spec.schemas import main; main()'"
    )
    assert schemas.main(["--check"]) == 0


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}.{name}", sub
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _properties(item, f"{path}[{i}]")


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_has_a_description_and_examples(kind: str) -> None:
    schema = schemas.kind_schema(kind)
    defs = schema["$defs"]
    missing = []
    for path, prop in _properties(schema):
        if re.search(r"/(if|then|else)[./]", path):
            continue  # conditional restatements, not fields
        target = {**defs[prop["$ref"].rsplit("/", 1)[-1]], **prop} if "$ref" in prop else prop
        if "description" not in target or "examples" not in target:
            missing.append(path)
    assert missing == []


def test_scope_enum_matches_the_scope_table() -> None:
    items = schemas.kind_schema("SalesforceApp")["properties"]["spec"]["properties"]["scopes"][
        "items"
    ]
    assert items["enum"] == scopes.all_spellings()


def test_shared_definitions_agree_across_kinds() -> None:
    defs = [schemas.kind_schema(k)["$defs"] for k in KINDS]
    assert all(d["metadata"] == defs[0]["metadata"] for d in defs)
    assert defs[0]["secretRef"] == defs[1]["secretRef"]


def _documents(folder: Path) -> Iterator[Any]:
    for f in sorted(folder.rglob("*.yaml")):
        yield from (d for d in yaml.safe_load_all(f.read_text()) if d is not None)


def test_bundle_accepts_every_valid_document_and_picks_one_kind() -> None:
    validator = Draft202012Validator(schemas.bundle_schema())
    docs = [*_documents(REPO / "specs"), *_documents(HERE / "valid")]
    assert len(docs) > 15
    for doc in docs:
        assert list(validator.iter_errors(doc)) == [], doc["metadata"]


def test_bundle_rejects_an_unknown_kind() -> None:
    validator = Draft202012Validator(schemas.bundle_schema())
    doc = {
        "apiVersion": "provisioner.dev/v1",
        "kind": "SalesforceThing",
        "metadata": {"name": "x"},
        "spec": {},
    }
    assert not validator.is_valid(doc)


@pytest.mark.parametrize("kind", KINDS)
def test_kind_examples_are_valid(kind: str) -> None:
    schema = schemas.kind_schema(kind)
    for example in schema["examples"]:
        assert Draft202012Validator(schema).is_valid(example)


@pytest.mark.parametrize("kind", KINDS)
def test_docs_describe_every_spec_field(kind: str) -> None:
    docs = (REPO / "docs" / "specs.md").read_text()
    section = docs.split(f"### {kind}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    fields = schemas.kind_schema(kind)["properties"]["spec"]["properties"]
    assert [f for f in fields if f"`{f}`" not in section] == []


def test_docs_modeline_points_at_the_bundle() -> None:
    docs = (REPO / "docs" / "specs.md").read_text()
    assert "# yaml-language-server: $schema=../schemas/provisioner.schema.json" in docs
    for spec in (REPO / "specs").rglob("*.yaml"):
        first = spec.read_text().splitlines()[0]
        target = (spec.parent / first.split("$schema=", 1)[1]).resolve()
        assert target == REPO / "schemas" / schemas.BUNDLE_FILE
