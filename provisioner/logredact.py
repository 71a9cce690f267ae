"""Redaction of secrets from the log records of the libraries provisioner drives.

zeep logs every SOAP envelope at DEBUG (``zeep.transports``): the session id in each request's
header, and in a read of an External Client App's global OAuth settings the consumer secret the
org returns. provisioner configures no logging itself, but a program that embeds it, or a user
who turns on DEBUG logging, must not get secrets that way. :func:`install` puts a filter on those
loggers that rewrites a record's message with every secret value replaced.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "(redacted)"

#: XML elements (any namespace prefix) whose text is a secret.
_XML = re.compile(
    r"(<(?:[\w.-]+:)?(?:consumerSecret|sessionId|password|privateKey|clientSecret)"
    r"(?:\s[^>]*)?>)[^<]+(</)")
#: JSON members whose string value is a secret.
_JSON = re.compile(
    r'("(?:access_token|refresh_token|client_secret|clientSecret|consumerSecret|privateKey|'
    r'password|assertion|sessionId)"\s*:\s*")(?:[^"\\]|\\.)*(")')
#: Form fields whose value is a secret (token requests).
_FORM = re.compile(r"((?:^|[?&\s])(?:assertion|client_secret|refresh_token|password|code)=)[^&\s]+")
#: Authorization headers.
_BEARER = re.compile(r"((?:Bearer|OAuth)\s+)[A-Za-z0-9!._~+/=-]+")

#: The loggers whose records may carry request or response bodies.
LOGGERS = ("zeep.transports", "zeep", "simple_salesforce", "urllib3.connectionpool", "requests")


def redact(text: str) -> str:
    """``text`` with every secret value this module knows the shape of replaced."""
    text = _XML.sub(rf"\1{REDACTED}\2", text)
    text = _JSON.sub(rf"\1{REDACTED}\2", text)
    text = _FORM.sub(rf"\1{REDACTED}", text)
    return _BEARER.sub(rf"\1{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with its secrets replaced (the record is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: leave it to logging's own handling
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()
_LOCK = threading.Lock()


def install() -> None:
    """Put the filter on every logger in :data:`LOGGERS` (once; safe from any thread)."""
    with _LOCK:
        for name in LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
