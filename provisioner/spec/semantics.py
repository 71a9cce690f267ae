"""Checks across fields and documents: references, uniqueness, naming, URLs and policy sense.

They run on the typed model of schema-valid documents. ``known`` holds the names of every
document of a kind, including ones that failed their schema, so that a broken org does not also
produce an "unknown org" error at every app that uses it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from provisioner import model as m
from provisioner.appkinds import DEFAULT_TYPE, app_kind
from provisioner.spec.problems import ProblemSink
from provisioner.spec.reader import Document
from provisioner.spec.rules import api_name_problems, api_version_number, url_problem

MIN_API_VERSION = 60.0


@dataclass
class Checked:
    """The schema-valid documents converted to the model, and every name seen per kind."""

    orgs: dict[str, tuple[Document, m.OrgSpec]] = field(default_factory=dict)
    instances: dict[str, tuple[Document, m.WorkflowInstanceSpec]] = field(default_factory=dict)
    apps: dict[str, tuple[Document, m.AppSpec]] = field(default_factory=dict)
    known: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in m.KINDS})


def _unknown(
    sink: ProblemSink, doc: Document, path: str, kind: str, name: str, known: set[str]
) -> None:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean {close[0]!r}?"
    elif known:
        hint = f"defined {kind} names: {', '.join(sorted(known))}"
    else:
        hint = (
            f"add a {kind} document with metadata.name: {name} (in any file passed to the command)"
        )
    sink.error(doc.location(path), f"unknown {kind} {name!r}", path, hint)


def _url(sink: ProblemSink, doc: Document, path: str, url: str, *, loopback_http: bool) -> None:
    problem = url_problem(url, loopback_http=loopback_http)
    if problem:
        sink.error(
            doc.location(path),
            f"URL {problem}",
            path,
            "write a full https:// URL"
            + (" (http:// only for localhost or 127.0.0.1)" if loopback_http else ""),
        )


def check_org(sink: ProblemSink, doc: Document, org: m.OrgSpec) -> None:
    """API version floor and the org's URLs."""
    number = api_version_number(org.api_version)
    if number is None:
        sink.error(
            doc.location("spec.apiVersion"),
            f'apiVersion {org.api_version!r} is not a version like "63.0"',
            "spec.apiVersion",
            f'use "{m.DEFAULT_API_VERSION}"',
        )
    elif number < MIN_API_VERSION:
        sink.error(
            doc.location("spec.apiVersion"),
            f"apiVersion {org.api_version} is older than {MIN_API_VERSION}",
            "spec.apiVersion",
            f'External Client App certificates need API 60.0 or later; use "{m.DEFAULT_API_VERSION}"',
        )
    if org.my_domain_url:
        _url(sink, doc, "spec.myDomainUrl", org.my_domain_url, loopback_http=False)
    if isinstance(org.auth, m.JwtBearerAuth) and org.auth.token_url:
        _url(sink, doc, "spec.auth.jwt.tokenUrl", org.auth.token_url, loopback_http=False)
    if isinstance(org.auth, m.AccessTokenAuth) and isinstance(org.auth.instance_url, str):
        _url(
            sink,
            doc,
            "spec.auth.accessToken.instanceUrl",
            org.auth.instance_url,
            loopback_http=False,
        )


def check_instance(sink: ProblemSink, doc: Document, inst: m.WorkflowInstanceSpec) -> None:
    """The instance's URLs and its target version."""
    from provisioner.workflow2.versions import version_problem

    _url(sink, doc, "spec.baseUrl", inst.base_url, loopback_http=True)
    if inst.target_version is not None:
        problem = version_problem(inst.target_version)
        if problem is not None:
            sink.error(doc.location("spec.targetVersion"), problem[0], "spec.targetVersion",
                       problem[1])
        elif not isinstance(inst.sink, m.ImportFileSinkSpec):
            sink.warning(doc.location("spec.targetVersion"),
                         "targetVersion is used by importFile sinks only; an api sink asks its "
                         "server", "spec.targetVersion", "remove it")
    if inst.oauth_callback_url:
        _url(sink, doc, "spec.oauthCallbackUrl", inst.oauth_callback_url, loopback_http=True)


