"""OAuth token exchanges with a Salesforce org, done by the tool itself.

simple-salesforce's login helpers hard-wire ``https://{domain}.salesforce.com``; doing the
exchange here lets the token URL be a My Domain, the test host or the embedded sandbox, and lets
every refusal become a precise :class:`~provisioner.errors.AuthError` (see
:mod:`.token_errors`). Three ways in:

- :func:`jwt_bearer_token`: an RS256 assertion signed with pyjwt (``exp`` = now + 180 s, a number);
- :func:`refresh_token_grant`: the refresh token inside an sfdx auth URL
  (:func:`parse_sfdx_auth_url`);
- :func:`session_from_access_token`: a token obtained elsewhere, used as given.

Secrets (key, assertion, client secret, refresh and access tokens) stay inside
:class:`~provisioner.secret.Secret` values and never reach a message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import requests
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from provisioner.errors import AuthError, RemoteError
from provisioner.httppolicy import PolicySession, is_redirect, redirect_error
from provisioner.keys import KeyMaterialError, load_private_key
from provisioner.salesforce.token_errors import (
    TokenRejected,
    TokenRequest,
    clip,
    rejection,
    unavailable,
)
from provisioner.salesforce.urls import normalise_base_url
from provisioner.secret import Secret

GRANT_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce accepts an assertion whose ``exp`` is at most 3 minutes ahead.
JWT_LIFETIME_SECONDS = 180
TOKEN_PATH = "/services/oauth2/token"
#: The client id the Salesforce CLI uses when an auth URL names none.
SFDX_DEFAULT_CLIENT_ID = "PlatformCLI"

Verify = str | bool


@dataclass(frozen=True)
class UserIdentity:
    """Who the session belongs to, from the token response's ``id`` URL."""

    id_url: str
    org_id: str | None = None
    user_id: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class OrgSession:
    """A signed-in session: where the org lives and the (secret) access token."""

    instance_url: str
    access_token: Secret
    issued_at: datetime
    user: UserIdentity | None = None
    scope: tuple[str, ...] = ()
    token_url: str | None = None
    flow: str = "access token"


@dataclass(frozen=True)
class SfdxAuthUrl:
    """The parts of ``force://<clientId>:<clientSecret>:<refreshToken>@<instance>``."""

    client_id: str
    client_secret: Secret = field(repr=False)
    refresh_token: Secret = field(repr=False)
    instance_url: str


def load_rsa_key(private_key: Secret, *, what: str) -> rsa.RSAPrivateKey:
    """The RSA private key in ``private_key`` (PEM), with a precise error when it is unusable.

    A PEM bundle may also hold the certificate; when it has expired the key is refused, because
    Salesforce does not enforce certificate expiry for the JWT flow and the tool must.
    """
    try:
        key = load_private_key(private_key, what=f"the private key for {what}")
    except KeyMaterialError as exc:  # the same checks as for generated keys, as an auth failure
        raise AuthError(exc.message, exc.hint) from None
    data = private_key.reveal().encode("utf-8")
    _refuse_expired_certificate(data, key, what=what)
    return key


def _refuse_expired_certificate(data: bytes, key: rsa.RSAPrivateKey, *, what: str) -> None:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        return
    own = key.public_key().public_numbers()
    now = datetime.now(timezone.utc)
    for cert in certs:
        pub = cert.public_key()
        matches = isinstance(pub, rsa.RSAPublicKey) and pub.public_numbers() == own
        if matches and cert.not_valid_after_utc < now:
            raise AuthError(
                f"the key for {what} belongs to a certificate that expired on "
                f"{cert.not_valid_after_utc:%Y-%m-%d}",
                "rotate the key and certificate (provisioner rotate) or replace the key file",
            )


def jwt_assertion(client_id: str, username: str, audience: str, key: rsa.RSAPrivateKey) -> Secret:
    """A signed JWT bearer assertion (RS256, ``exp`` a number 180 s ahead)."""
    import jwt  # pyjwt; imported here to keep the package import light

    claims = {
        "iss": client_id,
        "sub": username,
        "aud": audience,
        "exp": int(time.time()) + JWT_LIFETIME_SECONDS,
    }
    return Secret(jwt.encode(claims, key, algorithm="RS256"))


