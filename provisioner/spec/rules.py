"""Salesforce naming and URL rules the JSON Schema cannot express on its own."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from provisioner.appkinds import app_kind

# Developer-name rules as Salesforce documents them for the DeveloperName of
# ExternalClientApplication (Object Reference, "ExternalClientApplication": begins with a letter,
# only underscores and alphanumerics, no trailing underscore, no two consecutive underscores);
# Connected App names follow the same character rules. Each app kind knows its length limit.
_API_NAME_CHARS = re.compile(r"^[A-Za-z0-9_]+$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1"})


def default_api_name(metadata_name: str) -> str:
    """The API name used when a spec gives none: ``metadata.name`` with ``-`` turned into ``_``."""
    return metadata_name.replace("-", "_")


def api_name_problems(name: str, app_type: str) -> list[str]:
    """Why ``name`` is not a valid API name for this app type (empty when it is)."""
    out: list[str] = []
    if not name:
        return ["is empty"]
    if not _API_NAME_CHARS.match(name):
        out.append("may contain only letters, digits and underscores")
    if not name[0].isalpha():
        out.append("must start with a letter")
    if "__" in name:
        out.append("must not contain two consecutive underscores")
    if name.endswith("_"):
        out.append("must not end with an underscore")
    limit = app_kind(app_type).api_name_max
    if len(name) > limit:
        out.append(f"is {len(name)} characters long; an {app_type} API name takes at most {limit}")
    return out


def url_problem(url: str, *, loopback_http: bool) -> str | None:
    """Why ``url`` is not acceptable (https; http only for loopback when allowed; no fragment)."""
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    del port
    host = (parts.hostname or "").lower()
    if parts.scheme == "http":
        if not loopback_http:
            return "must use https://"
        if host not in LOOPBACK_HOSTS:
            return "must use https:// (http:// is accepted only for localhost and 127.0.0.1)"
    elif parts.scheme != "https":
        return "must start with https://"
    if not host:
        return "has no host name"
    if parts.username or parts.password:
        return "must not contain a user name or password"
    if parts.fragment or url.endswith("#"):
        return "must not contain a #fragment"
    return None


def format_api_version(value: object) -> str:
    """``"63.0"`` from ``"63.0"``, ``63.0`` or ``63``."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value}.0"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def api_version_number(text: str) -> float | None:
    """The numeric API version, or None when it is not ``NN.0``."""
    return float(text) if re.fullmatch(r"[0-9]{2,3}\.0", text) else None