def check_app(sink: ProblemSink, doc: Document, app: m.AppSpec, checked: Checked) -> None:
    """Everything about one app: names, references, callbacks, certificate and credentials."""
    explicit = "apiName" in doc.data["spec"]
    for reason in api_name_problems(app.api_name, app.app_type):
        if explicit:
            hint = (
                "shorten it"
                if "characters long" in reason
                else "use letters, digits and single underscores, starting with a letter"
            )
            sink.error(
                doc.location("spec.apiName"),
                f"API name {app.api_name!r} {reason}",
                "spec.apiName",
                hint,
            )
        else:
            sink.error(
                doc.location("metadata.name"),
                f"API name {app.api_name!r} derived from metadata.name {reason}",
                "spec.apiName",
                "set spec.apiName explicitly",
            )
    if app.org not in checked.known[m.KIND_ORG]:
        _unknown(sink, doc, "spec.org", m.KIND_ORG, app.org, checked.known[m.KIND_ORG])
    _check_my_domain(sink, doc, app, checked)
    warning = app_kind(app.app_type).spec_warning
    if warning:
        sink.warning(
            doc.location("spec.appType"), warning, "spec.appType",
            f"use appType: {DEFAULT_TYPE} for a new app",
        )
    _check_callbacks(sink, doc, app, checked)
    _check_certificate(sink, doc, app)
    _check_rotation(sink, doc, app)
    _check_credentials(sink, doc, app, checked)


def _check_rotation(sink: ProblemSink, doc: Document, app: m.AppSpec) -> None:
    if not app.blue_green:
        return
    if app.certificate is None:
        sink.error(
            doc.location("spec.rotation.strategy"),
            "rotation strategy blueGreen rotates a JWT key, but the app has no spec.certificate",
            "spec.rotation.strategy",
            "add spec.certificate: {} (and a jwt credential), or remove spec.rotation",
        )
    elif not app.jwt_credentials:
        sink.error(
            doc.location("spec.rotation.strategy"),
            "rotation strategy blueGreen switches the JWT credentials between two apps, but the "
            "app has no jwt credential",
            "spec.rotation.strategy",
            "add a credential of type jwt, or remove spec.rotation (cutover is enough for an "
            "app nobody signs in to with JWT)",
        )
    partner = app.partner().api_name
    if partner.lower() == app.api_name.lower():
        sink.error(
            doc.location("spec.rotation.partnerApiName"),
            f"partnerApiName {partner!r} is the app's own API name",
            "spec.rotation.partnerApiName",
            "the partner is a second app: give it another API name",
        )
    explicit = "partnerApiName" in (doc.data["spec"].get("rotation") or {})
    for reason in api_name_problems(partner, app.app_type):
        sink.error(
            doc.location("spec.rotation.partnerApiName" if explicit else "spec.apiName"),
            f"the blue/green partner's API name {partner!r} {reason}",
            "spec.rotation.partnerApiName",
            "set spec.rotation.partnerApiName to a shorter name" if "characters long" in reason
            else "set spec.rotation.partnerApiName",
        )


def _check_my_domain(sink: ProblemSink, doc: Document, app: m.AppSpec, checked: Checked) -> None:
    """An app whose JWT logins carry the My Domain URL (an External Client App) needs the org to
    name it: the login host is not a fallback such orgs accept (the embedded sandbox knows its
    own)."""
    entry = checked.orgs.get(app.org)
    if entry is None or not app_kind(app.app_type).audience_is_my_domain:
        return
    org_doc, org = entry
    if org.sandbox is not None or org.my_domain_url:
        return
    sink.error(
        doc.location("spec.org"),
        f"app {app.name!r} is an {app_kind(app.app_type).label}: its JWT logins need the My "
        f"Domain URL of org {app.org!r} as audience, and that org does not set myDomainUrl",
        "spec.org",
        f"set spec.myDomainUrl in {org_doc.location('spec')} to the org's "
        "https://NAME.my.salesforce.com URL (Setup > My Domain)",
    )


