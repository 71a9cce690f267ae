"""Prove a newly deployed key works: a real JWT bearer exchange, retried through propagation.

Salesforce applies a new app or a changed certificate to its token endpoint only after a delay
(commonly 2-10 minutes). During that window it answers ``invalid_client_id`` (new app) or
``invalid_grant``/``invalid assertion`` (certificate just changed): those, 5xx answers and dropped
connections are retried with backoff (about 1 s doubling to 15 s) until the caller's timeout.
Anything else (bad audience, user not pre-authorized, no access) will not fix itself and fails at
once. A token alone is not the proof: ``/services/oauth2/userinfo`` is then called with it, which
is also what Workflow²'s own credential test does. Where apply, verification and the Workflow²
record send the request and with which audience is decided in :mod:`.endpoints`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from provisioner.errors import AuthError, RemoteError, VerificationError
from provisioner.httppolicy import PolicySession, is_redirect, redirect_error
from provisioner.salesforce.auth import OrgSession, Verify, jwt_bearer_token
from provisioner.salesforce.endpoints import token_audience, token_url
from provisioner.salesforce.token_errors import TokenEndpointUnavailable, TokenRejected, clip
from provisioner.secret import Secret

__all__ = [
    "VerifiedLogin",
    "VerifyWait",
    "token_audience",
    "token_url",
    "verify_jwt_login",
]

INITIAL_DELAY = 1.0
MAX_DELAY = 15.0


@dataclass(frozen=True)
class VerifiedLogin:
    """A JWT login that worked, as ``userinfo`` confirmed it (no token kept)."""

    instance_url: str
    username: str
    user_id: str | None
    org_id: str | None
    attempts: int
    waited_seconds: float
    token_url: str
    audience: str


@dataclass(frozen=True)
class VerifyWait:
    """Reported before each wait: which attempt failed, why, and how long until the next."""

    attempt: int
    cause: str
    delay: float
    elapsed: float


class _NotYet(Exception):
    """A failure that may clear once Salesforce propagates the change."""

    def __init__(self, error: AuthError | RemoteError):
        super().__init__(error.message)
        self.error = error


def _retryable(exc: TokenRejected) -> bool:
    return exc.is_unknown_client or exc.is_bad_assertion


def _userinfo(
    session: OrgSession, *, verify: Verify, timeout: float, who: str,
    http: requests.Session | None = None,
) -> dict[str, object]:
    url = session.instance_url + "/services/oauth2/userinfo"
    headers = {
        "Authorization": "Bearer " + session.access_token.reveal(),
        "Accept": "application/json",
    }
    try:
        resp = (http or PolicySession()).get(url, headers=headers, timeout=timeout,
                                             verify=verify, allow_redirects=False)
    except requests.exceptions.SSLError as exc:
        raise VerificationError(
            f"{who}: userinfo at {session.instance_url} failed: TLS certificate not trusted",
            "set REQUESTS_CA_BUNDLE to a bundle that includes the org's CA",
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise _NotYet(
            RemoteError(
                f"{who}: userinfo at {session.instance_url} failed ({type(exc).__name__})", ""
            )
        ) from exc
    if resp.status_code >= 500:
        raise _NotYet(RemoteError(f"{who}: userinfo answered HTTP {resp.status_code}", ""))
    if is_redirect(resp):
        raise VerificationError(redirect_error(resp, f"{who}: userinfo at "
                                               f"{session.instance_url}", "").message,
                                "the org's instance URL must be its final https address")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict):
        raise VerificationError(
            f"{who}: a token was issued but userinfo refused it (HTTP {resp.status_code}: "
            f"{clip(resp.text)})",
            "the app needs the openid or api scope for userinfo; check the app's OAuth scopes",
        )
    return body


def verify_jwt_login(
    *,
    token_url: str,
    audience: str,
    client_id: str,
    username: str,
    private_key: Secret,
    verify_tls: Verify,
    timeout: float,
    on_wait: Callable[[VerifyWait], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    who: str | None = None,
    request_timeout: float = 30.0,
    initial_delay: float = INITIAL_DELAY,
    max_delay: float = MAX_DELAY,
    http: requests.Session | None = None,
) -> VerifiedLogin:
    """Exchange a JWT for a token as ``username`` and prove it with userinfo, within ``timeout`` s.

    ``http``: a session to send both requests through (a run shares one per org, so logins reuse
    its connections instead of a TLS handshake each); by default a new one per request.

    Raises :class:`~provisioner.errors.VerificationError` with the last precise cause and its
    hint when the login does not work in time, or at once when the refusal cannot be a
    propagation delay. ``who`` names the app in messages ("app 'billing' in org 'prod'").
    """
    label = who or f"the app with consumer key {client_id}"
    start = clock()
    delay = initial_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            session = jwt_bearer_token(
                token_url,
                client_id,
                username,
                private_key,
                audience,
                verify=verify_tls,
                timeout=request_timeout,
                who=label,
                http=http,
            )
            info = _userinfo(session, verify=verify_tls, timeout=request_timeout, who=label,
                             http=http)
            user = session.user
            return VerifiedLogin(
                instance_url=session.instance_url,
                username=str(info.get("preferred_username") or username),
                user_id=_str(info.get("user_id")) or (user.user_id if user else None),
                org_id=_str(info.get("organization_id")) or (user.org_id if user else None),
                attempts=attempt,
                waited_seconds=max(0.0, clock() - start),
                token_url=token_url,
                audience=audience,
            )
        except TokenRejected as exc:
            if not _retryable(exc):
                raise VerificationError(
                    f"JWT login verification failed: {exc.message}", exc.hint
                ) from exc
            last: AuthError | RemoteError = exc
        except TokenEndpointUnavailable as exc:
            last = exc
        except _NotYet as exc:
            last = exc.error
        except AuthError as exc:  # the key itself is unusable: no wait will help
            raise VerificationError(
                f"JWT login verification failed: {exc.message}", exc.hint
            ) from exc
        except RemoteError as exc:
            raise VerificationError(
                f"JWT login verification failed: {exc.message}", exc.hint
            ) from exc
        elapsed = clock() - start
        remaining = timeout - elapsed
        if remaining <= 0:
            raise VerificationError(
                f"JWT login verification for {label} did not succeed within {timeout:g} s "
                f"({attempt} attempts); last answer: {last.message}",
                (last.hint + "; " if last.hint else "")
                + "if the change is recent Salesforce may still be propagating it (2-10 minutes "
                "is common): allow more time with --verify-timeout",
            )
        wait = min(delay, remaining)
        if on_wait is not None:
            on_wait(VerifyWait(attempt=attempt, cause=last.message, delay=wait, elapsed=elapsed))
        sleep(wait)
        delay = min(max_delay, delay * 2)


def _str(value: object) -> str | None:
    return str(value) if value else None
