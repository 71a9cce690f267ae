"""The OAuth2 callback URL of a Workflow² instance (the app's redirect URI for the OAuth record).

n8n serves it at ``{base}/rest/oauth2-credential/callback``, where ``base`` is its editor URL
(``N8N_EDITOR_BASE_URL``, else ``WEBHOOK_URL``, else protocol://host:port + path). The server
publishes the exact value in ``GET /rest/settings`` as ``oauthCallbackUrls.oauth2``; that wins
when reachable, since the public URL a server advertises can differ from the one we call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import requests

from provisioner.httppolicy import PolicySession
from provisioner.workflow2.urls import OAUTH2_CALLBACK_PATH, normalize_base_url


@dataclass(frozen=True)
class ResolvedCallbackUrl:
    """A resolved callback URL and where it came from (for the plan to show)."""

    url: str
    source: Literal["server", "derived"]
    """``server``: read from the instance's settings; ``derived``: computed from the base URL."""


def resolve_callback_url(
    base_url: str,
    *,
    ca_file: str | None = None,
    timeout: float = 10.0,
    session: requests.Session | None = None,
) -> ResolvedCallbackUrl:
    """The callback URL from the server's settings when reachable, else the derived one.

    Never raises for an unreachable or unexpected server: the derived URL is always valid.
    """
    base = normalize_base_url(base_url)
    derived = ResolvedCallbackUrl(base + OAUTH2_CALLBACK_PATH, "derived")
    http = session or PolicySession()
    try:
        resp = http.get(
            base + "/rest/settings",
            timeout=timeout,
            verify=ca_file if ca_file else True,
            headers={"Accept": "application/json"},
            allow_redirects=False,  # a redirect is not the server's answer: use the derived URL
        )
        body = resp.json() if resp.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return derived
    settings = body.get("data", body) if isinstance(body, dict) else None
    urls = settings.get("oauthCallbackUrls") if isinstance(settings, dict) else None
    url = urls.get("oauth2") if isinstance(urls, dict) else None
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return ResolvedCallbackUrl(url, "server")
    return derived
