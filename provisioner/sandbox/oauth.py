"""The OAuth endpoints: ``/services/oauth2/token`` and ``/services/oauth2/userinfo``.

JWT bearer assertions are verified for real (RS256 against the app's current certificate) and
refused with the exact error bodies Salesforce sends, in HTTP 400 JSON. Propagation is modelled:
a new app answers ``invalid_client_id`` and a changed certificate ``invalid assertion`` until the
configured delay has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509

from . import catalog as c
from .org import Org, token_hash
from .seed import check_password, secret_hash
from .store import Store, oauth_part

Response = tuple[int, dict[str, str], bytes]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: An expired assertion is refused, with this much clock skew tolerated. The guide asks for an
#: ``exp`` within 3 minutes, but the Salesforce CLI sends ``Date.now() + 300`` (milliseconds,
#: so ages ahead; forcedotcom/sfdx-core src/authInfo.ts) and orgs accept it: no upper bound is
#: enforced (docs/salesforce-behaviour.md).
CLOCK_SKEW = 30.0


class OAuthError(Exception):
    """An OAuth failure: becomes ``{"error", "error_description"}`` with HTTP 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def json_response(status: int, body: Any) -> Response:
    """A JSON response with the headers Salesforce sends."""
    return status, {"Content-Type": "application/json;charset=UTF-8",
                    "Cache-Control": "no-cache,must-revalidate,max-age=0,no-store,private"}, \
        json.dumps(body).encode()


def _error(exc: OAuthError) -> Response:
    return json_response(400, {"error": exc.error, "error_description": exc.description})


CLIENT_INVALID = OAuthError("invalid_client_id", "client identifier invalid")
BAD_ASSERTION = OAuthError("invalid_grant", "invalid assertion")
NOT_APPROVED = OAuthError("invalid_grant", "user hasn't approved this consumer")
#: What orgs answer an External Client App login with the wrong audience, for an app that is
#: not admin-approved, and for a while after a new app is deployed (reported from live orgs;
#: docs/salesforce-behaviour.md).
# sandbox-rule: eca-app-not-found (docs/salesforce-behaviour.md)
APP_NOT_FOUND = OAuthError("app_not_found", "External client app is not installed in this org")


@dataclass
class Client:
    """An OAuth client (Connected App or External Client App) resolved from a consumer key."""

    name: str
    type: str
    holder: dict[str, Any]
    scopes: list[str]
    admin_approved: bool
    profiles: list[str]
    permission_sets: list[str]


def resolve_client(org: Org, consumer_key: str, *, check_propagation: bool = True) -> Client:
    """Find the app for a consumer key, as the token endpoint sees it right now."""
    store = Store(org.data, org.clock, 0.0)
    owner = store.consumer_key_owner(consumer_key) if consumer_key else None
    if owner is None:
        raise CLIENT_INVALID
    type_name, name = owner
    holder = store.records(type_name)[name]
    if check_propagation and org.clock() < float(holder["usableAt"]):
        # What Salesforce says while a new app propagates.
        raise APP_NOT_FOUND if type_name == c.ECA_GLOBAL else CLIENT_INVALID
    md = holder["metadata"]
    if type_name == c.CONNECTED_APP:
        oauth = md.get("oauthConfig") or {}
        return Client(name, type_name, holder, list(oauth.get("scopes") or []),
                      bool(oauth.get("isAdminApproved")), list(md.get("profileName") or []),
                      list(md.get("permissionSetName") or []))
    eca = str(md.get("externalClientApplication"))
    settings_name = store.child_of(c.ECA_OAUTH, eca)
    if settings_name is None or not store.eca_exists(eca):
        raise CLIENT_INVALID
    plugin_name = store.child_of(c.ECA_POLICIES, eca)
    if plugin_name is not None:
        plugin = store.records(c.ECA_POLICIES)[plugin_name]["metadata"]
        # sandbox-rule: eca-plugin-disabled (docs/salesforce-behaviour.md)
        if plugin.get("isEnabled") is False or plugin.get("isOauthPluginEnabled") is False:
            raise CLIENT_INVALID
    scopes = c.split_scopes(str(store.records(c.ECA_OAUTH)[settings_name]["metadata"].get(
        "commaSeparatedOauthScopes") or ""))
    pol_name = store.child_of(c.ECA_OAUTH_POLICIES, eca)
    pol = store.records(c.ECA_OAUTH_POLICIES)[pol_name]["metadata"] if pol_name else {}
    return Client(eca, c.ECA, holder, scopes,
                  pol.get("permittedUsersPolicyType") == "AdminApprovedPreAuthorized",
                  c.split_scopes(str(pol.get("commaSeparatedProfile") or "")),
                  c.split_scopes(str(pol.get("commaSeparatedPermissionSet") or "")))


