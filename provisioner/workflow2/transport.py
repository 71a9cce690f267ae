"""HTTP transport to a Workflow² instance: URL rules, retries, and vendor-error translation.

Every failure leaves here as :class:`~provisioner.errors.AuthError` or
:class:`~provisioner.errors.RemoteError` naming the instance, the operation and the fix, raised
``from`` the vendor exception. The API key and any secret of the record being written are
scrubbed from server messages before they are quoted.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import requests

from provisioner.errors import AuthError, ProvisionerError, RemoteError
from provisioner.events import Observer, RequestSent, ignore
from provisioner.httppolicy import (
    AnswerTooLarge,
    PolicySession,
    is_redirect,
    redirect_error,
    retry_delay,
)
from provisioner.secret import REDACTED, Secret
from provisioner.textsafety import hide_secret_like
from provisioner.workflow2.urls import normalize_base_url

KEY_SCOPES = (
    "credential:create, credential:read, credential:list, credential:update, credential:delete"
)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


#: Base64 characters, whitespace allowed between them: where a quoted PEM body may sit.
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=](?:\s*[A-Za-z0-9+/=])*")
#: Base64 characters of a key's body that identify it (96 bits).
_WINDOW = 16


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each (non-trivial) secret replaced by ``(sensitive)``: by its exact text,
    a PEM key also by its base64 body wherever a server re-wrapped, flattened or cut it (any
    whitespace between the characters, any part of 16 characters or more); then whatever has
    the shape of a secret (:func:`~provisioner.textsafety.hide_secret_like`)."""
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
            text = _hide_pem_body(text, _body_windows(value))
    return hide_secret_like(text)


def _body_windows(value: str) -> frozenset[str]:
    """Every 16-character part of a PEM's base64 body (none for other secrets)."""
    if "-----BEGIN" not in value:
        return frozenset()
    body = "".join("".join(ln.split()) for ln in value.splitlines() if not ln.startswith("-----"))
    return frozenset(body[i:i + _WINDOW] for i in range(len(body) - _WINDOW + 1))


def _hide_pem_body(text: str, windows: frozenset[str]) -> str:
    if not windows:
        return text
    return _BASE64_RUN.sub(lambda m: _hide_body(m.group(), windows), text)


def _hide_body(run: str, windows: frozenset[str]) -> str:
    """``run`` with the span that spells part of the body (whitespace aside) replaced."""
    at = [i for i, ch in enumerate(run) if not ch.isspace()]
    flat = "".join(run[i] for i in at)
    hits = [k for k in range(len(flat) - _WINDOW + 1) if flat[k:k + _WINDOW] in windows]
    if not hits:
        return run
    start, end = at[hits[0]], at[hits[-1] + _WINDOW - 1] + 1
    return run[:start] + REDACTED + run[end:]