def jwt_bearer_token(
    token_url: str,
    client_id: str,
    username: str,
    private_key: Secret,
    audience: str,
    *,
    verify: Verify = True,
    timeout: float = 30.0,
    who: str | None = None,
    http: requests.Session | None = None,
) -> OrgSession:
    """Sign in with the JWT bearer flow: POST an assertion to ``{token_url}/services/oauth2/token``.

    ``who`` names the org in messages ("org 'prod'"); ``verify`` is requests' TLS setting (a CA
    bundle path or True, never False in practice). Raises :class:`.TokenRejected` (an AuthError)
    for a refusal, :class:`.TokenEndpointUnavailable` (a RemoteError) for 5xx or network errors.
    """
    base = normalise_base_url(token_url, what="the token URL", hint="check tokenUrl/myDomainUrl")
    req = TokenRequest(
        who=who or f"token endpoint {base}",
        flow="JWT bearer",
        token_url=base,
        client_id=client_id,
        username=username,
        audience=audience,
    )
    key = load_rsa_key(private_key, what=f"{req.who} (consumer key {client_id})")
    assertion = jwt_assertion(client_id, username, audience, key)
    form = {"grant_type": GRANT_JWT_BEARER, "assertion": assertion.reveal()}
    body = post_token_request(req, form, verify=verify, timeout=timeout, http=http)
    return session_from_token_response(req, body, username=username)


def jwt_bearer_token_trying(
    token_url: str,
    client_id: str,
    username: str,
    private_key: Secret,
    audiences: Sequence[str],
    **options: Any,
) -> OrgSession:
    """:func:`jwt_bearer_token` with each audience in turn until one is accepted.

    Which audience a deploy app wants depends on its kind, which the spec does not say: an
    External Client App wants the org's My Domain URL, a Connected App the login host. The
    Salesforce CLI's JWT login tries both the same way. Only a refusal of the audience moves on
    to the next; any other refusal is the answer. When every audience is refused, the error of
    the first one is raised, naming every audience tried.
    """
    if not audiences:
        raise ValueError("no audience to try")
    first: TokenRejected | None = None
    for audience in audiences:
        try:
            return jwt_bearer_token(token_url, client_id, username, private_key, audience,
                                    **options)
        except TokenRejected as exc:
            if not exc.is_audience_refusal:
                raise
            first = first or exc
    assert first is not None
    if len(audiences) == 1:
        raise first
    raise TokenRejected(
        f"{first.message}; tried the audiences {', '.join(audiences)} in turn",
        first.hint or "",
        code=first.code, description=first.description, status=first.status,
    ) from first


def parse_sfdx_auth_url(auth_url: Secret, *, what: str = "the sfdx auth URL") -> SfdxAuthUrl:
    """Split ``force://<clientId>:<clientSecret>:<refreshToken>@<instance>``.

    The client secret may be empty (``force://PlatformCLI::token@host``), and the Salesforce CLI
    also writes the short form ``force://<refreshToken>@<instance>``. The refresh token may contain
    ``:`` characters, so the instance is split off at the last ``@`` and the credentials at the
    first two ``:``. Errors never quote the URL (it holds the refresh token).
    """
    text = auth_url.reveal().strip()
    shape = "force://<clientId>:<clientSecret>:<refreshToken>@<instance host>"
    if not text.startswith("force://"):
        raise AuthError(
            f"{what} does not start with force://",
            f"expected {shape} (from `sf org display --verbose`)",
        )
    rest = text[len("force://") :]
    creds, at, instance = rest.rpartition("@")
    if not at or not creds or not instance:
        raise AuthError(f"{what} has no '@<instance>' part", f"expected {shape}")
    parts = creds.split(":", 2)
    if len(parts) == 1:
        client_id, secret, refresh = SFDX_DEFAULT_CLIENT_ID, "", parts[0]
    elif len(parts) == 3:
        client_id, secret, refresh = parts
    else:
        raise AuthError(
            f"{what} has 2 ':'-separated parts before '@'; expected 3", f"expected {shape}"
        )
    if not client_id:
        raise AuthError(f"{what} has an empty client id", f"expected {shape}")
    if not refresh:
        raise AuthError(f"{what} has an empty refresh token", f"expected {shape}")
    host = instance.strip().rstrip("/")
    if "://" not in host:
        host = "https://" + host
    base = normalise_base_url(host, what=f"the instance in {what}", hint=f"expected {shape}")
    return SfdxAuthUrl(
        client_id=unquote(client_id),
        client_secret=Secret(unquote(secret)),
        refresh_token=Secret(unquote(refresh)),
        instance_url=base,
    )


