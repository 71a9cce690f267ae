"""The Metadata API schema, read from the WSDL bundled with simple-salesforce.

The emulator takes element names, their order, cardinality and enumerations from the same WSDL the
client uses, so what it accepts and what it answers cannot drift from what zeep expects.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

XSD_NS = "http://www.w3.org/2001/XMLSchema"
MD_NS = "http://soap.sforce.com/2006/04/metadata"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass(frozen=True)
class Field:
    """One element of a complex type, in WSDL order."""

    name: str
    type: str
    builtin: bool
    required: bool
    many: bool


@dataclass(frozen=True)
class Schema:
    """Complex types (with inherited fields flattened in) and enumerations."""

    complex: dict[str, tuple[Field, ...]]
    enums: dict[str, tuple[str, ...]]

    def fields(self, type_name: str) -> tuple[Field, ...]:
        """The fields of a complex type, base type first, or () if unknown."""
        return self.complex.get(type_name, ())

    def field(self, type_name: str, name: str) -> Field | None:
        """One field of a complex type, or None if the type has no such element."""
        for field in self.fields(type_name):
            if field.name == name:
                return field
        return None


def wsdl_path() -> Path:
    """Where the WSDL bundled with simple-salesforce lives."""
    import simple_salesforce

    return Path(simple_salesforce.__file__).parent / "metadata.wsdl"


def _local(qname: str) -> tuple[str, bool]:
    prefix, _, name = qname.rpartition(":")
    return name, prefix == "xsd"


@functools.lru_cache(maxsize=1)
def schema() -> Schema:
    """Parse the bundled WSDL once per process."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.parse(str(wsdl_path()), parser).getroot()
    xs = f"{{{XSD_NS}}}"
    own: dict[str, tuple[str | None, list[Field]]] = {}
    enums: dict[str, tuple[str, ...]] = {}
    for ctype in root.iter(f"{xs}complexType"):
        name = ctype.get("name")
        if not name:
            continue
        ext = ctype.find(f"{xs}complexContent/{xs}extension")
        base = _local(ext.get("base", ""))[0] if ext is not None else None
        seq = (ext if ext is not None else ctype).find(f"{xs}sequence")
        fields = []
        for el in seq.iterfind(f"{xs}element") if seq is not None else []:
            tname, builtin = _local(el.get("type", "xsd:string"))
            fields.append(
                Field(
                    name=el.get("name", ""),
                    type=tname,
                    builtin=builtin,
                    required=el.get("minOccurs", "1") != "0",
                    many=el.get("maxOccurs", "1") == "unbounded",
                )
            )
        own[name] = (base, fields)
    for stype in root.iter(f"{xs}simpleType"):
        name = stype.get("name")
        values = tuple(e.get("value", "") for e in stype.iter(f"{xs}enumeration"))
        if name and values:
            enums[name] = values

    def flatten(name: str, depth: int = 0) -> tuple[Field, ...]:
        base, fields = own[name]
        # Inheritance in this WSDL is shallow; the depth bound guards against a malformed file.
        inherited = flatten(base, depth + 1) if base and base in own and depth < 8 else ()
        return (*inherited, *fields)

    return Schema(complex={n: flatten(n) for n in own}, enums=enums)
