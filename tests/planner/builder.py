"""One builder of :class:`PlanInputs` for the planner's unit tests: no network, no sandbox.

:func:`converged` starts from what a finished apply leaves behind (the app in the org exactly as
the spec asks, its certificate and consumer secret in state, both Workflow² records written and
recorded); each ``with_*``/``without_*`` method changes one thing, so a test states a single
difference and the planner's answer to it. Certificates are generated once per process.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from provisioner.engine.inputs import (
    LiveApp,
    LiveCredential,
    OrgFacts,
    PlanInputs,
    credential_key,
    public_fields,
    value_fingerprint,
)
from provisioner.keys import KeyMaterial, KeyRequest, generate_many
from provisioner.metadata.view import AppView, desired_view
from provisioner.model import AppSpec, Desired
from provisioner.secret import Secret
from provisioner.spec import load_desired
from provisioner.state import AppState, CertificateRecord, CredentialState, Rotation, State
from provisioner.targets import target_for

#: The planner's clock in every test: certificates below are issued a day before.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
MY_DOMAIN = "https://acme.my.salesforce.com"
LOGIN_HOST = "https://login.salesforce.com"
CONSUMER_KEY = "PRV1" + "K" * 81
PARTNER_CONSUMER_KEY = "GRN1" + "K" * 81
CONSUMER_SECRET = Secret("C0FFEE" * 10 + "ABCD")

ORG_AND_INSTANCE = """\
apiVersion: provisioner.dev/v1
kind: SalesforceOrg
metadata: {name: prod}
spec:
  myDomainUrl: https://acme.my.salesforce.com
  auth:
    jwt:
      clientId: {env: SF_CLIENT_ID}
      username: deploy@acme.example
      privateKey: {env: SF_DEPLOY_KEY}
---
apiVersion: provisioner.dev/v1
kind: WorkflowInstance
metadata: {name: wf}
spec:
  baseUrl: https://workflow.acme.example
  apiKey: {env: WF_API_KEY}
  sink: {type: api}
"""


def app_doc(name: str = "billing", *, app_type: str = "externalClientApp", key_size: int = 2048,
            rotate_before_days: int = 30, max_age_days: int | None = None,
            certificate: bool = True, oauth2: bool = True, label: str = "Billing") -> str:
    """A SalesforceApp document: JWT (and OAuth2) credentials on instance ``wf``."""
    max_age = f"\n    maxAgeDays: {max_age_days}" if max_age_days is not None else ""
    cert = (f"  certificate:\n    keySize: {key_size}\n    validityDays: 365\n"
            f"    rotateBeforeDays: {rotate_before_days}{max_age}\n") if certificate else ""
    creds = ""
    if certificate:
        creds += (f"    - type: jwt\n      instance: wf\n      name: {name} (JWT)\n"
                  "      username: integration@acme.example\n")
    if oauth2:
        creds += f"    - type: oauth2\n      instance: wf\n      name: {name} (OAuth2)\n"
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceApp
        metadata: {{name: {name}}}
        spec:
          org: prod
          appType: {app_type}
          label: {label}
          contactEmail: integrations@acme.example
          callbackUrls:
            - workflowInstance: wf
          scopes: [api, refresh_token, full]
          preAuthorized:
            permissionSets: [Workflow_Integration]
        """) + cert + ("  credentials:\n" + creds if creds else "")


@cache
def _keys(size: int) -> tuple[KeyMaterial, KeyMaterial]:
    made = generate_many([KeyRequest("a", "planner test a", size, 365, NOW - timedelta(days=1)),
                          KeyRequest("b", "planner test b", size, 365, NOW - timedelta(days=1))])
    return made["a"], made["b"]


def key_material(size: int = 2048, which: int = 0) -> KeyMaterial:
    """A cached key pair with certificate (``which`` 0 or 1: two different ones)."""
    return _keys(size)[which]


