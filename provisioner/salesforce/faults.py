"""Classify what simple-salesforce, zeep and requests raise, so a call knows whether to retry.

Salesforce reports Metadata API failures as SOAP faults (HTTP 500,
``<faultcode>sf:CODE</faultcode><faultstring>CODE: message</faultstring>``). zeep raises them as
``zeep.exceptions.Fault``; simple-salesforce's own SOAP helpers (deploy, checkDeployStatus) raise
``SalesforceError`` subclasses holding the raw body; per-item CRUD failures come back as a bare
``Exception`` listing ``(STATUS_CODE, message)``. :func:`classify` reduces them all to a
:class:`Failure` with a kind the retry loop understands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import requests

from provisioner.salesforce.token_errors import clip

Kind = Literal["session", "throttle", "transient", "tls", "fatal", "item"]

_FAULTCODE = re.compile(
    r"<(?:\w+:)?faultcode>\s*(?:[\w.-]+:)?([\w.]+)\s*</(?:\w+:)?faultcode>", re.S
)
_FAULTSTRING = re.compile(r"<(?:\w+:)?faultstring>(.*?)</(?:\w+:)?faultstring>", re.S)
_ITEM = re.compile(r"\(([A-Z_]+), ")

_GENERIC_CODES = {"Server", "Client", "Receiver", "Sender"}
SESSION_CODES = {"INVALID_SESSION_ID"}
THROTTLE_CODES = {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"}


@dataclass(frozen=True)
class Failure:
    """A vendor exception reduced to what matters: kind, Salesforce code, HTTP status, text."""

    kind: Kind
    code: str | None
    detail: str
    status: int | None = None


def _from_soap_body(body: str, status: int | None) -> Failure:
    code_match = _FAULTCODE.search(body)
    text_match = _FAULTSTRING.search(body)
    code = code_match.group(1) if code_match else None
    text = clip(text_match.group(1)) if text_match else clip(body) if body else ""
    return _by_code(code, text, status)


def _by_code(code: str | None, text: str, status: int | None) -> Failure:
    if code in _GENERIC_CODES:
        code = None  # SOAP's own Server/Client codes say nothing about the cause
    if code is None and text:
        head = text.split(":", 1)[0].strip()
        if head.isupper() and "_" in head:
            code = head
    if code in SESSION_CODES:
        return Failure("session", code, text, status)
    if code in THROTTLE_CODES:
        return Failure("throttle", code, text, status)
    if code is None and status is not None and status >= 500:
        return Failure("transient", None, text or f"HTTP {status}", status)
    if status == 401:
        return Failure("session", code or "INVALID_SESSION_ID", text, status)
    return Failure("fatal", code, text, status)


def classify(exc: BaseException) -> Failure | None:
    """The failure ``exc`` stands for, or None when it is not a remote failure (a bug: re-raise)."""
    from simple_salesforce.exceptions import SalesforceError
    from zeep import exceptions as zx

    if isinstance(exc, requests.exceptions.SSLError):
        return Failure("tls", None, "TLS certificate verification failed")
    if isinstance(
        exc,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ),
    ):
        return Failure("transient", None, f"connection failed ({type(exc).__name__})")
    if isinstance(exc, zx.Fault):
        code = str(exc.code or "").rsplit(":", 1)[-1] or None
        return _by_code(code, clip(str(exc.message or "")), 500)
    if isinstance(exc, zx.TransportError):
        content = exc.content
        body = (
            content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content or "")
        )
        return _from_soap_body(body, int(exc.status_code or 0) or None)
    if isinstance(exc, zx.Error):
        return Failure(
            "fatal", None, f"unexpected SOAP response ({type(exc).__name__}: {clip(str(exc))})"
        )
    if isinstance(exc, SalesforceError):
        content = exc.content
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        return _from_soap_body(str(content or ""), int(exc.status or 0) or None)
    if type(exc) is Exception:
        # simple-salesforce's MetadataType raises a bare Exception for per-item failures
        # ("\nName: (STATUS_CODE, message), ") and when a result node is missing.
        text = clip(str(exc))
        codes = _ITEM.findall(str(exc))
        return Failure("item", codes[0] if codes else None, text)
    return None
