"""Test helpers over the Metadata API WSDL bundled with simple-salesforce (the authority).

Only tests parse the WSDL: the runtime uses the static tables in provisioner.metadata.types.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import simple_salesforce
from lxml import etree

from provisioner.metadata.types import METADATA_NS, TYPES

XSD = "http://www.w3.org/2001/XMLSchema"
NS = {"xsd": XSD}
WSDL_PATH = Path(simple_salesforce.__file__).parent / "metadata.wsdl"


@functools.lru_cache(maxsize=1)
def wsdl_schema_element() -> etree._Element:
    """The ``<xsd:schema>`` of the Metadata namespace inside the WSDL's ``<types>``."""
    tree = etree.parse(str(WSDL_PATH))
    (schema,) = tree.xpath(f'//xsd:schema[@targetNamespace="{METADATA_NS}"]', namespaces=NS)
    return schema


@functools.lru_cache(maxsize=1)
def component_schema() -> etree.XMLSchema:
    """An XMLSchema that accepts each supported type as a document root element.

    The WSDL declares the types but no root elements for them (they travel inside SOAP
    bodies), so the copy gets ``<xsd:element name="T" type="tns:T"/>`` for each of ours.
    """
    schema = copy.deepcopy(wsdl_schema_element())
    # The copied schema keeps only namespaces it declares itself; make the tns prefix explicit.
    root = etree.Element(f"{{{XSD}}}schema", nsmap={"xsd": XSD, "tns": METADATA_NS})
    for key, value in schema.attrib.items():
        root.set(key, value)
    for child in schema:
        root.append(child)
    for type_name in TYPES:
        decl = etree.SubElement(root, f"{{{XSD}}}element")
        decl.set("name", type_name)
        decl.set("type", f"tns:{type_name}")
    return etree.XMLSchema(root)


def validate(xml: bytes) -> None:
    """Raise AssertionError with the schema's messages when ``xml`` does not validate."""
    schema = component_schema()
    doc = etree.fromstring(xml)
    if not schema.validate(doc):
        raise AssertionError("\n".join(str(e) for e in schema.error_log))


def complex_type(name: str) -> etree._Element:
    """The ``xsd:complexType`` named ``name``."""
    (ct,) = wsdl_schema_element().xpath(f'xsd:complexType[@name="{name}"]', namespaces=NS)
    return ct


def wsdl_fields(name: str) -> list[tuple[str, str, bool, str | None]]:
    """``(element, kind, repeated, nested type)`` of a complex type, inherited ones first."""
    ct = complex_type(name)
    out: list[tuple[str, str, bool, str | None]] = []
    for base in ct.xpath(".//xsd:extension/@base", namespaces=NS):
        out.extend(wsdl_fields(base.split(":")[1]))
    for el in ct.xpath(".//xsd:sequence/xsd:element", namespaces=NS):
        xsd_type = el.get("type")
        prefix, _, local = xsd_type.partition(":")
        nested = None
        if prefix == "xsd":
            kind = {"boolean": "bool", "int": "int"}.get(local, "str")
        elif wsdl_schema_element().xpath(f'xsd:simpleType[@name="{local}"]', namespaces=NS):
            kind = "str"  # enumerations are strings
        else:
            kind, nested = "nested", local
        out.append((el.get("name"), kind, el.get("maxOccurs") == "unbounded", nested))
    return out


def enumeration(name: str) -> list[str]:
    """The values of an ``xsd:simpleType`` enumeration."""
    (st,) = wsdl_schema_element().xpath(f'xsd:simpleType[@name="{name}"]', namespaces=NS)
    return [e.get("value") for e in st.xpath(".//xsd:enumeration", namespaces=NS)]
