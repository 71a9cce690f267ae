"""URL checks shared by the adapter: https everywhere, plain http only for loopback."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from provisioner.errors import AuthError

_LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal) is the local machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str, *, what: str, hint: str) -> str:
    """``url`` without a trailing slash, checked to be https (http only on loopback).

    ``what`` names the URL in the error ("the instance URL of org 'prod'"); ``hint`` says where
    it came from so the user knows what to edit.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AuthError(f"{what} {text!r} is not an http(s) URL", hint)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise AuthError(
            f"{what} {text!r} uses plain http",
            "use https; plain http is accepted only for 127.0.0.1/localhost",
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AuthError(f"{what} must be a bare base URL (no query, fragment or user info)", hint)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, for messages."""
    return urlsplit(url).netloc or url