def _check_callbacks(sink: ProblemSink, doc: Document, app: m.AppSpec, checked: Checked) -> None:
    seen: dict[str, int] = {}
    for i, url in enumerate(app.callback_urls):
        path = f"spec.callbackUrls[{i}]"
        if isinstance(url, m.CallbackRef):
            if url.instance not in checked.known[m.KIND_INSTANCE]:
                _unknown(
                    sink,
                    doc,
                    f"{path}.workflowInstance",
                    m.KIND_INSTANCE,
                    url.instance,
                    checked.known[m.KIND_INSTANCE],
                )
            key = f"{{workflowInstance: {url.instance}}}"
        else:
            _url(sink, doc, path, url, loopback_http=True)
            key = url
        if key in seen:
            sink.warning(
                doc.location(path),
                f"callback URL {key} is listed twice (also item {seen[key]})",
                path,
                "remove the duplicate",
            )
        seen.setdefault(key, i)


def _check_certificate(sink: ProblemSink, doc: Document, app: m.AppSpec) -> None:
    cert = app.certificate
    if cert is None:
        return
    if cert.validity_days <= cert.rotate_before_days:
        sink.error(
            doc.location("spec.certificate.validityDays"),
            f"validityDays ({cert.validity_days}) must be longer than rotateBeforeDays "
            f"({cert.rotate_before_days})",
            "spec.certificate.validityDays",
            "otherwise every new certificate is due for rotation at once; e.g. validityDays: 365, "
            "rotateBeforeDays: 30",
        )
    if cert.max_age_days is not None and cert.max_age_days > cert.validity_days:
        sink.warning(
            doc.location("spec.certificate.maxAgeDays"),
            f"maxAgeDays ({cert.max_age_days}) is longer than validityDays "
            f"({cert.validity_days}) and never applies",
            "spec.certificate.maxAgeDays",
            "lower maxAgeDays or remove it",
        )


def _check_credentials(sink: ProblemSink, doc: Document, app: m.AppSpec, checked: Checked) -> None:
    for i, cred in enumerate(app.credentials):
        path = f"spec.credentials[{i}]"
        if cred.instance not in checked.known[m.KIND_INSTANCE]:
            _unknown(
                sink,
                doc,
                f"{path}.instance",
                m.KIND_INSTANCE,
                cred.instance,
                checked.known[m.KIND_INSTANCE],
            )
        if cred.type == "jwt":
            if app.certificate is None:
                sink.error(
                    doc.location(f"{path}.type"),
                    "a jwt credential needs the app to have a certificate",
                    f"{path}.type",
                    "add certificate: {} to the app (2048-bit key, 365 days)",
                )
            if app.policies.permitted_users == "adminApprovedPreAuthorized" and not (
                app.pre_authorized_profiles or app.pre_authorized_permission_sets
            ):
                sink.warning(
                    doc.location(f"{path}.username"),
                    f"no profile or permission set is pre-authorized, so {cred.username} "
                    "cannot sign in with JWT",
                    f"{path}.username",
                    "list the user's profile or a permission set under spec.preAuthorized",
                )
            if cred.my_domain_url:
                _url(sink, doc, f"{path}.myDomainUrl", cred.my_domain_url, loopback_http=False)
        elif not app.callback_urls:
            sink.error(
                doc.location(f"{path}.type"),
                "an oauth2 credential needs the app to have a callback URL",
                f"{path}.type",
                f"add callbackUrls: [{{workflowInstance: {cred.instance}}}]",
            )
        elif cred.instance in checked.instances:
            instance = checked.instances[cred.instance][1]
            _check_oauth2_callback(sink, doc, app, path, cred, instance)
            _check_requested_scopes(sink, doc, app, path, cred, instance)


