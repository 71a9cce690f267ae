"""One signed-in connection per org per run, and the single place Metadata API calls go through.

:func:`connect` signs in as the org's spec says (JWT bearer, sfdx auth URL, or a given access
token), or starts the embedded sandbox in-process and signs in to it with its bootstrap deploy app
by JWT bearer: the same code path as a real org. :meth:`OrgConnection.call` runs one remote
operation and turns every vendor failure into a :class:`MetadataCallError` naming the org and
the operation; it signs in again once on ``INVALID_SESSION_ID`` and retries
``REQUEST_LIMIT_EXCEEDED``, 5xx answers and dropped connections with bounded exponential backoff.
Retrying a deploy whose answer was lost can start a second, identical deploy: harmless, because a
package deploy is declarative.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from provisioner.errors import AuthError, RemoteError
from provisioner.httppolicy import PolicySession
from provisioner.model import (
    AccessTokenAuth,
    JwtBearerAuth,
    OrgSpec,
    SfdxAuthUrlAuth,
    resolve_value,
)
from provisioner.salesforce import endpoints
from provisioner.salesforce.auth import (
    OrgSession,
    Verify,
    jwt_bearer_token,
    jwt_bearer_token_trying,
    load_rsa_key,
    parse_sfdx_auth_url,
    refresh_token_grant,
    session_from_access_token,
)
from provisioner.salesforce.faults import Failure, classify
from provisioner.salesforce.urls import host_of
from provisioner.secret import REDACTED, Secret

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

    from provisioner.sandbox import SandboxServer

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for throttling, 5xx and dropped connections."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


class MetadataCallError(RemoteError):
    """A Metadata API call failed; ``code`` is Salesforce's status code when it sent one."""

    def __init__(self, message: str, hint: str, *, operation: str, code: str | None):
        super().__init__(message, hint)
        self.operation = operation
        self.code = code


_HINTS: Mapping[str, str] = {
    "INSUFFICIENT_ACCESS": (
        "the deploy user lacks a permission: it needs Modify Metadata (and, for External Client "
        "App global OAuth settings, 'View External Client Apps Consumer Secrets in Metadata' plus "
        "the org setting 'Allow Access to OAuth Consumer Secrets via Metadata API')"
    ),
    "UNSUPPORTED_API_VERSION": "set apiVersion on the SalesforceOrg to a version the org supports (62.0 or later)",
    "INVALID_SESSION_ID": (
        "the org refused the session even after signing in again: check that the deploy user is "
        "active, API Enabled, and allowed by the org's session/IP settings"
    ),
    "REQUEST_LIMIT_EXCEEDED": (
        "the org's API request limit is used up: wait for it to recover (rolling 24 hours) or "
        "raise the limit, then rerun"
    ),
    "INVALID_TYPE": "the org's API version does not know this metadata type: raise apiVersion (60.0+)",
}
_KIND_HINTS: Mapping[str, str] = {
    "session": _HINTS["INVALID_SESSION_ID"],
    "transient": "Salesforce or the network kept failing: rerun later; nothing was half-applied by this call",
    "throttle": _HINTS["REQUEST_LIMIT_EXCEEDED"],
    "tls": (
        "the org's TLS certificate is not trusted: for a private CA set REQUESTS_CA_BUNDLE to a "
        "bundle that includes it (verification is never turned off)"
    ),
    "item": "fix the components named above; the other components of the call are reported with it",
    "fatal": "see Salesforce's message above",
}