def refresh_token_grant(
    auth: SfdxAuthUrl,
    *,
    verify: Verify = True,
    timeout: float = 30.0,
    who: str | None = None,
    http: requests.Session | None = None,
    token_url: str | None = None,
) -> OrgSession:
    """Sign in with the refresh token of an sfdx auth URL (``grant_type=refresh_token``).

    The request goes to the auth URL's instance unless ``token_url`` overrides it; the client
    secret is sent only when the URL has one.
    """
    base = normalise_base_url(
        token_url or auth.instance_url, what="the token URL", hint="check the sfdx auth URL"
    )
    req = TokenRequest(
        who=who or f"token endpoint {base}",
        flow="refresh-token (sfdx auth URL)",
        token_url=base,
        client_id=auth.client_id,
    )
    form = {
        "grant_type": "refresh_token",
        "client_id": auth.client_id,
        "refresh_token": auth.refresh_token.reveal(),
    }
    if auth.client_secret:
        form["client_secret"] = auth.client_secret.reveal()
    body = post_token_request(req, form, verify=verify, timeout=timeout, http=http)
    return session_from_token_response(req, body, username=None)


def session_from_access_token(
    access_token: Secret, instance_url: str, *, who: str = "the org"
) -> OrgSession:
    """A session from a token obtained elsewhere (no network call; the first request proves it)."""
    if not access_token.reveal().strip():
        raise AuthError(f"{who}: the access token is empty", "reference a current access token")
    base = normalise_base_url(
        instance_url, what=f"the instance URL of {who}", hint="use the org's https instance URL"
    )
    return OrgSession(
        instance_url=base,
        access_token=Secret(access_token.reveal().strip()),
        issued_at=datetime.now(timezone.utc),
        flow="access token",
    )


def post_token_request(
    req: TokenRequest,
    form: Mapping[str, str],
    *,
    verify: Verify,
    timeout: float,
    http: requests.Session | None,
) -> dict[str, Any]:
    """POST the form to the token endpoint; the decoded JSON of a 200, else a project error."""
    url = req.token_url + TOKEN_PATH
    sender = http or PolicySession()
    try:
        resp = sender.post(
            url,
            data=dict(form),
            headers={"Accept": "application/json"},
            timeout=timeout,
            verify=verify,
            allow_redirects=False,
        )
    except requests.exceptions.SSLError as exc:
        raise RemoteError(
            f"{req.describe()} failed: the TLS certificate of {req.token_url} is not trusted",
            "for a private CA set REQUESTS_CA_BUNDLE to a bundle that includes it; "
            "verification is never turned off",
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise unavailable(req, None, type(exc).__name__) from exc
    if resp.status_code >= 500:
        raise unavailable(req, resp.status_code, "")
    if is_redirect(resp):
        raise redirect_error(resp, f"{req.describe()}: the token endpoint",
                             "use the org's final https URL (My Domain) as tokenUrl/myDomainUrl")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict):
        error = description = ""
        if isinstance(body, dict):
            error = str(body.get("error") or "")
            description = str(body.get("error_description") or "")
        elif resp.status_code == 200:
            raise RemoteError(
                f"{req.describe()} failed: the token endpoint answered 200 without JSON",
                "check that tokenUrl points at a Salesforce org",
            )
        raise rejection(req, resp.status_code, error, description or clip(resp.reason or ""))
    return body


def session_from_token_response(
    req: TokenRequest, body: Mapping[str, Any], *, username: str | None
) -> OrgSession:
    """An :class:`OrgSession` from a successful token response, checked for its required fields."""
    token = body.get("access_token")
    instance = body.get("instance_url")
    if not isinstance(token, str) or not token or not isinstance(instance, str):
        raise RemoteError(
            f"{req.describe()} failed: the response lacks access_token or instance_url",
            "check that tokenUrl points at a Salesforce org",
        )
    base = normalise_base_url(
        instance,
        what=f"the instance URL returned to {req.who}",
        hint="the org returned an unusable instance_url",
    )
    return OrgSession(
        instance_url=base,
        access_token=Secret(token),
        issued_at=_issued_at(body.get("issued_at")),
        user=_identity(body.get("id"), username),
        scope=tuple(str(body.get("scope") or "").split()),
        token_url=req.token_url,
        flow=req.flow,
    )


def _issued_at(value: object) -> datetime:
    # Salesforce sends milliseconds since the epoch as a string.
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(timezone.utc)


def _identity(id_url: object, username: str | None) -> UserIdentity | None:
    if not isinstance(id_url, str) or not id_url:
        return None
    # https://login.salesforce.com/id/<orgId>/<userId>
    tail = id_url.rstrip("/").split("/id/", 1)[-1].split("/")
    org_id, user_id = (tail[0], tail[1]) if len(tail) == 2 else (None, None)
    return UserIdentity(id_url=id_url, org_id=org_id, user_id=user_id, username=username)