class Transport:
    """Sends requests to one instance with the API key, bounded retries and error mapping."""

    def __init__(
        self,
        base_url: str,
        api_key: Secret,
        *,
        instance_name: str,
        ca_file: str | None = None,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff: float = 1.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observer: Observer = ignore,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.instance_name = instance_name
        self._api_key = api_key
        self._verify: str | bool = ca_file if ca_file else True
        self._timeout = timeout
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._session = session or PolicySession()
        self._sleep = sleep
        self._rand = rand
        self._observer = observer

    @property
    def where(self) -> str:
        """How messages name the instance."""
        return f"Workflow² instance {self.instance_name!r} ({self.base_url})"

    def request(
        self,
        method: str,
        path: str,
        *,
        op: str,
        record: str | None = None,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        accept: Collection[int] = (200,),
        idempotent: bool = True,
        secrets: Iterable[str] = (),
        authenticated: bool = True,
    ) -> requests.Response:
        """Send one request; return the response when its status is in ``accept``.

        ``op`` is a verb phrase for messages ("create", "read the schema of"); ``record`` names
        the credential. Connection failures and 5xx are retried with exponential backoff when
        ``idempotent``; other statuses are translated to project errors at once.
        """
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if authenticated:
            headers["X-N8N-API-KEY"] = self._api_key.reveal()
        hidden = [self._api_key.reveal(), *secrets]
        attempts = self._attempts if idempotent else 1
        last_exc: requests.RequestException | None = None
        resp: requests.Response | None = None
        for attempt in range(attempts):
            if attempt:  # backoff with jitter, or the server's Retry-After (capped)
                self._sleep(retry_delay(attempt, backoff=self._backoff, rand=self._rand,
                                        headers=resp.headers if resp is not None else None))
            name = json.get("name") if isinstance(json, dict) else None
            self._observer(RequestSent(self.where, method.upper(), url,
                                       name if isinstance(name, str) else None))
            try:
                resp = self._session.request(
                    method,
                    url,
                    headers=headers,
                    json=json,
                    params=params,
                    timeout=self._timeout,
                    verify=self._verify,
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise RemoteError(
                    f"{self.where}: TLS verification failed while trying to {op}"
                    + self._subject(record),
                    "give the CA file that signed the server's certificate (ca_file); "
                    "provisioner never turns verification off",
                ) from exc
            except requests.RequestException as exc:
                last_exc, resp = exc, None
                if isinstance(exc, AnswerTooLarge):
                    break  # asking again brings the same flood
                continue
            if is_redirect(resp):
                raise redirect_error(resp, f"{self.where}, asked to {op}{self._subject(record)},",
                                     "set baseUrl to the server's final address (the one it "
                                     "redirects to, if you trust it)")
            if resp.status_code in accept:
                return resp
            if resp.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                continue
            break
        if resp is None:
            assert last_exc is not None
            if isinstance(last_exc, AnswerTooLarge):
                raise RemoteError(
                    f"{self.where} answered more than provisioner reads ({last_exc}) while "
                    f"trying to {op}{self._subject(record)}",
                    "check that baseUrl points at the Workflow² server itself; a server that "
                    "answers this much is not one",
                ) from last_exc
            kind = "timed out" if isinstance(last_exc, requests.Timeout) else "is unreachable"
            raise RemoteError(
                f"{self.where} {kind} while trying to {op}{self._subject(record)}"
                f" ({attempts} attempt{'s' if attempts > 1 else ''})",
                "check that the server is running and the URL is right; rerun when it is up "
                "(records already written are kept and recognised by id)",
            ) from last_exc
        raise self.error_for(resp, op=op, record=record, hidden=hidden, attempts=attempts)

    def json(self, resp: requests.Response, *, op: str, record: str | None = None) -> Any:
        """The decoded body of an accepted answer; a project error naming the operation when
        it is not JSON (a proxy's error page, a different server, garbage)."""
        try:
            return resp.json()
        except ValueError:
            raise RemoteError(
                f"{self.where} answered something that is not JSON (HTTP {resp.status_code}, "
                f"{len(resp.content)} bytes) while trying to {op}{self._subject(record)}",
                "check that baseUrl points at the Workflow² server itself, not a proxy or "
                "login page in front of it",
            ) from None

    @staticmethod
    def _subject(record: str | None) -> str:
        return f" credential {record!r}" if record else ""

    def server_message(self, resp: requests.Response, hidden: Iterable[str]) -> str:
        """The server's own error text (JSON ``message``), scrubbed and shortened."""
        message = ""
        try:
            body = resp.json()
            if isinstance(body, dict):
                message = str(body.get("message") or body.get("error") or "")
        except ValueError:
            ctype = resp.headers.get("Content-Type", "")
            if "html" not in ctype:
                message = resp.text.strip()
        message = scrub(message, hidden)
        return message[:500] if message else f"HTTP {resp.status_code} without a message"

    def error_for(
        self,
        resp: requests.Response,
        *,
        op: str,
        record: str | None,
        hidden: Iterable[str] = (),
        attempts: int = 1,
    ) -> ProvisionerError:
        """The project error for a failed response (secret-free, with a hint)."""
        code = resp.status_code
        subject = f"{op}{self._subject(record)}"
        message = self.server_message(resp, [self._api_key.reveal(), *hidden])
        if code == 401:
            return AuthError(
                f"{self.where} rejected the API key (HTTP 401) while trying to {subject}",
                "check the API key the spec references: it is wrong, expired or revoked; create "
                "one in Workflow² under Settings > n8n API",
            )
        if code == 403:
            return AuthError(
                f"{self.where}: the API key may not {subject} (HTTP 403): {message}",
                f"create a key with the scopes {KEY_SCOPES}",
            )
        if code == 400:
            return RemoteError(
                f"{self.where} refused to {subject} (HTTP 400): {message}",
                "the record does not match the server's schema for this credential type; "
                "fix the field named in the server's message",
            )
        if code == 404:
            return RemoteError(
                f"{self.where}: not found (HTTP 404) while trying to {subject}: {message}",
                "it was deleted or never existed there; run plan to see the drift, then apply "
                "to recreate it",
            )
        if code >= 500:
            return RemoteError(
                f"{self.where} failed (HTTP {code}, {attempts} attempt"
                f"{'s' if attempts > 1 else ''}) while trying to {subject}: {message}",
                "check the server's log; rerun when it is healthy (written records are kept and "
                "recognised by id)",
            )
        return RemoteError(
            f"{self.where} answered HTTP {code} while trying to {subject}: {message}",
            "check the server version and its log",
        )