class OrgConnection:
    """A signed-in org: a simple-salesforce client built once per run, and guarded calls."""

    def __init__(
        self,
        org: OrgSpec,
        sign_in: Callable[[], OrgSession],
        *,
        verify: Verify = True,
        retry: RetryPolicy | None = None,
        login_host: str | None = None,
        my_domain_url: str | None = None,
        can_sign_in_again: bool = True,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.org = org
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self._sign_in = sign_in
        self._can_sign_in_again = can_sign_in_again
        self._on_close = on_close
        self._login_host = login_host or org.login_url
        self._my_domain_url = my_domain_url
        self._lock = threading.RLock()
        self._sf: Salesforce | None = None
        #: the embedded sandbox this connection started (tests reach its org through it).
        self.sandbox: SandboxServer | None = None
        #: remote calls attempted through :meth:`call` (one HTTP request each) and sign-ins made.
        self.request_count = 0
        self.sign_in_count = 0
        self.session = self._new_session()

    # -- identity ------------------------------------------------------------------------------
    @property
    def who(self) -> str:
        """How messages name this org."""
        return f"org {self.org.name!r}"

    @property
    def instance_url(self) -> str:
        """The org's instance URL, as the last sign-in returned it."""
        return self.session.instance_url

    @property
    def my_domain_url(self) -> str | None:
        """The org's My Domain URL (the sandbox's URL for the embedded org)."""
        return self._my_domain_url or self.org.my_domain_url

    @property
    def login_host(self) -> str:
        """The login/test host Connected App assertions name as audience."""
        return self._login_host

    # -- session -------------------------------------------------------------------------------
    def _new_session(self) -> OrgSession:
        self.sign_in_count += 1
        return self._sign_in()

    def sign_in_again(self) -> None:
        """Replace the session (and the client built on it) with a fresh sign-in."""
        with self._lock:
            if not self._can_sign_in_again:
                raise AuthError(
                    f"{self.who}: the access token was refused (expired or revoked)",
                    "get a fresh token (sf org display) or sign in with JWT bearer or an sfdx auth "
                    "URL, which the tool can renew by itself",
                )
            self.session = self._new_session()
            if self._sf is not None and not _renew_in_place(self._sf, self.session):
                self._sf = None

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client for the current session (makes no network call)."""
        with self._lock:
            if self._sf is None:
                from simple_salesforce.api import Salesforce

                http = PolicySession()  # no redirects, bounded answers: provisioner.httppolicy
                http.verify = self.verify
                self._sf = Salesforce(
                    instance_url=self.session.instance_url,
                    session_id=self.session.access_token.reveal(),
                    version=self.org.api_version,
                    session=http,
                )
                _metadata_through(self._sf, http)
            return self._sf

    # -- calls ---------------------------------------------------------------------------------
    def call(self, operation: str, fn: Callable[[Salesforce], T]) -> T:
        """Run ``fn(sf)`` (one remote request) with re-login and retries; failures as project errors.

        ``operation`` names the call in messages ("readMetadata ExternalClientApplication").
        """
        signed_in_again = False
        attempt = 0
        while True:
            attempt += 1
            sf = self.sf
            self.request_count += 1
            try:
                return fn(sf)
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if failure.kind == "session" and not signed_in_again:
                    signed_in_again = True
                    attempt -= 1  # the sign-in, not the org, was at fault
                    self.sign_in_again()
                    continue
                if failure.kind in ("throttle", "transient") and attempt < self.retry.max_attempts:
                    self.retry.sleep(self.retry.delay(attempt))
                    continue
                raise self.error(operation, failure, attempts=attempt) from exc

    def error(self, operation: str, failure: Failure, *, attempts: int = 1) -> MetadataCallError:
        """The project error for ``failure`` during ``operation`` (secrets scrubbed)."""
        code = (
            f"{failure.code}: "
            if failure.code and not failure.detail.startswith(failure.code)
            else ""
        )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        message = (
            f"{self.who} ({host_of(self.instance_url)}): {operation} failed{tries}: "
            f"{code}{failure.detail}"
        )
        hint = _HINTS.get(failure.code or "", _KIND_HINTS[failure.kind])
        return MetadataCallError(self.scrub(message), hint, operation=operation, code=failure.code)

    def scrub(self, text: str) -> str:
        """``text`` with the session's access token replaced, should a server have echoed it."""
        token = self.session.access_token.reveal()
        return text.replace(token, REDACTED) if token else text

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop what the connection started (the embedded sandbox); idempotent."""
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    def __enter__(self) -> OrgConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_WSDL_LOCK = threading.Lock()
_WSDL: Any = None
_METADATA_BINDING = "{http://soap.sforce.com/2006/04/metadata}MetadataBinding"


def _zeep_settings() -> Any:
    from zeep import Settings

    # As simple-salesforce configures its client: Salesforce's answers are not strictly ordered.
    return Settings(strict=False, xsd_ignore_sequence_order=True)


def _metadata_wsdl() -> Any:
    """simple-salesforce's Metadata API WSDL, parsed once per process (about 0.2 s of CPU, under
    the GIL: four orgs signing in side by side paid it four times in a row). Only the parsed
    document is shared; every connection builds its own client, service and session header on
    it, so no org's session can reach another org's calls."""
    global _WSDL
    with _WSDL_LOCK:
        if _WSDL is None:
            from simple_salesforce import metadata
            from zeep.transports import Transport
            from zeep.wsdl import Document

            location = (Path(metadata.__file__).parent / "metadata.wsdl").absolute().as_uri()
            _WSDL = Document(location, Transport(),  # type: ignore[no-untyped-call,arg-type]
                             settings=_zeep_settings())
        return _WSDL


def _metadata_through(sf: Salesforce, http: PolicySession) -> None:
    """Give ``sf`` a Metadata API client that sends its SOAP calls through ``http`` as well:
    simple-salesforce builds its zeep client without a transport, so zeep would use a plain
    session of its own (no size cap, no deadline, redirects followed). The client is built here,
    once per sign-in, on the process's one parsed WSDL (:func:`_metadata_wsdl`)."""
    from simple_salesforce.metadata import SfdcMetadataApi
    from zeep import Client
    from zeep.transports import Transport

    class _MetadataApi(SfdcMetadataApi):
        """simple-salesforce's Metadata API client with its zeep client made by us."""

        def __init__(self) -> None:  # the base builds a client of its own: not called
            self.session = sf.session
            self._session_id = sf.session_id
            self._instance = sf.sf_instance
            self.metadata_url = sf.metadata_url
            self.headers = sf.headers
            self._api_version = sf.sf_version
            self._deploy_zip = None
            self._client = Client(  # type: ignore[no-untyped-call]
                _metadata_wsdl(), settings=_zeep_settings(),
                transport=Transport(  # type: ignore[no-untyped-call]
                    session=http, timeout=300, operation_timeout=300))
            self._service = self._client.create_service(  # type: ignore[no-untyped-call]
                _METADATA_BINDING, self.metadata_url)
            self._session_header = self._client.get_element(  # type: ignore[no-untyped-call]
                "ns0:SessionHeader")(sessionId=self._session_id)

    sf._mdapi = _MetadataApi()


