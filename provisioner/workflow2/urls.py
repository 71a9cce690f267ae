"""Workflow² URLs: the one rule for an instance's base URL and its OAuth callback URL.

Light on purpose (no HTTP client): the desired model, validate and render use it as the REST
client does, so every place agrees on the callback URL (``baseUrl: https://host/api/v1`` means the
server at ``https://host``: its callback is ``https://host/rest/oauth2-credential/callback``).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from provisioner.errors import ProvisionerError

#: n8n serves the OAuth2 redirect here, under its editor base URL.
OAUTH2_CALLBACK_PATH = "/rest/oauth2-credential/callback"
#: Where n8n's public REST API lives under the base URL.
API_PATH = "/api/v1"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """The instance's base URL without a trailing slash or ``/api/v1``; https unless loopback.

    Raises :class:`ProvisionerError` for other schemes, a missing host, or plain http to a host
    that is not loopback (credentials would cross the network in clear text).
    """
    text = server_root(url)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProvisionerError(
            f"Workflow² URL {url!r} is not an http(s) URL with a host",
            "give the instance's base URL, e.g. https://workflows.example.com",
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ProvisionerError(
            f"Workflow² URL {url!r} uses plain http to a host that is not loopback",
            "use https (TLS is always verified); plain http is accepted only for 127.0.0.1",
        )
    return text




def server_root(url: str) -> str:
    """The server's root URL as written: no trailing slash, no ``/api/v1`` (not validated)."""
    text = url.strip().rstrip("/")
    if text.endswith(API_PATH):
        text = text[: -len(API_PATH)].rstrip("/")
    return text


def derive_callback_url(base_url: str) -> str:
    """``{root}/rest/oauth2-credential/callback`` for the instance's base URL (offline)."""
    return server_root(base_url) + OAUTH2_CALLBACK_PATH
