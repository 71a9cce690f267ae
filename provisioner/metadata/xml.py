"""Component <-> XML (file format) and <-> CRUD records, in WSDL element order.

One writer (:func:`to_xml`) produces every component file: the root element is the type name in
the Metadata namespace, children in the order of the type's table in :mod:`.types`, four-space
indentation, LF line ends, UTF-8. The output is a pure function of the component, so renders and
deploy packages are byte-identical across runs.

Secret fields (``consumerSecret``) are written only with ``include_secrets=True``, which only the
deploy path passes; otherwise an XML comment stands in their place. A :class:`Placeholder`
(material generated at apply time) is always a comment; a deploy refuses one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from provisioner.errors import PlanError, RemoteError
from provisioner.metadata.types import (
    METADATA_NS,
    SECRET_FIELDS,
    Component,
    FieldDef,
    Fields,
    FieldValue,
    Placeholder,
    fields_of,
)
from provisioner.secret import Secret

XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
INDENT = "    "
SECRET_COMMENT = "{name}: omitted; generated at apply time and sent only to the deploy"


def escape_text(text: str) -> str:
    """``text`` escaped for XML element content."""
    # Carriage returns would be normalised away by any parser: keep them as character refs.
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def _comment(text: str) -> str:
    # "--" may not appear inside an XML comment.
    return "<!-- " + text.replace("--", "- -") + " -->"


def _scalar_text(value: str | bool | int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Writer:
    def __init__(self, component: Component, include_secrets: bool) -> None:
        self.component = component
        self.include_secrets = include_secrets
        self.lines: list[str] = []

    def complex(self, type_name: str, values: Fields, depth: int) -> None:
        pad = INDENT * depth
        for fdef in fields_of(type_name):
            if fdef.name not in values:
                continue
            value = values[fdef.name]
            items = value if isinstance(value, tuple) else (value,)
            for item in items:
                self.element(type_name, fdef, item, pad, depth)

    def element(self, owner: str, fdef: FieldDef, item: Any, pad: str, depth: int) -> None:
        name = fdef.name
        if isinstance(item, Placeholder):
            self.lines.append(pad + _comment(f"{name}: {item.note}"))
        elif isinstance(item, Secret):
            if self.include_secrets and name in SECRET_FIELDS.get(owner, frozenset()):
                self.lines.append(f"{pad}<{name}>{escape_text(item.reveal())}</{name}>")
            else:
                self.lines.append(pad + _comment(SECRET_COMMENT.format(name=name)))
        elif isinstance(item, Mapping):
            if fdef.nested is None:
                raise ValueError(f"{owner}.{name} is not a complex field")
            self.lines.append(f"{pad}<{name}>")
            self.complex(fdef.nested, item, depth + 1)
            self.lines.append(f"{pad}</{name}>")
        else:
            self.lines.append(f"{pad}<{name}>{escape_text(_scalar_text(item))}</{name}>")


def to_xml(
    component: Component, *, include_secrets: bool = False, include_full_name: bool = False
) -> bytes:
    """The component as a package file (``<Type xmlns=...>`` root, WSDL order, deterministic).

    ``include_secrets`` writes secret values (only for a real deploy); ``include_full_name`` adds
    the ``fullName`` element, which package files leave out (the file name carries it).
    """
    if include_secrets:
        _refuse_placeholders(component)
    writer = _Writer(component, include_secrets)
    if include_full_name:
        writer.lines.append(f"{INDENT}<fullName>{escape_text(component.full_name)}</fullName>")
    writer.complex(component.type, component.fields, 1)
    head = f'<{component.type} xmlns="{METADATA_NS}">'
    body = "\n".join([head, *writer.lines, f"</{component.type}>"]) + "\n"
    return XML_DECL + body.encode("utf-8")


def _placeholders(values: Fields, prefix: str) -> list[str]:
    found: list[str] = []
    for key, value in values.items():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, Placeholder):
                found.append(prefix + key)
            elif isinstance(item, Mapping):
                found.extend(_placeholders(item, f"{prefix}{key}."))
    return found


def _refuse_placeholders(component: Component) -> None:
    missing = _placeholders(component.fields, "")
    if missing:
        raise PlanError(
            f"{component.type} {component.full_name}: {', '.join(missing)} not generated yet",
            "generate the key material before building a deploy package (render shows placeholders)",
        )


# --- reading --------------------------------------------------------------------------------------


def _coerce(owner: str, fdef: FieldDef, raw: Any) -> FieldValue | None:
    """A read value (XML text, zeep value or plain JSON) as the table says it should be typed."""
    if raw is None:
        return None
    if fdef.kind == "nested":
        assert fdef.nested is not None
        return _record_fields(fdef.nested, raw)
    if fdef.kind == "bool":
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() == "true"
    if fdef.kind == "int":
        try:
            return int(str(raw).strip())
        except ValueError:
            return None
    text = raw if isinstance(raw, str) else str(raw)
    if fdef.name in SECRET_FIELDS.get(owner, frozenset()):
        return Secret(text)
    return text


def _as_mapping(record: Any) -> Mapping[str, Any]:
    if isinstance(record, Mapping):
        return record
    values = getattr(record, "__values__", None)  # zeep CompoundValue keeps its fields here
    if isinstance(values, Mapping):
        return values
    raise TypeError(f"cannot read a metadata record from {type(record).__name__}")


def _record_fields(type_name: str, record: Any) -> Fields:
    data = _as_mapping(record)
    out: dict[str, FieldValue] = {}
    for fdef in fields_of(type_name):
        if fdef.name == "fullName" or fdef.kind == "opaque" or fdef.name not in data:
            continue
        raw = data[fdef.name]
        if fdef.many:
            seq = raw if isinstance(raw, (list, tuple)) else ([] if raw is None else [raw])
            items = [v for v in (_coerce(type_name, fdef, r) for r in seq) if v is not None]
            if items:
                out[fdef.name] = tuple(items)  # type: ignore[arg-type]
        else:
            value = _coerce(type_name, fdef, raw)
            if value is not None:
                out[fdef.name] = value
    return out


def from_crud(type_name: str, record: Any) -> Component:
    """A component from a CRUD read result (a zeep object or a dict), typed by the table.

    Fields this tool does not model (canvas, SAML, ...) and elements unknown to the table are
    dropped. A missing component (``fullName`` nil) raises :class:`RemoteError`.
    """
    data = _as_mapping(record)
    full_name = data.get("fullName")
    if not full_name:
        raise RemoteError(
            f"{type_name} read returned no component (fullName is empty)",
            "the component does not exist in the org; create it or fix its name",
        )
    return Component(type_name, str(full_name), _record_fields(type_name, data))


def _element_to_dict(elem: ET.Element, type_name: str) -> dict[str, Any]:
    by_name = {f.name: f for f in fields_of(type_name)}
    out: dict[str, Any] = {}
    for child in elem:
        if not isinstance(child.tag, str):
            continue  # comments
        local = child.tag.rpartition("}")[2]
        fdef = by_name.get(local)
        if fdef is None or fdef.kind == "opaque":
            continue
        value: Any = (
            _element_to_dict(child, fdef.nested)
            if fdef.kind == "nested" and fdef.nested
            else (child.text or "")
        )
        if fdef.many:
            out.setdefault(local, []).append(value)
        else:
            out[local] = value
    return out


def from_xml(data: bytes, full_name: str | None = None) -> Component:
    """Parse a component file (the :func:`to_xml` shape, or one Salesforce returns).

    The type comes from the root element; ``full_name`` from the ``fullName`` element when the
    file has one, else from the argument (package files carry it in their file name).
    """
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise RemoteError("metadata XML with a DOCTYPE is not accepted", "send plain XML")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise RemoteError(f"metadata XML is not well-formed: {exc}", "check the file") from exc
    type_name = root.tag.rpartition("}")[2]
    fields = _element_to_dict(root, type_name)
    name_elem = root.find(f"{{{METADATA_NS}}}fullName")
    name = name_elem.text if name_elem is not None and name_elem.text else full_name
    return from_crud(type_name, {**fields, "fullName": name})


def to_crud_dict(component: Component, *, include_secrets: bool = False) -> dict[str, Any]:
    """The component as the keyword dict for ``sf.mdapi.<Type>.create/update/upsert``.

    Nested fields are dicts, repeated ones lists. Secrets are unwrapped only with
    ``include_secrets`` (a real create); placeholders are refused.
    """
    _refuse_placeholders(component)

    def convert(type_name: str, values: Fields) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for fdef in fields_of(type_name):
            if fdef.name not in values:
                continue
            items: list[Any] = []
            raw = values[fdef.name]
            for item in raw if isinstance(raw, tuple) else (raw,):
                if isinstance(item, Secret):
                    if not include_secrets:
                        continue
                    items.append(item.reveal())
                elif isinstance(item, Mapping):
                    assert fdef.nested is not None
                    items.append(convert(fdef.nested, item))
                else:
                    items.append(item)
            if fdef.many:
                out[fdef.name] = items
            elif items:
                out[fdef.name] = items[0]
        return out

    return {"fullName": component.full_name, **convert(component.type, component.fields)}


def types_members(components: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """``{type: sorted fullNames}`` for a manifest, types in name order."""
    grouped: dict[str, set[str]] = {}
    for type_name, full_name in components:
        grouped.setdefault(type_name, set()).add(full_name)
    return {t: sorted(grouped[t]) for t in sorted(grouped)}
