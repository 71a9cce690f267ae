"""The one policy every outbound HTTP call follows (Salesforce and Workflow² alike).

- **Redirects are never followed** (below).
- **Bounded answers**: :class:`PolicySession` reads every body itself, within a total deadline
  per request (connect, each read, and the whole body: a server that drips bytes cannot hold a
  run) and up to a size cap (a server that answers gigabytes cannot exhaust memory). Either
  limit ends the request with :class:`AnswerRefused`, a ``requests`` exception, so every
  caller's existing handling (retry a transient failure, name the operation) applies.
- **Retries** (:func:`retry_delay`): bounded attempts, exponential backoff with jitter, and a
  server's ``Retry-After`` honoured up to a cap.

A redirect answer is the server (or anything in front of it) asking the client to send the same
request elsewhere. ``requests`` follows it, re-sending headers such as ``X-N8N-API-KEY`` (it
drops only ``Authorization`` across hosts) and, for 307/308, the body: a JWT private key in a
credential create, an assertion at a token endpoint, to another host or over plain http. So no
call follows redirects: each passes ``allow_redirects=False`` (or a session with
``max_redirects = 0``) and turns a 3xx answer into :func:`redirect_error`, which names where the
server pointed (so a person can put the final URL in the spec).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

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


@dataclass(frozen=True)
class Limits:
    """How long and how much any one request may take."""

    connect_timeout: float = 15.0
    #: Longest wait for any single read from the socket.
    read_timeout: float = 120.0
    #: Longest a whole request may take, body included.
    total_deadline: float = 300.0
    #: Largest body accepted (Metadata API answers for hundreds of apps stay far below).
    max_body: int = 64 * 1024 * 1024


DEFAULT_LIMITS = Limits()


class AnswerRefused(requests.exceptions.RequestException):
    """An answer that broke the policy: too large, or too slow as a whole."""


class AnswerTooLarge(AnswerRefused):
    """The body went past :attr:`Limits.max_body`."""


class AnswerTooSlow(AnswerRefused, requests.exceptions.Timeout):
    """The whole request went past :attr:`Limits.total_deadline`."""


class PolicySession(requests.Session):
    """A ``requests`` session that never follows a redirect and reads every body within the
    :class:`Limits` (``clock`` is injectable so tests need no wall time)."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        # Every request goes out with allow_redirects=False (not max_redirects=0: requests
        # computes Response.next even then, and would raise instead of returning the 3xx).
        self.limits = limits
        self._clock = clock

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        limits = self.limits
        kwargs["allow_redirects"] = False
        given = kwargs.get("timeout")
        if isinstance(given, (int, float)):
            kwargs["timeout"] = (min(limits.connect_timeout, float(given)),
                                 min(limits.read_timeout, float(given)))
        elif given is None:
            kwargs["timeout"] = (limits.connect_timeout, limits.read_timeout)
        kwargs["stream"] = True
        if kwargs.get("verify") is None:
            # The session's own trust (a CA pinned to one connection) must win: requests lets
            # REQUESTS_CA_BUNDLE override a session's verify unless the request names it.
            kwargs["verify"] = self.verify
        deadline = self._clock() + limits.total_deadline
        resp = super().request(method, url, *args, **kwargs)
        body = bytearray()
        try:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_body:
                raise AnswerTooLarge(f"the answer declares {int(declared)} bytes, more than "
                                     f"the {limits.max_body} accepted")
            for chunk in resp.iter_content(64 * 1024):
                body += chunk
                if len(body) > limits.max_body:
                    raise AnswerTooLarge(f"the answer is larger than the {limits.max_body} "
                                         "bytes accepted")
                if self._clock() > deadline:
                    raise AnswerTooSlow(f"the answer took longer than "
                                        f"{limits.total_deadline:.0f} s")
        finally:
            resp.close()
        resp._content = bytes(body)  # what .content/.json() read from now on
        resp._content_consumed = True  # type: ignore[attr-defined]
        return resp


def retry_delay(attempt: int, *, backoff: float = 1.0, cap: float = 30.0,
                headers: Mapping[str, str] | None = None,
                rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): the server's ``Retry-After`` when
    it gives one (capped), else exponential backoff with full jitter."""
    raw = (headers or {}).get("Retry-After")
    if raw:
        try:
            return max(0.0, min(cap, float(raw)))
        except ValueError:
            try:
                when = float(parsedate_to_datetime(raw).timestamp())
                return max(0.0, min(cap, when - time.time()))
            except (TypeError, ValueError):
                pass
    delay: float = min(cap, backoff * (2 ** (attempt - 1))) * (0.5 + rand() / 2)
    return delay


__all__ = [
    "DEFAULT_LIMITS", "AnswerRefused", "AnswerTooLarge", "AnswerTooSlow", "Limits",
    "PolicySession", "is_redirect", "no_redirects", "redirect_error", "retry_delay",
]
