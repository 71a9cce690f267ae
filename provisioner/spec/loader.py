"""Loading specs: read files, check schemas and semantics, build the desired model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from provisioner import model as m
from provisioner.errors import SpecError
from provisioner.spec import convert, semantics
from provisioner.spec.problems import ProblemSink, ValidationResult
from provisioner.spec.reader import Document, expand_paths, read_documents
from provisioner.spec.schema_check import check_document

_MAX_LISTED = 50


def _register(
    sink: ProblemSink, doc: Document, kind: str, name: str, first: dict[tuple[str, str], Document]
) -> bool:
    key = (kind, name)
    if key in first:
        sink.error(
            doc.location("metadata.name"),
            f"duplicate {kind} name {name!r} (first defined at {first[key].location('metadata.name')})",
            "metadata.name",
            f"each {kind} needs its own metadata.name",
        )
        return False
    first[key] = doc
    return True


def _raw_name(doc: Document) -> tuple[str, str] | None:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None
    meta = data.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        return data["kind"], meta["name"]
    return None


def check_paths(paths: Sequence[Path]) -> ValidationResult:
    """Check spec files and directories (searched recursively); every problem, not the first."""
    sink = ProblemSink()
    files = expand_paths(list(paths), sink)
    checked = semantics.Checked()
    valid: list[tuple[str, Document]] = []
    for file in files:
        for doc in read_documents(file, sink):
            kind = check_document(doc, sink)
            raw = _raw_name(doc)
            if raw and raw[0] in checked.known:
                checked.known[raw[0]].add(raw[1])
            if kind is not None:
                valid.append((kind, doc))
    first: dict[tuple[str, str], Document] = {}
    for kind, doc in valid:
        name = convert.name_of(doc)
        if not _register(sink, doc, kind, name, first):
            continue
        if kind == m.KIND_ORG:
            checked.orgs[name] = (doc, convert.to_org(doc))
        elif kind == m.KIND_INSTANCE:
            checked.instances[name] = (doc, convert.to_instance(doc))
    for kind, doc in valid:
        name = convert.name_of(doc)
        if kind == m.KIND_APP and first.get((kind, name)) is doc:
            org = checked.orgs.get(doc.data["spec"]["org"])
            environment: m.Environment = org[1].environment if org else "production"
            checked.apps[name] = (doc, convert.to_app(doc, environment))
    _default_scopes(checked)
    for doc, org_spec in checked.orgs.values():
        semantics.check_org(sink, doc, org_spec)
    for doc, inst in checked.instances.values():
        semantics.check_instance(sink, doc, inst)
    for doc, app in checked.apps.values():
        semantics.check_app(sink, doc, app, checked)
    semantics.check_across(sink, checked)
    problems = sorted(sink.items, key=lambda p: p.sort_key())
    desired = None
    if not any(p.severity == "error" for p in problems):
        desired = m.Desired(
            orgs={n: spec for n, (_, spec) in sorted(checked.orgs.items())},
            instances={n: spec for n, (_, spec) in sorted(checked.instances.items())},
            apps=m.Desired.with_partners({n: spec for n, (_, spec) in checked.apps.items()}),
            files=tuple(files),
            warnings=tuple(p.format() for p in problems if p.severity == "warning"),
        )
    return ValidationResult(problems, desired, tuple(files))


def _default_scopes(checked: semantics.Checked) -> None:
    """An app without spec.scopes gets the default plus every scope its credentials request."""
    from dataclasses import replace

    from provisioner.scopes import to_metadata_all

    for name, (doc, app) in list(checked.apps.items()):
        if "scopes" in doc.data["spec"]:
            continue
        wanted = list(app.scopes)
        for cred in app.credentials:
            if cred.instance in checked.instances:
                wanted += semantics.requested_scopes(cred, checked.instances[cred.instance][1])
        checked.apps[name] = (doc, replace(app, scopes=to_metadata_all(wanted)))


def load_desired(paths: Sequence[Path]) -> m.Desired:
    """The desired model of these specs; raises :class:`SpecError` listing every error."""
    result = check_paths(paths)
    if result.desired is not None:
        return result.desired
    errors = result.errors
    lines = [p.format() for p in errors[:_MAX_LISTED]]
    if len(errors) > _MAX_LISTED:
        lines.append(f"... and {len(errors) - _MAX_LISTED} more")
    noun = "problem" if len(errors) == 1 else "problems"
    raise SpecError(
        f"{len(errors)} {noun} in the specs:\n" + "\n".join(lines),
        "fix them and run `provisioner validate` on the same paths",
    )