# sandbox-rule: jwt-audience-setting (docs/salesforce-behaviour.md)
def _audiences(org: Org, client: Client) -> set[str]:
    key = "ecaJwtAudience" if client.type == c.ECA else "connectedAppJwtAudience"
    mode = org.setting(key)
    my_domain = org.url.rstrip("/")
    login = org.login_host()
    return {"myDomain": {my_domain}, "loginHost": {login}}.get(mode, {my_domain, login})


# sandbox-rule: preauthorization (docs/salesforce-behaviour.md)
def check_access(client: Client, user: dict[str, Any]) -> None:
    """Pre-authorization: admin-approved apps need the user's profile or a permission set listed."""
    if client.admin_approved:
        if user["profile"] in client.profiles or set(user["permissionSets"]) & set(
                client.permission_sets):
            return
        raise OAuthError("invalid_app_access", "user is not admin approved to access this app")
    if client.name not in user["approvedApps"]:
        raise NOT_APPROVED


# sandbox-rule: jwt-exp-no-upper-bound (docs/salesforce-behaviour.md)
def _exp(claims: dict[str, Any], now: float) -> None:
    raw = claims.get("exp")
    try:
        exp = float(raw) if isinstance(raw, (int, float, str)) and not isinstance(raw, bool) \
            else None
    except ValueError:
        exp = None
    if exp is None:
        raise BAD_ASSERTION
    if exp < now - CLOCK_SKEW:
        raise OAuthError("invalid_grant", "expired authorization code")


def _verify_signature(org: Org, assertion: str, client: Client, now: float) -> None:
    part = oauth_part(client.type if client.type == c.CONNECTED_APP else c.ECA_GLOBAL,
                      client.holder["metadata"]) or {}
    pem = part.get("certificate")
    # sandbox-rule: certificate-hard-cutover (docs/salesforce-behaviour.md)
    if pem and now < float(client.holder["certUsableAt"]):
        # sandbox-rule: certificate-change-propagates (docs/salesforce-behaviour.md)
        propagated = org.setting("certificateCutover") == "propagated"
        pem = client.holder.get("previousCertificate") if propagated else None
    if not pem:
        raise BAD_ASSERTION  # no certificate yet, or the new one has not propagated
    try:
        key = x509.load_pem_x509_certificate(str(pem).strip().encode()).public_key()
        jwt.decode(assertion, key, algorithms=["RS256"],  # type: ignore[arg-type]
                   options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                            "verify_aud": False, "verify_iss": False})
    except (jwt.PyJWTError, ValueError):
        raise BAD_ASSERTION from None


