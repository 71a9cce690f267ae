"""Salesforce's token-endpoint answers, turned into errors that say what to fix.

Salesforce answers a refused token request with HTTP 400 and a JSON body
``{"error": CODE, "error_description": TEXT}``. The same code covers several causes
(``invalid_grant`` means "not pre-authorized", "bad audience", "bad signature" or "expired refresh
token" depending on the text), so the mapping keys on both. Each refusal becomes a
:class:`TokenRejected` (an :class:`~provisioner.errors.AuthError`) keeping the code and text for
callers that retry some of them (the verifier); 5xx answers and dropped connections become a
:class:`TokenEndpointUnavailable` (a :class:`~provisioner.errors.RemoteError`).
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.errors import AuthError, RemoteError
from provisioner.model import LOGIN_HOSTS

#: Longest server text copied into a message; bodies are not trusted to be short.
_MAX_TEXT = 300


@dataclass(frozen=True)
class TokenRequest:
    """What was sent, for messages: never the assertion, key, secret or token."""

    who: str  # "org 'prod'" or "the token endpoint https://..."
    flow: str  # "JWT bearer", "refresh token (sfdx auth URL)"
    token_url: str
    client_id: str | None = None
    username: str | None = None
    audience: str | None = None

    def describe(self) -> str:
        """One line naming the flow, the user and where the request went."""
        as_user = f" as {self.username}" if self.username else ""
        return f"{self.who}: {self.flow} login{as_user} at {self.token_url}"


class TokenRejected(AuthError):
    """The token endpoint refused the request (HTTP 4xx); ``code``/``description`` as sent."""

    def __init__(self, message: str, hint: str, *, code: str, description: str, status: int):
        super().__init__(message, hint)
        self.code = code
        self.description = description
        self.status = status

    @property
    def is_bad_assertion(self) -> bool:
        """The signature did not match the app's certificate (also seen right after a change)."""
        return self.code == "invalid_grant" and "assertion" in self.description.lower()

    @property
    def is_audience_refusal(self) -> bool:
        """The ``aud`` claim was not the one the app expects: "audience is invalid", or
        ``app_not_found`` (what an org answers an External Client App login with the login host
        as audience instead of its My Domain)."""
        return (self.code == "invalid_grant" and "audience" in self.description.lower()) or (
            self.code == "app_not_found")

    @property
    def is_unknown_client(self) -> bool:
        """Unknown consumer key, or ``app_not_found``: both also answered for minutes after an
        app is created or changed, while Salesforce propagates it."""
        return self.code in ("invalid_client_id", "app_not_found")


class TokenEndpointUnavailable(RemoteError):
    """The token endpoint answered 5xx or the connection failed: worth retrying."""

    def __init__(self, message: str, hint: str, *, status: int | None):
        super().__init__(message, hint)
        self.status = status