def load(folder: Path, *docs: str) -> Desired:
    """The desired model of the org/instance file plus ``docs``, written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "specs.yaml"
    spec.write_text("---\n".join([ORG_AND_INSTANCE, *docs]))
    return load_desired([spec])


@dataclass(frozen=True)
class Scenario:
    """The planner's inputs for one test, changed one thing at a time."""

    desired: Desired
    state: State
    live_apps: dict[str, LiveApp | None]
    live_credentials: dict[str, LiveCredential | None]
    now: datetime = NOW
    force_rotate: frozenset[str] = frozenset()
    revoke: frozenset[str] = frozenset()
    prune: bool = False
    destroy: frozenset[str] = frozenset()
    creation_refused: dict[str, str] = field(default_factory=dict)
    certificates_readable: bool = True

    def inputs(self) -> PlanInputs:
        """The :class:`PlanInputs` the planner gets (every org signed in at :data:`MY_DOMAIN`)."""
        return PlanInputs(
            desired=self.desired, state=self.state, live_apps=self.live_apps,
            live_credentials=self.live_credentials,
            org_facts={o: OrgFacts(MY_DOMAIN, LOGIN_HOST, self.certificates_readable)
                       for o in self.desired.orgs},
            callback_urls={n: i.callback_url for n, i in self.desired.instances.items()},
            now=self.now, creation_refused=self.creation_refused,
            force_rotate=self.force_rotate, revoke=self.revoke, prune=self.prune,
            destroy=self.destroy,
            sink_kinds={n: i.sink.type for n, i in self.desired.instances.items()},
        )

    # -- one difference at a time -------------------------------------------------------------
    def app_state(self, app: str = "billing") -> AppState:
        """State's entry for ``app``."""
        return self.state.apps[app]

    def with_app_state(self, app: str = "billing", **changes: Any) -> Scenario:
        """State's entry for ``app`` with ``changes``."""
        apps = dict(self.state.apps)
        apps[app] = replace(apps[app], **changes)
        return replace(self, state=State("lineage-1", 3, apps))

    def without_state(self, app: str = "billing") -> Scenario:
        """``app`` unknown to state (live as it was)."""
        apps = {k: v for k, v in self.state.apps.items() if k != app}
        return replace(self, state=State("lineage-1", 3, apps))

    def with_live(self, app: str = "billing", **changes: Any) -> Scenario:
        """The org's copy of ``app`` with view fields changed."""
        live = self.live_apps[app]
        assert live is not None
        return replace(self, live_apps={**self.live_apps, app: LiveApp(replace(live.view, **changes))})

    def without_live(self, app: str = "billing") -> Scenario:
        """``app`` missing from the org."""
        return replace(self, live_apps={**self.live_apps, app: None})

    def with_record(self, key: str, record: LiveCredential | None) -> Scenario:
        """The live Workflow² record of credential ``key`` (``instance/name``), or None."""
        return replace(self, live_credentials={**self.live_credentials, key: record})

    def record(self, key: str) -> LiveCredential:
        """The live record of credential ``key``."""
        found = self.live_credentials[key]
        assert found is not None
        return found

    def with_credential_state(self, key: str, app: str = "billing", **changes: Any
                              ) -> Scenario:
        """State's record of credential ``key`` with ``changes`` (None: forgotten)."""
        st = self.app_state(app)
        creds = dict(st.credentials)
        if changes.get("forget"):
            creds.pop(key)
        else:
            creds[key] = replace(creds[key], **changes)
        return self.with_app_state(app, credentials=creds)

    def at(self, moment: datetime) -> Scenario:
        """The planner's clock at ``moment``."""
        return replace(self, now=moment)


def _recorded(app: AppSpec, desired: Desired, st: AppState) -> dict[str, CredentialState]:
    out = {}
    facts = OrgFacts(MY_DOMAIN, LOGIN_HOST)
    for cred in app.credentials:
        target = target_for(desired.instances[cred.instance])
        prints = {k: value_fingerprint(v) for k, v in
                  public_fields(target, app, cred, st.consumer_key, facts).items()}
        secret = target.secret_field(cred.type)
        if cred.type == "jwt":
            assert st.certificate is not None
            prints[secret] = st.certificate.public_key_fingerprint
        else:
            assert st.consumer_secret_fingerprint is not None
            prints[secret] = st.consumer_secret_fingerprint
        out[credential_key(cred)] = CredentialState(
            instance=cred.instance, name=cred.name, type=target.record_type(cred.type),
            record_id=target.derive_record_id(cred.instance, cred.name), sink="api",
            field_fingerprints=prints, updated_at=NOW - timedelta(days=1))
    return out


def converged(folder: Path, *docs: str, key_size: int | None = None) -> Scenario:
    """Every app of ``docs`` (default: :func:`app_doc`) applied and unchanged since;
    ``key_size``: the size of the deployed keys when it is not the spec's."""
    return converged_from(load(folder, *(docs or (app_doc(),))), key_size=key_size)


def from_nothing(desired: Desired) -> Scenario:
    """Nothing applied yet: empty state, no app in any org, no record on any server."""
    live_creds: dict[str, LiveCredential | None] = {
        credential_key(c): None for a in desired.apps.values() for c in a.credentials}
    return Scenario(desired, State(), {name: None for name in desired.apps}, live_creds)


def converged_from(desired: Desired, *, key_size: int | None = None) -> Scenario:
    """Every app of ``desired`` applied and unchanged since."""
    apps: dict[str, AppState] = {}
    live_apps: dict[str, LiveApp | None] = {}
    live_creds: dict[str, LiveCredential | None] = {}
    for app in desired.apps.values():
        # A blue/green partner is the standby: its certificate's key was thrown away.
        standby = app.pair is not None and app.pair.side == "green"
        keys = (key_material(key_size or app.certificate.key_size, 1 if standby else 0)
                if app.certificate else None)
        cert = CertificateRecord.from_pem(keys.certificate_pem) if keys else None
        consumer_key = PARTNER_CONSUMER_KEY if standby else CONSUMER_KEY
        st = AppState(
            org=app.org, api_name=app.api_name, app_type=app.app_type,
            consumer_key=consumer_key, created_at=NOW - timedelta(days=1),
            consumer_secret_fingerprint=CONSUMER_SECRET.fingerprint(), certificate=cert,
            last_rotation=None, key_retired=standby,
            partner_of=app.primary if standby else None)
        st = replace(st, credentials=_recorded(app, desired, st))
        apps[app.name] = st
        org = desired.orgs[app.org]
        view = desired_view(app, org, desired.callback_urls(app), cert.pem if cert else None)
        live_apps[app.name] = LiveApp(replace(view, consumer_key=consumer_key))
        for key, rec in st.credentials.items():
            assert rec.record_id is not None
            live_creds[key] = LiveCredential(rec.record_id, rec.name, rec.type, "connected"
                                             if rec.type == "salesforceOAuth2Api" else None)
    return Scenario(desired, State("lineage-1", 3, apps), live_apps, live_creds)


def rotation_at(scenario: Scenario, days_ago: int) -> Rotation:
    """A last rotation ``days_ago`` days before the planner's clock."""
    return Rotation(scenario.now - timedelta(days=days_ago), "due by policy")


def view(scenario: Scenario, app: str = "billing") -> AppView:
    """The org's view of ``app``."""
    live = scenario.live_apps[app]
    assert live is not None
    return live.view
