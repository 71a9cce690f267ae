"""Schema-valid documents to the typed desired model (:mod:`provisioner.model`).

Only documents that passed their kind's schema reach these functions, so they read fields without
re-checking types. Relative paths (secret files, import files, CA files, an explicit sandbox
state dir) are relative to the spec file; the default sandbox state dir is relative to the
working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from provisioner import model as m
from provisioner.appkinds import DEFAULT_TYPE
from provisioner.scopes import to_metadata_all
from provisioner.spec.reader import Document
from provisioner.spec.rules import default_api_name, format_api_version

DEFAULT_SANDBOX_DIR = Path(".provisioner/sandbox")

#: Scopes of an app whose spec names none: Salesforce needs one, and Workflow² uses these.
DEFAULT_SCOPES = ("api", "refresh_token")


def _secret(value: dict[str, str], base: Path) -> m.SecretRef:
    if "env" in value:
        return m.SecretRef("env", value["env"], base)
    return m.SecretRef("file", value["file"], base)


def _value(value: Any, base: Path) -> m.ValueRef:
    return value if isinstance(value, str) else _secret(value, base)


def _path(text: str, base: Path) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else base / p


def name_of(doc: Document) -> str:
    """``metadata.name`` of a schema-valid document."""
    return str(doc.data["metadata"]["name"])


def to_org(doc: Document) -> m.OrgSpec:
    """A SalesforceOrg document as an :class:`~provisioner.model.OrgSpec`."""
    spec: dict[str, Any] = doc.data["spec"]
    base = doc.file.parent
    auth: m.OrgAuth | None = None
    raw_auth: dict[str, Any] = spec.get("auth") or {}
    if "jwt" in raw_auth:
        jwt = raw_auth["jwt"]
        auth = m.JwtBearerAuth(
            _value(jwt["clientId"], base),
            _value(jwt["username"], base),
            _secret(jwt["privateKey"], base),
            jwt.get("tokenUrl"),
        )
    elif "sfdxAuthUrl" in raw_auth:
        auth = m.SfdxAuthUrlAuth(_secret(raw_auth["sfdxAuthUrl"], base))
    elif "accessToken" in raw_auth:
        tok = raw_auth["accessToken"]
        auth = m.AccessTokenAuth(_secret(tok["token"], base), _value(tok["instanceUrl"], base))
    sandbox: m.EmbeddedSandbox | None = None
    if "sandbox" in spec:
        box: dict[str, Any] = spec["sandbox"] or {}
        state_dir = _path(box["stateDir"], base) if "stateDir" in box else DEFAULT_SANDBOX_DIR
        sandbox = m.EmbeddedSandbox(
            state_dir, float(box.get("propagationDelaySeconds", 0.0)), box.get("port")
        )
    return m.OrgSpec(
        name=name_of(doc),
        environment=cast(m.Environment, spec.get("environment", "production")),
        api_version=format_api_version(spec.get("apiVersion", m.DEFAULT_API_VERSION)),
        source=doc.start,
        my_domain_url=spec.get("myDomainUrl"),
        auth=auth,
        sandbox=sandbox,
    )


def to_instance(doc: Document) -> m.WorkflowInstanceSpec:
    """A WorkflowInstance document as a :class:`~provisioner.model.WorkflowInstanceSpec`."""
    spec: dict[str, Any] = doc.data["spec"]
    base = doc.file.parent
    raw_sink: dict[str, Any] = spec["sink"]
    sink: m.SinkSpec
    if raw_sink["type"] == "importFile":
        key = raw_sink.get("encryptionKey")
        sink = m.ImportFileSinkSpec(_path(raw_sink["path"], base), _secret(key, base) if key else None)
    else:
        sink = m.ApiSinkSpec()
    api_key = spec.get("apiKey")
    return m.WorkflowInstanceSpec(
        name=name_of(doc),
        base_url=spec["baseUrl"],
        sink=sink,
        source=doc.start,
        api_key=_secret(api_key, base) if api_key else None,
        oauth_callback_url=spec.get("oauthCallbackUrl"),
        ca_file=_path(spec["caFile"], base) if "caFile" in spec else None,
        target_version=spec.get("targetVersion"),
    )


def to_app(doc: Document, environment: m.Environment) -> m.AppSpec:
    """A SalesforceApp document as an :class:`~provisioner.model.AppSpec` (org environment given)."""
    spec: dict[str, Any] = doc.data["spec"]
    name = name_of(doc)
    callbacks: list[m.CallbackUrl] = [
        m.CallbackRef(u["workflowInstance"]) if isinstance(u, dict) else u
        for u in spec.get("callbackUrls", [])
    ]
    cert: m.CertificateSpec | None = None
    if "certificate" in spec:
        c: dict[str, Any] = spec["certificate"] or {}
        cert = m.CertificateSpec(
            c.get("keySize", 2048),
            c.get("validityDays", 365),
            c.get("rotateBeforeDays", 30),
            c.get("maxAgeDays"),
        )
    pol: dict[str, Any] = spec.get("oauthPolicies") or {}
    refresh: dict[str, Any] = pol.get("refreshToken") or {}
    policies = m.OAuthPolicies(
        permitted_users=pol.get("permittedUsers", "adminApprovedPreAuthorized"),
        ip_relaxation=pol.get("ipRelaxation", "enforce"),
        refresh_token=m.RefreshTokenPolicy(
            refresh.get("policy", "infinite"), refresh.get("value"), refresh.get("unit")
        ),
        session_timeout_minutes=pol.get("sessionTimeoutMinutes"),
    )
    rot: dict[str, Any] = spec.get("rotation") or {}
    rotation = m.RotationSpec(rot.get("strategy", "cutover"), rot.get("partnerApiName"))
    pre: dict[str, Any] = spec.get("preAuthorized") or {}
    credentials = tuple(
        m.CredentialSpec(
            type=c["type"],
            instance=c["instance"],
            name=c["name"],
            environment=environment,
            source=doc.location(f"spec.credentials[{i}]"),
            username=c.get("username"),
            my_domain_url=c.get("myDomainUrl"),
        )
        for i, c in enumerate(spec.get("credentials", []))
    )
    return m.AppSpec(
        name=name,
        api_name=spec.get("apiName") or default_api_name(name),
        org=spec["org"],
        app_type=spec.get("appType", DEFAULT_TYPE),
        label=spec["label"],
        contact_email=spec["contactEmail"],
        source=doc.start,
        description=spec.get("description"),
        contact_phone=spec.get("contactPhone"),
        callback_urls=tuple(callbacks),
        # Salesforce needs at least one scope; the default is what Workflow² uses.
        scopes=to_metadata_all(spec.get("scopes", DEFAULT_SCOPES)),
        certificate=cert,
        policies=policies,
        pre_authorized_profiles=tuple(pre.get("profiles", [])),
        pre_authorized_permission_sets=tuple(pre.get("permissionSets", [])),
        credentials=credentials,
        rotation=rotation,
        locations=dict(doc.marks),
    )