def requested_scopes(cred: m.CredentialSpec, instance: m.WorkflowInstanceSpec) -> tuple[str, ...]:
    """The OAuth scopes the credential asks the org for at Connect (its server's rule)."""
    from provisioner.targets import target_for

    return target_for(instance).requested_scopes(cred.type)


def _check_requested_scopes(
    sink: ProblemSink,
    doc: Document,
    app: m.AppSpec,
    path: str,
    cred: m.CredentialSpec,
    instance: m.WorkflowInstanceSpec,
) -> None:
    """An error when the app does not grant a scope the credential requests at Connect (an
    OAuth2 credential without ``refresh_token`` would also stop when its token expires)."""
    from provisioner.scopes import normalise

    requested = requested_scopes(cred, instance)
    granted = normalise(app.scopes)
    missing = [s for s in requested if not normalise([s]) <= granted]
    if not missing:
        return
    where = "spec.scopes" if "scopes" in doc.data["spec"] else path
    sink.error(
        doc.location(where),
        f"the {cred.type} credential {cred.name!r} asks the org for the scopes "
        f"{' '.join(requested)} when a person connects it, and the app does not grant "
        f"{', '.join(missing)}: Salesforce refuses the connection",
        where,
        f"add {', '.join(missing)} to spec.scopes (or leave spec.scopes out: the default "
        "includes what the app's credentials ask for)",
    )


def _check_oauth2_callback(
    sink: ProblemSink,
    doc: Document,
    app: m.AppSpec,
    path: str,
    cred: m.CredentialSpec,
    instance: m.WorkflowInstanceSpec,
) -> None:
    wanted = instance.callback_url
    for url in app.callback_urls:
        if (isinstance(url, m.CallbackRef) and url.instance == cred.instance) or url == wanted:
            return
    sink.warning(
        doc.location(path),
        f"none of the app's callback URLs is the OAuth callback of {cred.instance} ({wanted})",
        path,
        f"add {{workflowInstance: {cred.instance}}} to callbackUrls",
    )


def check_across(sink: ProblemSink, checked: Checked) -> None:
    """Uniqueness across documents: API names per org, credential names per instance."""
    api_names: dict[tuple[str, str], str] = {}
    cred_names: dict[tuple[str, str], str] = {}
    for name in sorted(checked.apps):
        doc, app = checked.apps[name]
        key = (app.org, app.api_name.lower())
        if key in api_names:
            sink.error(
                doc.location("spec.apiName"),
                f"API name {app.api_name!r} is already used by app "
                f"{api_names[key]!r} in org {app.org!r}",
                "spec.apiName",
                "API names are unique per org (case-insensitive); set a different spec.apiName",
            )
        api_names.setdefault(key, name)
        if app.blue_green:
            partner = (app.org, app.partner().api_name.lower())
            if partner in api_names and api_names[partner] != name:
                sink.error(
                    doc.location("spec.rotation"),
                    f"the blue/green partner's API name {app.partner().api_name!r} is already "
                    f"used by app {api_names[partner]!r} in org {app.org!r}",
                    "spec.rotation.partnerApiName",
                    "set spec.rotation.partnerApiName to a name no other app uses",
                )
            api_names.setdefault(partner, name)
        for i, cred in enumerate(app.credentials):
            ckey = (cred.instance, cred.name)
            path = f"spec.credentials[{i}].name"
            if ckey in cred_names:
                sink.error(
                    doc.location(path),
                    f"credential name {cred.name!r} is already used in instance "
                    f"{cred.instance!r} by app {cred_names[ckey]!r}",
                    path,
                    "give each credential of an instance its own name",
                )
            cred_names.setdefault(ckey, name)