def connect(
    org: OrgSpec,
    *,
    environ: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 60.0,
    audience: str | None = None,
    sandbox_faults: Sequence[str] = (),
    sandbox_seed: int = 0,
    sandbox_on_session: Callable[[str, str, str], None] | None = None,
) -> OrgConnection:
    """Sign in to ``org`` (starting the embedded sandbox for a ``sandbox`` org).

    Secret references are resolved from ``environ`` (default: the process environment). The
    deploy sign-in's token URL and audience follow :mod:`.endpoints` unless ``audience`` is given.
    ``sandbox_faults``/``sandbox_seed`` go to an embedded sandbox (fault specs such as
    ``soap:latency=0.1``, for tests and benchmarks), ``sandbox_on_session`` hears every session
    it issues (``(username, app, token)``, from the first sign-in on). Close the connection
    (or use it as a context manager) to stop an embedded sandbox.
    """
    from provisioner import logredact

    logredact.install()  # zeep logs whole envelopes at DEBUG: session ids, read-back secrets
    who = f"org {org.name!r}"
    if org.sandbox is not None:
        return _connect_sandbox(
            org,
            retry=retry,
            timeout=timeout,
            audience=audience,
            faults=tuple(sandbox_faults),
            seed=sandbox_seed,
            on_session=sandbox_on_session,
        )
    auth = org.auth
    if isinstance(auth, JwtBearerAuth):
        client_id = resolve_value(auth.client_id, environ)
        username = resolve_value(auth.username, environ)
        key = auth.private_key.resolve(environ)
        # Check the key before any request, naming where it came from (the spec's reference).
        load_rsa_key(key, what=f"{who}, {auth.private_key.describe()} in {org.source.file}")
        url = endpoints.deploy_token_url(org, auth)
        audiences = (audience,) if audience else endpoints.deploy_audiences(org, auth)

        def jwt_sign_in() -> OrgSession:
            return jwt_bearer_token_trying(url, client_id, username, key, audiences,
                                           timeout=timeout, who=who)

        return OrgConnection(org, jwt_sign_in, retry=retry)
    if isinstance(auth, SfdxAuthUrlAuth):
        parsed = parse_sfdx_auth_url(
            auth.auth_url.resolve(environ),
            what=f"the sfdx auth URL of {who} ({auth.auth_url.describe()})",
        )

        def refresh_sign_in() -> OrgSession:
            return refresh_token_grant(parsed, timeout=timeout, who=who)

        return OrgConnection(org, refresh_sign_in, retry=retry)
    if isinstance(auth, AccessTokenAuth):
        token = auth.access_token.resolve(environ)
        instance = resolve_value(auth.instance_url, environ)
        given = session_from_access_token(token, instance, who=who)
        return OrgConnection(org, lambda: given, retry=retry, can_sign_in_again=False)
    raise AuthError(
        f"{who} has no way to sign in",
        f"add spec.auth (jwtBearer, sfdxAuthUrl or accessToken) or spec.sandbox to {org.source}",
    )


