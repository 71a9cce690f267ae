"""The rule every outbound HTTP call follows about redirects: never follow one.

A redirect answer is the server (or anything in front of it) asking the client to send the same
request elsewhere. ``requests`` follows it, re-sending headers such as ``X-N8N-API-KEY`` (it
drops only ``Authorization`` across hosts) and, for 307/308, the body: a JWT private key in a
credential create, an assertion at a token endpoint, to another host or over plain http. So no
call follows redirects: each passes ``allow_redirects=False`` (or a session with
``max_redirects = 0``) and turns a 3xx answer into :func:`redirect_error`, which names where the
server pointed (so a person can put the final URL in the spec).
"""

from __future__ import annotations

import requests

from provisioner.errors import RemoteError

#: How much of a Location header a message repeats (servers do not get to fill the terminal).
_MAX_LOCATION = 200


def no_redirects(session: requests.Session) -> requests.Session:
    """``session`` made to refuse redirects (for clients that send through it themselves)."""
    session.max_redirects = 0
    return session


def is_redirect(resp: requests.Response) -> bool:
    """Whether the answer asks the client to go elsewhere."""
    return 300 <= resp.status_code < 400


def redirect_error(resp: requests.Response, what: str, fix: str) -> RemoteError:
    """The error for a redirect answer to ``what`` (e.g. "Workflow² instance 'prod' (url)")."""
    where = " ".join(str(resp.headers.get("Location") or "(no Location)").split())
    if len(where) > _MAX_LOCATION:
        where = where[: _MAX_LOCATION - 3] + "..."
    return RemoteError(
        f"{what} answered HTTP {resp.status_code}, a redirect to {where}; provisioner never "
        "follows redirects (they would resend the API key or a secret to wherever they point)",
        fix,
    )


__all__ = ["is_redirect", "no_redirects", "redirect_error"]
