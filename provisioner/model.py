"""The desired model: what the specs say, as typed, frozen, validated data.

The spec loader (:mod:`provisioner.spec`) turns YAML documents into these objects after schema and
semantic checks; everything downstream (render, planner, executor) works on them and never on raw
YAML. Secrets appear only as :class:`SecretRef` (a reference, resolved on demand to a
:class:`~provisioner.secret.Secret`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from provisioner.errors import SecretReferenceError
from provisioner.secret import Secret

API_GROUP = "provisioner.dev/v1"
KIND_ORG = "SalesforceOrg"
KIND_INSTANCE = "WorkflowInstance"
KIND_APP = "SalesforceApp"
KINDS = (KIND_ORG, KIND_INSTANCE, KIND_APP)

DEFAULT_API_VERSION = "63.0"
LOGIN_HOSTS: Mapping[str, str] = {
    "production": "https://login.salesforce.com",
    "sandbox": "https://test.salesforce.com",
}

Environment = Literal["production", "sandbox"]
#: An app kind's type name (``externalClientApp``, ``connectedApp``): the schema's ``appType`` enum
#: lists the ones specs may name, :mod:`provisioner.appkinds` knows what each means.
AppType = str
CredentialType = Literal["jwt", "oauth2"]
PermittedUsers = Literal["adminApprovedPreAuthorized", "allSelfAuthorized"]
IpRelaxation = Literal["enforce", "bypass", "bypass2fa", "enforceRelaxRefresh"]
RefreshTokenPolicyType = Literal["infinite", "zero", "specificLifetime", "specificInactivity"]
TimeUnit = Literal["hours", "days", "months"]


@dataclass(frozen=True)
class SourceLocation:
    """Where something was written: a spec file and a 1-based line and column."""

    file: Path
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


#: Largest secret file read (a private key or a token is a few KiB).
MAX_SECRET_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret: ``{env: NAME}`` or ``{file: PATH}`` (relative to the spec file)."""

    source: Literal["env", "file"]
    name: str
    base_dir: Path = Path(".")

    def describe(self) -> str:
        """How the reference was written, safe to print."""
        return f"{{{self.source}: {self.name}}}"

    @property
    def path(self) -> Path:
        """The file a ``{file: PATH}`` reference points at."""
        p = Path(os.path.expanduser(self.name))
        return p if p.is_absolute() else self.base_dir / p

    def resolve(self, environ: Mapping[str, str] | None = None) -> Secret:
        """Read the secret now; errors say which reference failed and how to fix it."""
        if self.source == "env":
            env = os.environ if environ is None else environ
            value = env.get(self.name)
            if value is None or value == "":
                raise SecretReferenceError(
                    f"environment variable {self.name} is not set (referenced as {self.describe()})",
                    f"export {self.name}=... in the environment that runs provisioner, "
                    "or reference a file with {file: PATH}",
                )
            return Secret(value)
        from provisioner.fsutil import FileTooLarge, NotARegularFile, read_regular_file

        try:
            data = read_regular_file(self.path, MAX_SECRET_FILE_BYTES).decode("utf-8")
        except FileNotFoundError as exc:
            raise SecretReferenceError(
                f"secret file {self.path} does not exist (referenced as {self.describe()})",
                "create the file or fix the path; relative paths are relative to the spec file",
            ) from exc
        except (NotARegularFile, FileTooLarge) as exc:
            raise SecretReferenceError(
                f"secret file {exc} (referenced as {self.describe()})",
                "reference a regular file holding only the secret (a key or token is a few KiB)",
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretReferenceError(
                f"secret file {self.path} cannot be read: {type(exc).__name__}",
                "check the file's permissions and that it is a UTF-8 text file",
            ) from exc
        value = data.strip("\r\n")
        if not value.strip():
            raise SecretReferenceError(
                f"secret file {self.path} is empty (referenced as {self.describe()})",
                "write the secret into the file",
            )
        return Secret(value + "\n" if value.startswith("-----BEGIN") else value)


#: A value that is not secret but may come from the environment or a file (e.g. a client id).
ValueRef = str | SecretRef


def resolve_value(value: ValueRef, environ: Mapping[str, str] | None = None) -> str:
    """A plain value, reading it through its reference when it is one."""
    if isinstance(value, str):
        return value
    return value.resolve(environ).reveal().strip()


# --- SalesforceOrg -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JwtBearerAuth:
    """The pipeline signs in with the JWT bearer flow of a deploy app it already has."""

    client_id: ValueRef
    username: ValueRef
    private_key: SecretRef
    token_url: str | None = None  # default: My Domain URL, else the login/test host


@dataclass(frozen=True)
class SfdxAuthUrlAuth:
    """An sfdx auth URL (``force://clientId:secret:refreshToken@instance``), used with a refresh grant."""

    auth_url: SecretRef


@dataclass(frozen=True)
class AccessTokenAuth:
    """A session obtained elsewhere (e.g. ``sf org display``): an access token and its instance."""

    access_token: SecretRef
    instance_url: ValueRef


OrgAuth = JwtBearerAuth | SfdxAuthUrlAuth | AccessTokenAuth


@dataclass(frozen=True)
class EmbeddedSandbox:
    """The embedded org emulator, started in-process; state kept in ``state_dir``."""

    state_dir: Path
    propagation_delay: float = 0.0
    port: int | None = None


@dataclass(frozen=True)
class OrgSpec:
    """A Salesforce org to deploy to (kind ``SalesforceOrg``)."""

    name: str
    environment: Environment
    api_version: str
    source: SourceLocation
    my_domain_url: str | None = None
    auth: OrgAuth | None = None
    sandbox: EmbeddedSandbox | None = None

    @property
    def login_url(self) -> str:
        """The login/test host for this org's environment."""
        return LOGIN_HOSTS[self.environment]


# --- WorkflowInstance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiSinkSpec:
    """Write credentials through the instance's public REST API."""

    type: Literal["api"] = "api"

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """The secrets this sink needs besides the instance's API key: none."""
        return ()


@dataclass(frozen=True)
class ImportFileSinkSpec:
    """Write an ``n8n import:credentials`` file; encrypted with the instance's key when given."""

    path: Path
    encryption_key: SecretRef | None = None
    type: Literal["importFile"] = "importFile"

    def secret_refs(self) -> tuple[SecretRef, ...]:
        """The encryption key, when the file is encrypted."""
        return (self.encryption_key,) if self.encryption_key is not None else ()


SinkSpec = ApiSinkSpec | ImportFileSinkSpec


@dataclass(frozen=True)
class WorkflowInstanceSpec:
    """A Workflow² server (kind ``WorkflowInstance``)."""

    name: str
    base_url: str
    sink: SinkSpec
    source: SourceLocation
    api_key: SecretRef | None = None
    oauth_callback_url: str | None = None
    ca_file: Path | None = None
    #: The server version an importFile sink writes for (None: the newest supported).
    target_version: str | None = None

    @property
    def callback_url(self) -> str:
        """The OAuth callback URL: the override when given, else derived from the base URL by
        Workflow²'s rule (:func:`provisioner.workflow2.urls.derive_callback_url`)."""
        from provisioner.workflow2.urls import derive_callback_url

        return self.oauth_callback_url or derive_callback_url(self.base_url)


# --- SalesforceApp -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackRef:
    """"The OAuth callback URL of WorkflowInstance ``instance``", resolved at plan time."""

    instance: str


CallbackUrl = str | CallbackRef


@dataclass(frozen=True)
class CertificateSpec:
    """The JWT signing key and self-signed certificate the tool generates and rotates."""

    key_size: int = 2048
    validity_days: int = 365
    rotate_before_days: int = 30
    max_age_days: int | None = None


@dataclass(frozen=True)
class RefreshTokenPolicy:
    """How long refresh tokens live."""

    type: RefreshTokenPolicyType = "infinite"
    value: int | None = None
    unit: TimeUnit | None = None


@dataclass(frozen=True)
class OAuthPolicies:
    """Who may use the app and under what session rules."""

    permitted_users: PermittedUsers = "adminApprovedPreAuthorized"
    ip_relaxation: IpRelaxation = "enforce"
    refresh_token: RefreshTokenPolicy = field(default_factory=RefreshTokenPolicy)
    session_timeout_minutes: int | None = None


@dataclass(frozen=True)
class CredentialSpec:
    """A Workflow² credential record to produce from the app."""

    type: CredentialType
    instance: str
    name: str
    environment: Environment
    source: SourceLocation
    username: str | None = None  # JWT: the integration user
    my_domain_url: str | None = None  # JWT: audience + token host (default: the org's for ECAs)


RotationStrategy = Literal["cutover", "blueGreen"]
PairSide = Literal["blue", "green"]
#: Appended to an app's ``metadata.name`` to name its blue/green partner (``crm`` -> ``crm.green``):
#: a metadata name has no dots, so the partner's name never collides with an app of the specs.
PARTNER_SUFFIX = ".green"


@dataclass(frozen=True)
class RotationSpec:
    """How the app's JWT key is rotated.

    ``cutover``: the app's certificate is replaced; logins with the old key fail from the moment
    the new certificate is live until Workflow² holds the new key. ``blueGreen``: a pair of apps
    takes turns; the partner gets the new key, signs in, Workflow²'s JWT credential switches to it,
    and only then is the old key retired (no failed login).
    """

    strategy: RotationStrategy = "cutover"
    partner_api_name: str | None = None


@dataclass(frozen=True)
class PairRole:
    """One side of a blue/green pair: the spec app (``blue``) or its partner (``green``)."""

    primary: str
    side: PairSide
    #: The integration user the partner's key is verified as (the spec app's JWT username).
    username: str | None = None


@dataclass(frozen=True)
class AppSpec:
    """An app in an org (kind ``SalesforceApp``): an External Client App or a Connected App."""

    name: str
    api_name: str
    org: str
    app_type: AppType
    label: str
    contact_email: str
    source: SourceLocation
    description: str | None = None
    contact_phone: str | None = None
    callback_urls: tuple[CallbackUrl, ...] = ()
    scopes: tuple[str, ...] = ()  # Metadata API spelling, order of scopes.METADATA_SCOPES
    certificate: CertificateSpec | None = None
    policies: OAuthPolicies = field(default_factory=OAuthPolicies)
    pre_authorized_profiles: tuple[str, ...] = ()
    pre_authorized_permission_sets: tuple[str, ...] = ()
    credentials: tuple[CredentialSpec, ...] = ()
    rotation: RotationSpec = field(default_factory=RotationSpec)
    #: Set on both apps of a blue/green pair (see :meth:`Desired.with_partners`).
    pair: PairRole | None = None
    #: JSON path (e.g. ``spec.scopes[1]``) -> where it was written, for errors raised after loading.
    locations: Mapping[str, SourceLocation] = field(default_factory=dict, compare=False)

    def location(self, path: str) -> SourceLocation:
        """Where ``path`` (or its nearest written ancestor) was written in the spec."""
        probe = path
        while probe:
            if probe in self.locations:
                return self.locations[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.source

    @property
    def jwt_credentials(self) -> tuple[CredentialSpec, ...]:
        """The JWT credentials produced from this app."""
        return tuple(c for c in self.credentials if c.type == "jwt")

    @property
    def integration_username(self) -> str | None:
        """The user the JWT verification signs in as: the first JWT credential's username."""
        for cred in self.jwt_credentials:
            if cred.username:
                return cred.username
        return self.pair.username if self.pair is not None else None

    @property
    def primary(self) -> str:
        """The spec app this app belongs to: itself, or the app whose partner it is."""
        return self.pair.primary if self.pair is not None else self.name

    @property
    def blue_green(self) -> bool:
        """Whether the app rotates its JWT key with a blue/green pair."""
        return self.rotation.strategy == "blueGreen"

    def partner(self) -> AppSpec:
        """The blue/green partner of this spec app: the same app under another API name, without
        credentials of its own (the spec app's JWT credentials use whichever side is active)."""
        from dataclasses import replace

        return replace(self, name=self.name + PARTNER_SUFFIX,
                       api_name=self.rotation.partner_api_name or partner_api_name(self.api_name),
                       credentials=(), pair=PairRole(self.name, "green", self.integration_username))


def primary_name(name: str) -> str:
    """The spec app an app name belongs to: ``crm.green`` -> ``crm``; any other name itself."""
    return name.removesuffix(PARTNER_SUFFIX)


def partner_api_name(api_name: str) -> str:
    """The default API name of a blue/green partner."""
    return f"{api_name}_green"


@dataclass(frozen=True)
class Desired:
    """Everything the specs describe, keyed by ``metadata.name``."""

    orgs: Mapping[str, OrgSpec]
    instances: Mapping[str, WorkflowInstanceSpec]
    apps: Mapping[str, AppSpec]
    files: tuple[Path, ...] = ()
    #: The specs' warnings, one formatted line each (``FILE:LINE:COL: warning: ...``).
    warnings: tuple[str, ...] = ()

    @staticmethod
    def with_partners(apps: Mapping[str, AppSpec]) -> dict[str, AppSpec]:
        """``apps`` with each blue/green app's partner added (and both marked as a pair)."""
        from dataclasses import replace

        out: dict[str, AppSpec] = {}
        for name, app in apps.items():
            if not app.blue_green:
                out[name] = app
                continue
            out[name] = replace(app, pair=PairRole(name, "blue", app.integration_username))
            partner = app.partner()
            out[partner.name] = partner
        return dict(sorted(out.items()))

    def apps_in(self, org: str) -> list[AppSpec]:
        """The apps of one org, in name order."""
        return sorted((a for a in self.apps.values() if a.org == org), key=lambda a: a.name)

    def callback_urls(self, app: AppSpec, resolved: Mapping[str, str] | None = None) -> tuple[str, ...]:
        """The app's callback URLs with instance references resolved.

        ``resolved`` maps an instance name to the callback URL read from the live server; without
        it the URL is derived from the instance spec.
        """
        out: list[str] = []
        for url in app.callback_urls:
            if isinstance(url, CallbackRef):
                live = (resolved or {}).get(url.instance)
                out.append(live or self.instances[url.instance].callback_url)
            else:
                out.append(url)
        return tuple(out)
