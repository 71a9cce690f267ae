"""SOAP envelopes for the Metadata API: parsing requests safely and writing responses and faults.

Faults are HTTP 500 with ``<faultcode>sf:CODE</faultcode>`` and ``CODE: message`` as the fault
string, which is what zeep turns into ``zeep.exceptions.Fault(code='sf:CODE')``.
"""

from __future__ import annotations

from lxml import etree

from .wsdl import MD_NS, SOAP_NS, XSI_NS
from .xmlcodec import XmlError, child_text, children, local, parse

Response = tuple[int, dict[str, str], bytes]
_XML = {"Content-Type": "text/xml;charset=UTF-8"}


class SoapFault(Exception):
    """A fault to answer with. ``code`` is Salesforce's ExceptionCode (e.g. INVALID_SESSION_ID)."""

    def __init__(self, code: str, message: str, *, client_fault: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.client_fault = client_fault


def fault_response(fault: SoapFault) -> Response:
    """HTTP 500 carrying a SOAP fault."""
    root = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soapenv": SOAP_NS, "sf": MD_NS})
    body = etree.SubElement(root, f"{{{SOAP_NS}}}Body")
    el = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    code = etree.SubElement(el, "faultcode")
    if fault.client_fault:
        code.text, text = "soapenv:Client", fault.message
    else:
        code.text, text = f"sf:{fault.code}", f"{fault.code}: {fault.message}"
    etree.SubElement(el, "faultstring").text = text
    return 500, dict(_XML), to_bytes(root)


def read_request(data: bytes) -> tuple[etree._Element | None, etree._Element]:
    """(Header, operation element) of a request envelope."""
    try:
        root = parse(data)
    except XmlError as exc:
        raise SoapFault("INVALID_XML", str(exc), client_fault=True) from exc
    if local(root.tag) != "Envelope":
        raise SoapFault("INVALID_XML", "Envelope expected", client_fault=True)
    header = children(root, "Header")
    body = children(root, "Body")
    ops = [c for c in body[0] if isinstance(c.tag, str)] if body else []
    if len(ops) != 1:
        raise SoapFault("INVALID_XML", "Body must hold exactly one operation", client_fault=True)
    return (header[0] if header else None), ops[0]


def session_id(header: etree._Element | None) -> str:
    """The sessionId of the SessionHeader, or ''."""
    if header is None:
        return ""
    for sh in children(header, "SessionHeader"):
        return child_text(sh, "sessionId", "") or ""
    return ""


def response(operation: str) -> tuple[etree._Element, etree._Element]:
    """A response envelope and its ``<operationResponse>`` element to fill."""
    root = etree.Element(f"{{{SOAP_NS}}}Envelope",
                         nsmap={"soapenv": SOAP_NS, "xsi": XSI_NS, None: MD_NS})
    body = etree.SubElement(root, f"{{{SOAP_NS}}}Body")
    return root, etree.SubElement(body, f"{{{MD_NS}}}{operation}Response")


def to_bytes(root: etree._Element) -> bytes:
    """Serialise with an XML declaration, as Salesforce does."""
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def ok(root: etree._Element) -> Response:
    """HTTP 200 with a response envelope."""
    return 200, dict(_XML), to_bytes(root)