def clip(text: str) -> str:
    """Server text, one line, bounded in length."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= _MAX_TEXT else flat[: _MAX_TEXT - 3] + "..."


def _audience_hint(req: TokenRequest) -> str:
    sent = req.audience or "(none)"
    login_hosts = set(LOGIN_HOSTS.values())
    if sent.rstrip("/") in login_hosts:
        return (
            f"the JWT audience sent was {sent} (a login host). External Client Apps on many orgs "
            "need the org's My Domain URL as the audience: set myDomainUrl on the SalesforceOrg "
            "(or tokenUrl for the deploy login); if this is a Connected App, check the org's "
            "environment (production -> https://login.salesforce.com, sandbox -> "
            "https://test.salesforce.com)"
        )
    return (
        f"the JWT audience sent was {sent}. Connected Apps expect the login host "
        "(https://login.salesforce.com for production, https://test.salesforce.com for sandboxes); "
        "External Client Apps expect the org's My Domain URL exactly (https, no trailing path): "
        "check myDomainUrl/tokenUrl and the app type"
    )


def rejection(req: TokenRequest, status: int, code: str, description: str) -> TokenRejected:
    """Map a 4xx answer to a precise error with its hint."""
    code = clip(code or f"http_{status}")
    text = clip(description)
    low = text.lower()
    head = req.describe()
    app = f"the app with consumer key {req.client_id}" if req.client_id else "the app"
    if code == "invalid_grant" and ("approved" in low or "approve" in low):
        msg = f"{head} was refused: {req.username or 'the user'} is not pre-authorized for {app} ({code}: {text})"
        hint = (
            "pre-authorize the user: make the app admin-approved and list the user's profile or a "
            "permission set the user holds (External Client App: its OAuth policies; Connected App: "
            "profileName/permissionSetName), or have the user approve the app once"
        )
    elif code == "invalid_grant" and "audience" in low:
        msg = (
            f"{head} was refused: the JWT audience {req.audience} is not accepted ({code}: {text})"
        )
        hint = _audience_hint(req)
    elif code == "app_not_found":
        msg = (f"{head} was refused: the org says {app} is not installed ({code}: {text}); "
               f"the audience sent was {req.audience or '(none)'}")
        hint = (
            "real orgs answer this for three causes: the audience is not the org's My Domain URL "
            "(External Client Apps want it exactly: https, no path); the app is not admin-approved "
            "with the user's profile or permission set pre-authorized; or the app was just created "
            "or changed and is still propagating (minutes): check them in that order"
        )
    elif code == "invalid_client_id":
        msg = f"{head} was refused: the org does not know the consumer key {req.client_id} ({code}: {text})"
        hint = (
            "check that the client id is the app's consumer key and that the app is deployed to "
            "this org (production vs sandbox host); a just-created or just-changed app can take "
            "2-10 minutes to propagate"
        )
    elif code == "invalid_app_access":
        msg = f"{head} was refused: {req.username or 'the user'} may not use {app} ({code}: {text})"
        hint = (
            "the app is admin-approved but the user is not on it: add the user's profile or one of "
            "their permission sets to the app's pre-authorized list"
        )
    elif code == "invalid_grant" and "assertion" in low:
        msg = f"{head} was refused: the JWT signature does not match {app}'s certificate ({code}: {text})"
        hint = (
            "the private key does not belong to the certificate uploaded to the app (wrong key "
            "file, or the certificate was rotated): use the matching key or deploy its "
            "certificate; right after a certificate change this clears once Salesforce "
            "propagates it (minutes)"
        )
    elif code == "invalid_grant" and "authorization code" in low:
        msg = f"{head} was refused: the assertion's expiry was not accepted ({code}: {text})"
        hint = (
            "the JWT exp must be within 3 minutes of the org's clock: check this machine's clock "
            "(NTP) and time zone"
        )
    elif code == "invalid_grant" and ("expired" in low or "revoked" in low):
        msg = f"{head} was refused: the refresh token expired or was revoked ({code}: {text})"
        hint = (
            "sign in again (sf org login web) and export a fresh auth URL with "
            "`sf org display --verbose`"
        )
    elif code in ("invalid_client", "invalid_client_credentials"):
        msg = f"{head} was refused: the client id or client secret is wrong ({code}: {text})"
        hint = "the auth URL's client id and secret must be those of the app that issued the refresh token"
    elif code == "inactive_user" or (code == "invalid_grant" and "inactive" in low):
        msg = f"{head} was refused: the user is inactive ({code}: {text})"
        hint = "activate the user in Setup or sign in as an active user"
    elif code == "unsupported_grant_type":
        msg = f"{head} was refused: the grant type is not enabled ({code}: {text})"
        hint = "enable the flow on the app (JWT bearer needs a certificate; refresh needs the refresh_token scope)"
    elif status == 404:
        msg = f"{head} failed: no token endpoint there (HTTP 404)"
        hint = "check tokenUrl / myDomainUrl: it must be the org's https base URL"
    else:
        msg = f"{head} was refused ({code}: {text or 'no description'})"
        hint = (
            "check the org's sign-in settings (client id, username, key) against the app in Setup"
        )
    return TokenRejected(msg, hint, code=code, description=text, status=status)


def unavailable(req: TokenRequest, status: int | None, detail: str) -> TokenEndpointUnavailable:
    """A 5xx answer or a failed connection."""
    what = f"HTTP {status}" if status is not None else clip(detail)
    return TokenEndpointUnavailable(
        f"{req.describe()} failed: the token endpoint is unavailable ({what})",
        "Salesforce or the network is having trouble: retry later; check the URL and proxy "
        "settings if it persists",
        status=status,
    )
