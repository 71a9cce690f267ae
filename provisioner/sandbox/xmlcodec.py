"""Safe XML parsing and the mapping between Metadata API XML and plain dicts.

Metadata is kept as JSON-friendly dicts keyed by WSDL element names (``bool``/``int``/``float``
for typed leaves, lists for repeated elements, dicts for nested complex types). Decoding follows
the WSDL, so an element the WSDL does not allow is rejected with Salesforce's wording.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .wsdl import MD_NS, XSI_NS, schema

#: Largest request body the emulator reads; bigger requests are refused before parsing.
MAX_REQUEST_BYTES = 16 * 1024 * 1024

Metadata = dict[str, Any]


class XmlError(ValueError):
    """The document is not acceptable XML (malformed, has a DTD, or breaks the schema)."""


def safe_parser() -> etree.XMLParser:
    """A parser that never expands entities, loads a DTD or touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes) -> etree._Element:
    """Parse untrusted XML; documents carrying a DOCTYPE are refused outright."""
    if len(data) > MAX_REQUEST_BYTES:
        raise XmlError("document too large")
    try:
        tree = etree.fromstring(data, safe_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        raise XmlError(f"malformed XML: {exc.msg}") from exc
    if tree.docinfo.doctype:
        raise XmlError("DOCTYPE is not allowed")
    return tree.getroot()


def local(tag: object) -> str:
    """The local part of an element tag (clients differ in prefixes and even namespaces)."""
    text = str(tag)
    return text.rpartition("}")[2]


def children(el: etree._Element, name: str) -> list[etree._Element]:
    """Child elements by local name, ignoring namespace."""
    return [c for c in el if isinstance(c.tag, str) and local(c.tag) == name]


def child_text(el: etree._Element, name: str, default: str | None = None) -> str | None:
    """Text of the first child with this local name."""
    found = children(el, name)
    if not found:
        return default
    return (found[0].text or "").strip()


def parse_bool(text: str | None) -> bool:
    """Booleans as clients send them; simple-salesforce even sends Python's ``False``/``None``."""
    return (text or "").strip().lower() in {"true", "1"}


def xsi_type(el: etree._Element) -> str | None:
    """The local name of an element's xsi:type, if it has one."""
    value = el.get(f"{{{XSI_NS}}}type")
    return value.rpartition(":")[2] if value else None


def _leaf(text: str, type_name: str, where: str) -> Any:
    if type_name == "boolean":
        low = text.strip().lower()
        if low not in {"true", "false", "1", "0"}:
            raise XmlError(f"'{text}' is not a valid value for the type xsd:boolean ({where})")
        return low in {"true", "1"}
    if type_name == "int":
        try:
            return int(text.strip())
        except ValueError:
            raise XmlError(f"'{text}' is not a valid value for the type xsd:int ({where})") from None
    if type_name == "double":
        try:
            return float(text.strip())
        except ValueError:
            raise XmlError(f"'{text}' is not a valid value for the type xsd:double ({where})") from None
    return text


def decode(el: etree._Element, type_name: str, depth: int = 0) -> Metadata:
    """Turn an element of a known complex type into a dict, following the WSDL."""
    if depth > 10:
        raise XmlError("metadata nested too deeply")
    sch = schema()
    out: Metadata = {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        name = local(child.tag)
        field = sch.field(type_name, name)
        if field is None:
            raise XmlError(f"Element {{{MD_NS}}}{name} invalid at this location in type {type_name}")
        if not field.builtin and field.type in sch.complex:
            value: Any = decode(child, field.type, depth + 1)
        elif child.get(f"{{{XSI_NS}}}nil") == "true":
            continue
        else:
            value = _leaf(child.text or "", field.type, f"{type_name}.{name}")
        if field.many:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_into(parent: etree._Element, value: Metadata, type_name: str) -> None:
    """Append a dict's fields to ``parent`` as elements, in WSDL order."""
    for field in schema().fields(type_name):
        if field.name not in value or value[field.name] is None:
            continue
        raw = value[field.name]
        items = raw if isinstance(raw, list) else [raw]
        for item in items:
            sub = etree.SubElement(parent, f"{{{MD_NS}}}{field.name}")
            if isinstance(item, dict):
                encode_into(sub, item, field.type)
            else:
                sub.text = _text(item)


def add(parent: etree._Element, name: str, value: Any) -> etree._Element:
    """Append one simple element in the metadata namespace."""
    sub = etree.SubElement(parent, f"{{{MD_NS}}}{name}")
    if value is not None:
        sub.text = _text(value)
    return sub
