"""The one rule for where JWT token requests go and which audience they carry.

Apply (deploy sign-in), verification and the Workflow² JWT record's ``myDomainUrl`` must agree,
so they all ask here.

**App logins** (verification, Workflow² records):

- token URL: the org's My Domain URL when known (for the embedded sandbox, its ``.url``), else
  the login host of the org's environment;
- audience: External Client App -> the org's My Domain URL (Spring '26 orgs insist on it);
  Connected App -> the login host (``https://login.salesforce.com`` for production,
  ``https://test.salesforce.com`` for sandboxes; for the embedded sandbox, the host its seed's
  environment names). An External Client App in an org without a My Domain URL falls back to the
  login host, which older orgs still accept.

**The deploy sign-in** (:class:`~provisioner.model.JwtBearerAuth`):

- token URL: ``auth.token_url``, else the My Domain URL, else the login host;
- audiences, tried in turn until one is accepted (:func:`deploy_audiences`): an
  ``auth.token_url`` that is not a login host, the org's My Domain URL, then the login host. The
  spec does not say which kind of app the deploy app is: an External Client App (the only kind a
  new org can create) wants the My Domain URL, a Connected App the login host, and the
  Salesforce CLI's JWT login tries both the same way. An explicit ``audience`` passed to
  :func:`~provisioner.salesforce.connection.connect` is the only one tried. The embedded
  sandbox's bootstrap app is an External Client App, so its audience is the sandbox URL.
"""

from __future__ import annotations

from typing import Protocol

from provisioner.appkinds import app_kind
from provisioner.model import LOGIN_HOSTS, JwtBearerAuth, OrgSpec


class RunningOrg(Protocol):
    """What a live connection knows that a spec may not (the sandbox's port, its environment)."""

    @property
    def my_domain_url(self) -> str | None:
        """The org's My Domain URL, when known."""

    @property
    def login_host(self) -> str:
        """The login/test host whose name Connected App assertions carry as audience."""


def _strip(url: str | None) -> str | None:
    return url.rstrip("/") if url else None


def my_domain_url(org: OrgSpec, conn: RunningOrg | None = None) -> str | None:
    """The org's My Domain URL: from the running connection, else from the spec."""
    if conn is not None and conn.my_domain_url:
        return _strip(conn.my_domain_url)
    if org.sandbox is not None and org.sandbox.port is not None:
        return f"https://127.0.0.1:{org.sandbox.port}"
    return _strip(org.my_domain_url)


def login_host(org: OrgSpec, conn: RunningOrg | None = None) -> str:
    """The login host of the org's environment (the running sandbox's own, when connected)."""
    if conn is not None:
        return conn.login_host.rstrip("/")
    return org.login_url


def token_url(org: OrgSpec, conn: RunningOrg | None = None) -> str:
    """Where app JWT logins for this org are sent: My Domain if known, else the login host."""
    return my_domain_url(org, conn) or login_host(org, conn)


def token_audience(org: OrgSpec, app_type: str, conn: RunningOrg | None = None) -> str:
    """The ``aud`` claim for an app's JWT login: My Domain for kinds that want it (External
    Client Apps), else the login host (Connected Apps)."""
    if app_kind(app_type).audience_is_my_domain:
        return my_domain_url(org, conn) or login_host(org, conn)
    return login_host(org, conn)


def deploy_token_url(org: OrgSpec, auth: JwtBearerAuth) -> str:
    """Where the deploy sign-in is sent (see the module docstring)."""
    return _strip(auth.token_url) or _strip(org.my_domain_url) or org.login_url


def deploy_audiences(org: OrgSpec, auth: JwtBearerAuth) -> tuple[str, ...]:
    """The deploy sign-in's audiences, in the order they are tried (see the module docstring)."""
    explicit = _strip(auth.token_url)
    candidates = [
        explicit if explicit and explicit not in LOGIN_HOSTS.values() else None,
        _strip(org.my_domain_url),
        org.login_url,
    ]
    return tuple(dict.fromkeys(c for c in candidates if c))