def _jwt_bearer(org: Org, form: dict[str, str]) -> tuple[dict[str, Any], Client]:
    assertion = form.get("assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise BAD_ASSERTION from None
    if header.get("alg") != "RS256":
        raise BAD_ASSERTION
    now = org.clock()
    client = resolve_client(org, str(claims.get("iss") or ""))
    aud = claims.get("aud")
    # One URL, as the guide describes the claim; a list (which RFC 7519 allows) is not known to
    # be accepted, so the model refuses it and clients must send one string.
    # sandbox-rule: jwt-aud-one-string (docs/salesforce-behaviour.md)
    if not isinstance(aud, str) or aud.rstrip("/") not in _audiences(org, client):
        raise APP_NOT_FOUND if client.type == c.ECA else OAuthError(
            "invalid_grant", "audience is invalid")
    _verify_signature(org, assertion, client, now)
    _exp(claims, now)
    user = org.find_user(str(claims.get("sub") or ""))
    if user is None:
        raise NOT_APPROVED
    if not user["active"]:
        raise OAuthError("invalid_grant", "inactive user")
    if client.type == c.ECA and not client.admin_approved:
        raise APP_NOT_FOUND
    check_access(client, user)
    return user, client


def _check_secret(client: Client, secret: str | None, required: bool) -> None:
    if secret is None and not required:
        return
    if not secret or not hmac.compare_digest(secret_hash(secret), client.holder["secretHash"] or ""):
        raise OAuthError("invalid_client", "invalid client credentials")


def _password(org: Org, form: dict[str, str]) -> tuple[dict[str, Any], Client]:
    client = resolve_client(org, form.get("client_id", ""))
    _check_secret(client, form.get("client_secret"), required=True)
    user = org.find_user(form.get("username", ""))
    if user is None or not user["active"] or not check_password(
            form.get("password", ""), user.get("passwordHash")):
        raise OAuthError("invalid_grant", "authentication failure")
    check_access(client, user)
    return user, client


def _refresh(org: Org, form: dict[str, str]) -> tuple[dict[str, Any], Client]:
    grant = org.data["refreshTokens"].get(token_hash(form.get("refresh_token", "")))
    if grant is None:
        raise OAuthError("invalid_grant", "expired access/refresh token")
    client = resolve_client(org, form.get("client_id", ""))
    if grant["consumerKey"] != form.get("client_id"):
        raise OAuthError("invalid_grant", "expired access/refresh token")
    _check_secret(client, form.get("client_secret"), required=False)
    user = next((u for u in org.data["users"] if u["id"] == grant["userId"]), None)
    if user is None or not user["active"]:
        raise OAuthError("invalid_grant", "inactive user")
    return user, client


def token(org: Org, form: dict[str, str]) -> Response:
    """Handle a POST to the token endpoint (form already decoded)."""
    grant = form.get("grant_type", "")
    handlers = {JWT_BEARER: _jwt_bearer, "password": _password, "refresh_token": _refresh}
    if grant not in handlers:
        return _error(OAuthError("unsupported_grant_type", "grant type not supported"))
    try:
        with org.lock:
            user, client = handlers[grant](org, form)
    except OAuthError as exc:
        return _error(exc)
    access = org.new_session(user, client.name, client.scopes)
    issued = str(int(org.clock() * 1000))
    ident = f"{org.url}/id/{org.org_id}/{user['id']}"
    signature = base64.b64encode(hmac.new(
        org.org_id.encode(), (ident + issued).encode(), hashlib.sha256).digest()).decode()
    return json_response(200, {
        "access_token": access, "scope": c.oauth_scope_string(client.scopes),
        "instance_url": org.url, "id": ident, "token_type": "Bearer", "issued_at": issued,
        "signature": signature,
    })


def userinfo(org: Org, authorization: str | None) -> Response:
    """``GET /services/oauth2/userinfo`` with a bearer token (Workflow²'s credential test)."""
    scheme, _, value = (authorization or "").partition(" ")
    found = org.session(value.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        return 403, {"Content-Type": "text/plain"}, b"Bad_OAuth_Token"
    _, user = found
    base = f"{org.url}/id/{org.org_id}/{user['id']}"
    return json_response(200, {
        "sub": base, "user_id": user["id"], "organization_id": org.org_id,
        "preferred_username": user["username"], "nickname": user["name"], "name": user["name"],
        "email": user["email"], "email_verified": True, "active": user["active"],
        "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
        "utcOffset": 0, "urls": {"custom_domain": org.url, "profile": f"{org.url}/{user['id']}"},
    })