def _connect_sandbox(
    org: OrgSpec,
    *,
    retry: RetryPolicy | None,
    timeout: float,
    audience: str | None,
    faults: tuple[str, ...],
    seed: int,
    on_session: Callable[[str, str, str], None] | None = None,
) -> OrgConnection:
    """Start the embedded org and sign in with its bootstrap External Client App by JWT bearer."""
    from provisioner.sandbox import SandboxOptions, SandboxServer

    assert org.sandbox is not None
    server = SandboxServer(
        SandboxOptions(
            state_dir=Path(org.sandbox.state_dir),
            port=org.sandbox.port,
            propagation_delay=org.sandbox.propagation_delay,
            faults=faults,
            seed=seed,
            on_session=on_session,
            keep_port=True,
        )
    )
    server.start()
    try:
        # The sandbox's CA is trusted for this connection only (its session, token and
        # userinfo calls), never process-wide: a copy of that CA's key cannot vouch for any
        # other host the run talks to.
        bundle = str(Path(server.ca_file))
        creds = server.deploy_credentials()
        key = Secret(Path(creds.private_key_path).read_text(encoding="utf-8"))
        url = str(server.url).rstrip("/")
        aud = audience or url  # the bootstrap app is an External Client App: My Domain audience
        who = f"org {org.name!r} (embedded sandbox at {url})"

        def sandbox_sign_in() -> OrgSession:
            return jwt_bearer_token(
                url,
                creds.client_id,
                creds.username,
                key,
                aud,
                verify=bundle,
                timeout=timeout,
                who=who,
            )

        conn = OrgConnection(
            org,
            sandbox_sign_in,
            verify=bundle,
            retry=retry,
            login_host=str(server.org.login_host()),
            my_domain_url=url,
            on_close=server.stop,
        )
        conn.sandbox = server
        return conn
    except BaseException:
        server.stop()
        raise


def _renew_in_place(sf: Salesforce, session: OrgSession) -> bool:
    """Hand a new token to an existing client instead of rebuilding it.

    Rebuilding would parse the Metadata WSDL again (most of a second). simple-salesforce 1.12
    keeps the token in ``session_id``, the REST ``Authorization`` header and, once ``mdapi`` is
    built, in its ``_session_id`` and zeep ``_session_header``; when that layout is not what we
    expect, answer False and the caller rebuilds.
    """
    if urlsplit(session.instance_url).netloc != sf.sf_instance:
        return False  # a new instance: the URLs inside the client are stale
    token = session.access_token.reveal()
    mdapi = getattr(sf, "_mdapi", None)
    if mdapi is not None:
        client = getattr(mdapi, "_client", None)
        if client is None or not hasattr(mdapi, "_session_header"):
            return False
        mdapi._session_id = token
        mdapi._session_header = client.get_element("ns0:SessionHeader")(sessionId=token)
    sf.session_id = token
    sf.headers["Authorization"] = "Bearer " + token
    return True
