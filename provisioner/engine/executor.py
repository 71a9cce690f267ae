"""The executor: carries out a plan. One Metadata API deploy per org, then the JWT verification,
then the Workflow² records; state saved and journaled around every remote step.

Order per org: generate keys (in parallel) -> journal intents -> one deploy (transactional) ->
state -> verify each new key with a real token exchange (in parallel, through the propagation
delay) -> roll a failed rotation back to the previous certificate. Then the records
(:mod:`provisioner.engine.records`): JWT records of verified apps, OAuth2 records of deployed
apps -> let Workflow² test its JWT records. A failed org is reported and the others carry on.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from provisioner.engine.context import RunContext
from provisioner.engine.live import LiveSnapshot
from provisioner.engine.records import ApplyResult, Generated, RecordWriter
from provisioner.engine.statewriter import (
    StateWriter,
    apply_deploy,
    apply_rollback,
    apply_secret_read,
    apply_unverified,
    deploy_facts,
    rollback_facts,
)
from provisioner.errors import ProvisionerError, RemoteError, VerificationError
from provisioner.events import DeployPolled, LoginWaiting, MaterialMade
from provisioner.journal import Journal, JournalStep
from provisioner.keys import KeyMaterial, KeyRequest
from provisioner.model import AppSpec
from provisioner.plan.types import AppChange, Plan
from provisioner.secret import Secret
from provisioner.state import AppState, State

_DEPLOYING = ("create", "update", "rotate", "replace", "retire")
_SECRET_HINT = (
    "turn on the org setting 'Allow Access to OAuth Consumer Secrets via Metadata API' (and give "
    "the deploy user 'View External Client Apps Consumer Secrets in Metadata'), then run apply "
    "again: it asks the org for another secret and reads it back; the OAuth2 credential keeps "
    "the old secret until then and cannot connect")


def key_request(app: AppSpec, now: Any, *, retired: bool = False) -> KeyRequest:
    """The key and certificate an app gets (``retired``: one whose key is thrown away)."""
    assert app.certificate is not None
    what = "retired" if retired else "provisioner"
    return KeyRequest(name=app.name, subject=f"{app.api_name} ({app.org}) {what}",
                      key_size=app.certificate.key_size,
                      validity_days=app.certificate.validity_days, now=now)


class KeyPrefetch:
    """Keys made in the background while a run signs in and reads, for the apps that will
    certainly need one: those with a certificate that state does not know (a new app gets a
    key; an app made outside provisioner has a certificate whose key nobody holds). Key
    generation is CPU that would otherwise start only once the plan is made. Unused keys are
    dropped with the run: they never leave memory. One key per task, so closing the prefetch
    (a plan error, a cancelled apply) waits for the keys in progress only."""

    def __init__(self, ctx: RunContext, state: State) -> None:
        self._requests: dict[str, KeyRequest] = {}
        for app in ctx.desired.apps.values():
            if app.certificate is not None and app.name not in state.apps:
                standby = app.pair is not None and app.pair.side == "green"
                self._requests[app.name] = key_request(app, ctx.now(), retired=standby)
        self._pool = ThreadPoolExecutor(max_workers=max(1, ctx.options.max_workers),
                                        thread_name_prefix="key-prefetch")
        keys = ctx.services.keys
        self._futures = {name: self._pool.submit(keys.key_pairs, [request], max_workers=1)
                         for name, request in self._requests.items()}

    def take(self, request: KeyRequest) -> KeyMaterial | None:
        """The prefetched keys for ``request`` (same app, size, validity and subject), once."""
        mine = self._requests.pop(request.name, None)
        future = self._futures.pop(request.name, None)
        if mine is None or future is None or (
                mine.subject, mine.key_size, mine.validity_days) != (
                request.subject, request.key_size, request.validity_days):
            return None
        return future.result().get(request.name)

    def close(self) -> None:
        """Drop the keys not started; wait for those in progress (never left running)."""
        self._pool.shutdown(wait=True, cancel_futures=True)


class Executor:
    """Applies one plan within one run context."""

    def __init__(self, ctx: RunContext, snap: LiveSnapshot, writer: StateWriter, journal: Journal):
        self.ctx = ctx
        self.snap = snap
        self.writer = writer
        self.journal = journal
        self.result = ApplyResult()
        self.material = Generated()
        #: each app's state before this run's deploy (what a rollback restores).
        self.before: dict[str, AppState] = {}
        #: existing apps whose deploy asks the org for a new consumer secret (read back after).
        self.org_generated_secrets: set[str] = set()
        #: blue/green apps whose key is retired after the records (they keep it in the deploy).
        self.retire_later: set[str] = set()
        #: One HTTP session per org for the verification logins (token + userinfo): its
        #: connections are reused instead of a TLS handshake per request.
        self._login_http: dict[str, Any] = {}
        self._login_http_lock = threading.Lock()

    # -- generation ----------------------------------------------------------------------------
    def generate(self, plan: Plan, prefetched: KeyPrefetch | None = None) -> None:
        """Keys for every app that gets a new certificate (in parallel; those ``prefetched``
        made while the run read the org are taken from it); consumer keys/secrets."""
        desired = self.ctx.desired
        keys = self.ctx.services.keys
        requests = []
        retired = set()
        ready: dict[str, KeyMaterial] = {}
        for change in plan.apps:
            app = desired.apps.get(change.app)
            if app is None:
                continue
            if (change.new_certificate or change.retired_certificate) and (
                    app.certificate is not None):
                request = key_request(app, self.ctx.now(), retired=change.retired_certificate)
                made = prefetched.take(request) if prefetched is not None else None
                if made is not None:
                    ready[app.name] = made
                else:
                    requests.append(request)
                if change.retired_certificate:
                    retired.add(app.name)
            if change.action in ("create", "replace"):
                self.material.consumer_keys[app.name] = keys.consumer_key()
            if change.new_consumer_secret and change.action not in ("create", "replace"):
                # An existing app: the org generates the secret; it is read back after the deploy.
                self.org_generated_secrets.add(app.name)
            elif change.new_consumer_secret:
                secret = keys.consumer_secret()
                self.material.consumer_secrets[app.name] = secret
                self.ctx.observe(MaterialMade(app.name, "consumer secret", secret))
        if ready:
            self.ctx.progress(f"{len(ready)} key pair(s) and certificate(s) were made while the "
                              "org was read")
        if requests:
            self.ctx.progress(f"generating {len(requests)} key pair(s) and certificate(s)")
        made_keys = dict(ready)
        if requests:
            made_keys |= keys.key_pairs(requests, max_workers=self.ctx.options.max_workers)
        if made_keys:
            for name, made in made_keys.items():
                if name in retired:  # the key is dropped here: nothing can sign in with it
                    self.material.retired[name] = made.certificate_pem
                    continue
                self.material.keys[name] = made
                self.ctx.observe(MaterialMade(name, "private key", made.private_key))

    # -- deploy --------------------------------------------------------------------------------
    def _certificate_for(self, app: AppSpec, *, retire: bool = False) -> str | None:
        if retire or (app.name in self.material.retired and app.name not in self.retire_later):
            return self.material.retired.get(app.name)
        if app.name in self.material.keys:
            return self.material.keys[app.name].certificate_pem
        st = self.writer.state.apps.get(app.name)
        if app.certificate is not None and st is not None and st.certificate is not None:
            return st.certificate.pem
        return None

    def _components(self, app: AppSpec, **material: Any) -> list[Any]:
        """The app's Metadata API components with this run's (or state's) material; an existing
        app's components keep the fields the org has that the spec does not manage."""
        from provisioner.appkinds import app_kind, build_components
        from provisioner.metadata.merge import merge_component

        desired = self.ctx.desired
        live = self.snap.apps.get(app.name)
        built = build_components(app, desired.orgs[app.org],
                                 desired.callback_urls(app, self.snap.callback_urls),
                                 names=live.names if live is not None else None, **material)
        if live is None:
            return built
        managed = app_kind(app.app_type).managed_fields
        return [merge_component(c, live.components.get(c.type),
                                managed.get(c.type, frozenset())).component for c in built]

    def _deploy(self, org_name: str, components: Sequence[Any],
                destructive: Sequence[tuple[str, str]] = ()) -> Any:
        """One deploy to ``org_name``, polled with backoff, its progress shown. App headers among
        ``destructive`` are deleted after everything else (their children first), which works
        whether or not the org deletes an app's children with it."""
        from provisioner.appkinds import kinds
        from provisioner.metadata.package import deploy_zip
        from provisioner.salesforce.deploy import PollPolicy, deploy

        org = self.ctx.desired.orgs[org_name]
        headers = {k.header_type for k in kinds().values() if len(k.component_types) > 1}
        return deploy(
            self.ctx.connection(org_name),
            deploy_zip(list(components), org.api_version,
                       destructive=[d for d in destructive if d[0] not in headers],
                       destructive_post=[d for d in destructive if d[0] in headers]),
            poll=PollPolicy(timeout=self.ctx.options.deploy_timeout),
            on_progress=lambda p: self.ctx.observe(DeployPolled(
                org_name, p.deploy_id, p.status, p.components_deployed, p.components_total,
                p.elapsed)),
        )

    def _destructive(self, change: AppChange) -> list[tuple[str, str]]:
        """The components to delete: those the org has, under their names (a member the org
        lacks fails the whole deploy on a real org); the usual names when it was not read."""
        from provisioner.appkinds import app_kind

        kind = app_kind(change.app_type)
        live = self.snap.apps.get(change.app)
        if live is not None and live.names:
            return [(t, live.names[t]) for t in kind.component_types if t in live.names]
        return list(kind.component_names(change.api_name).items())

    def deploy_org(self, org_name: str, changes: Sequence[AppChange]) -> set[str]:
        """Deploy every change in ``org_name``: one transactional deploy, or several when the
        apps' files pass Salesforce's limit per deploy (an app is never split); state updated
        after each. Returns the apps whose deploy failed (their failures are in the result)."""
        from provisioner.metadata.package import deploy_batches

        units: list[tuple[str, dict[str, Any], list[Any]]] = []
        destructive: list[tuple[str, str]] = []
        deletes: list[str] = []
        failed: set[str] = set()
        for change in changes:
            if change.after_records:
                self.retire_later.add(change.app)
                if change.action in ("retire", "delete"):
                    continue  # after the records (see retire_after_records)
            if change.action == "delete":
                if change.app not in self.snap.apps:
                    # Never read: absence from the snapshot is not absence from the org.
                    self.result.failures.append(ProvisionerError(
                        f"app {change.app!r} in org {org_name!r} was not read in this run, so "
                        "it is neither deleted nor forgotten", "run plan again"))
                    continue
                if self.snap.apps[change.app] is not None:  # None: already gone, state only
                    destructive.extend(self._destructive(change))
                deletes.append(change.app)
                continue
            units.append(self._deploy_unit(change))
        batches = deploy_batches([len(u[2]) for u in units], self.ctx.options.max_deploy_files)
        for n, batch in enumerate(batches):
            last = n == len(batches) - 1
            part = [units[i] for i in batch]
            try:
                self._deploy_batch(org_name, part, deletes if last else [],
                                   destructive if last else [],
                                   f" ({n + 1} of {len(batches)})" if len(batches) > 1 else "")
            except ProvisionerError as exc:
                self.result.failures.append(exc)
                failed |= {name for name, _, _ in part} | (set(deletes) if last else set())
        return failed

    def _deploy_unit(self, change: AppChange) -> tuple[str, dict[str, Any], list[Any]]:
        """An app's deploy: its journal facts and its components with this run's material."""
        app = self.ctx.desired.apps[change.app]
        consumer_key = self.material.consumer_keys.get(app.name)
        secret = self.material.consumer_secrets.get(app.name)
        org_secret = app.name in self.org_generated_secrets
        pem = self._certificate_for(app)
        components = self._components(
            app, certificate_pem=pem, consumer_key=consumer_key, consumer_secret=secret,
            rotate_consumer_secret=org_secret)
        live_key = self.snap.apps.get(app.name)
        retiring = app.name in self.material.retired and app.name not in self.retire_later
        facts = deploy_facts(
            action=change.action, api_name=app.api_name, app_type=app.app_type,
            consumer_key=consumer_key or (live_key.view.consumer_key if live_key else None),
            certificate_pem=pem if (app.name in self.material.keys or retiring) else None,
            consumer_secret_fingerprint=secret.fingerprint() if secret else None,
            reason="; ".join(change.rotate_reasons) or None,
            consumer_secret_rotated=org_secret,
            key_retired=retiring, partner_of=app.pair.primary if (
                app.pair is not None and app.pair.side == "green") else None,
        )
        return app.name, facts, components

    def _deploy_batch(self, org_name: str, units: Sequence[tuple[str, dict[str, Any], list[Any]]],
                      deletes: Sequence[str], destructive: Sequence[tuple[str, str]],
                      part: str) -> None:
        """One transactional deploy; its intents are written (and fsynced) together, and so are
        its outcomes."""
        from provisioner.salesforce.deploy import DeployFailedError

        desired = self.ctx.desired
        components = [c for _, _, comps in units for c in comps]
        ids = self.journal.record_intents(
            [JournalStep("deploy", org=org_name, app=name, facts=facts) for name, facts, _ in units]
            + [JournalStep("delete", org=org_name, app=name) for name in deletes])
        if not components and not destructive:  # deletions of apps already gone from the org
            self.writer.update(functools.partial(_forget_apps, names=deletes))
            self.journal.mark_all_done([(step_id, None) for step_id in ids])
            return
        self.ctx.progress(f"deploying {len(components)} component(s) of {len(units)} app(s)"
                          + (f", deleting {len(deletes)} app(s)," if deletes else "")
                          + f" to org {org_name} in one deploy{part}")
        try:
            result = self._deploy(org_name, components, destructive)
        except DeployFailedError as exc:
            # The org refused the whole deploy (one transaction): nothing changed, so the steps
            # are settled; the next run has nothing to recover from them.
            self.journal.mark_all_done([(step_id, {"failed": True}) for step_id in ids])
            raise _map_deploy_failure(exc, desired.apps_in(org_name)) from exc
        except RemoteError as exc:
            # Outcome unknown (the org may still finish it): the intents stay pending.
            raise _map_deploy_failure(exc, desired.apps_in(org_name)) from exc
        self.result.deploys += 1
        self.result.components += len(components)
        earlier = self.result.deploy_ids.get(org_name)
        self.result.deploy_ids[org_name] = (f"{earlier},{result.deploy_id}" if earlier
                                            else result.deploy_id)
        at = self.ctx.now()
        for name, _, _ in units:
            if name in self.writer.state.apps:
                self.before[name] = self.writer.state.apps[name]

        def record(state: Any) -> None:
            for name, facts, _ in units:
                apply_deploy(state, name, org_name, facts, at)
            _forget_apps(state, names=deletes)
            self.journal.mark_all_done([(step_id, {"deployId": result.deploy_id})
                                        for step_id in ids])

        self.writer.update(record)
        self._read_back_secrets(org_name, [n for n, _, _ in units
                                           if n in self.org_generated_secrets])

    def _read_back_secrets(self, org_name: str, names: Sequence[str]) -> None:
        """Read the consumer secrets the org generated in this run's deploy; an app whose secret
        cannot be read is a failure (its OAuth2 records are then not written)."""
        from provisioner.appkinds import app_kind
        from provisioner.salesforce.reader import read_components

        for name in names:
            app = self.ctx.desired.apps[name]
            kind = app_kind(app.app_type)
            live = self.snap.apps.get(name)
            full_name = (live.names.get(kind.secret_type) if live is not None else None) or (
                kind.component_names(app.api_name)[kind.secret_type])
            what = f"the consumer secret org {org_name!r} generated for app {name!r}"
            try:
                found = read_components(self.ctx.connection(org_name), kind.secret_type,
                                        [full_name])
            except ProvisionerError as exc:
                self.result.failures.append(RemoteError(
                    f"reading {what} failed: {exc.message}", _SECRET_HINT))
                continue
            component = found.get(full_name)
            value = component.fields.get("consumerSecret") if component is not None else None
            if not isinstance(value, Secret) or not value.reveal():
                self.result.failures.append(RemoteError(
                    f"{what} was not returned by a read of {kind.secret_type} {full_name}",
                    _SECRET_HINT))
                continue
            self.material.consumer_secrets[name] = value
            self.ctx.observe(MaterialMade(name, "consumer secret", value))
            self.writer.update(functools.partial(apply_secret_read, app=name,
                                                 fingerprint=value.fingerprint()))

    # -- verification --------------------------------------------------------------------------
    def verify_org(self, org_name: str, changes: Sequence[AppChange]) -> set[str]:
        """Verify every new key of the org; returns the apps whose login failed."""
        todo = [c for c in changes if c.app in self.material.keys]
        failed: set[str] = set()
        if not todo:
            return failed
        workers = max(1, min(self.ctx.options.max_logins, len(todo)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {c.app: pool.submit(self._verify_app, c) for c in todo}
            for name, fut in futures.items():
                error = fut.result()
                if error is not None:
                    failed.add(name)
                    self.result.failures.append(error)
        # A revoked (leaked) key is never deployed back; a blue/green side that failed to take
        # over is not rolled back either: the credentials still use the other side.
        rollbacks = [c for c in todo if c.app in failed and c.action == "rotate"
                     and not c.revoke_first and c.pair_side is None]
        if rollbacks:
            try:
                self._roll_back(org_name, rollbacks)
            except ProvisionerError as exc:
                names = ", ".join(c.app for c in rollbacks)
                self.result.failures.append(RemoteError(
                    f"org {org_name!r}: deploying the previous certificate back to app(s) {names} "
                    f"failed: {exc.message}",
                    "run apply again: it rotates to a new key and verifies it (the credential "
                    "records still hold the previous key)",
                ))
        for change in todo:
            if change.app in failed and (change.action != "rotate" or change not in rollbacks):
                step = self.journal.record_intent(JournalStep("unverified", org=org_name, app=change.app))
                self.writer.update(functools.partial(_forget_certificate, app=change.app))
                self.journal.mark_done(step)
        return failed

    def _login_session(self, org_name: str) -> Any:
        from requests.adapters import HTTPAdapter

        from provisioner.httppolicy import PolicySession

        with self._login_http_lock:
            if org_name not in self._login_http:
                http = PolicySession()
                pool = max(10, self.ctx.options.max_logins)
                http.mount("https://", HTTPAdapter(pool_connections=1, pool_maxsize=pool))
                self._login_http[org_name] = http
            return self._login_http[org_name]

    def close(self) -> None:
        """Close the run's login sessions."""
        for http in self._login_http.values():
            http.close()

    def _verify_app(self, change: AppChange) -> VerificationError | None:
        from provisioner.salesforce import endpoints
        from provisioner.salesforce.verify import verify_jwt_login

        app = self.ctx.desired.apps[change.app]
        username = app.integration_username
        if username is None:
            self.ctx.progress(f"app {app.name}: no JWT credential names an integration user, "
                              "so the new key is not verified by a login")
            return None
        org = self.ctx.desired.orgs[app.org]
        conn = self.ctx.connection(app.org)
        consumer_key = self.writer.state.apps[app.name].consumer_key
        step = self.journal.record_intent(JournalStep("verify", org=app.org, app=app.name))
        self.ctx.progress(f"verifying the JWT login of app {app.name} as {username}")
        try:
            login = verify_jwt_login(
                token_url=endpoints.token_url(org, conn),
                audience=endpoints.token_audience(org, app.app_type, conn),
                client_id=consumer_key, username=username,
                private_key=self.material.keys[app.name].private_key,
                verify_tls=conn.verify, timeout=self.ctx.options.verify_timeout,
                http=self._login_session(app.org),
                who=f"app {app.name!r} in org {app.org!r}",
                on_wait=lambda w: self.ctx.observe(
                    LoginWaiting(app.name, w.cause, w.delay, w.elapsed)),
            )
        except VerificationError as exc:
            self.journal.mark_done(step, {"verified": False})
            return exc
        self.journal.mark_done(step, {"attempts": login.attempts})
        self.result.verified.append(app.name)
        st = self.writer.state.apps[app.name]
        if change.action == "rotate" and st.certificate is not None:
            previous = st.previous_certificate.fingerprint if st.previous_certificate else None
            self.result.rotations[app.name] = (previous, st.certificate.fingerprint)
        return None

    def _roll_back(self, org_name: str, changes: Sequence[AppChange]) -> None:
        """Deploy the previous certificates back (they are public; state keeps them)."""
        desired = self.ctx.desired
        components = []
        ids = []
        for change in changes:
            app = desired.apps[change.app]
            previous = self.writer.state.apps[app.name].previous_certificate
            if previous is None:
                continue
            components.extend(self._components(app, certificate_pem=previous.pem))
            facts = rollback_facts(previous, self.before.get(app.name))
            ids.append((app.name, facts, self.journal.record_intent(JournalStep(
                "rollback", org=org_name, app=app.name, facts=facts))))
        if not components:
            return
        self.ctx.progress(f"rolling back {len(ids)} app(s) in org {org_name} to the previous "
                          "certificate")
        self._deploy(org_name, components)
        self.result.deploys += 1

        def record(state: Any) -> None:
            for name, facts, step_id in ids:
                apply_rollback(state, name, facts)
                self.journal.mark_done(step_id)
                self.result.rolled_back.append(name)

        self.writer.update(record)


    # -- blue/green: after the records -----------------------------------------------------------
    def retire_after_records(self, plan: Plan, undeployed: set[str]) -> None:
        """Retire the old side's key of every blue/green switch whose JWT credentials now use the
        new side and passed Workflow²'s test (and delete partners no longer wanted); one deploy
        per org. A switch that did not finish keeps the old key live: the next run finishes it."""
        by_org: dict[str, list[AppChange]] = {}
        for change in plan.apps:
            if not change.after_records or change.app in undeployed:
                continue
            primary = self._primary_of(change)
            problem = self._switch_problem(plan, primary)
            if problem:
                self.ctx.progress(f"app {change.app}: its key stays live: {problem}")
                continue
            by_org.setdefault(change.org, []).append(change)
        for org_name, changes in sorted(by_org.items()):
            try:
                self._retire_org(org_name, changes)
            except ProvisionerError as exc:
                self.result.failures.append(RemoteError(
                    f"org {org_name!r}: retiring the old blue/green key of "
                    f"{', '.join(c.app for c in changes)} failed: {exc.message}",
                    "run apply again: the credentials already use the new key, and the next run "
                    "retires the old one"))

    def _primary_of(self, change: AppChange) -> str:
        app = self.ctx.desired.apps.get(change.app)
        if app is not None:
            return app.primary
        st = self.writer.state.apps.get(change.app)
        return st.partner_of if st is not None and st.partner_of else change.app

    def _switch_problem(self, plan: Plan, primary: str) -> str | None:
        """Why the JWT credentials of ``primary`` did not finish switching in this run, if so."""
        for cred in plan.credentials:
            if cred.app != primary or cred.type != "salesforceJwtApi" or cred.action in (
                    "no-op", "delete"):
                continue
            if cred.key not in self.result.records_written:
                return f"the JWT credential {cred.key!r} was not written"
            verdict = self.result.tests.get(cred.key, "OK")
            if verdict != "OK":
                return f"Workflow²'s test of the JWT credential {cred.key!r} failed"
        return None

    def _retire_org(self, org_name: str, changes: Sequence[AppChange]) -> None:
        components = []
        destructive: list[tuple[str, str]] = []
        steps: list[tuple[str, str, dict[str, str | None] | None]] = []
        for change in changes:
            if change.action == "delete":
                if self.snap.apps.get(change.app) is not None:
                    destructive.extend(self._destructive(change))
                steps.append((change.app, self.journal.record_intent(
                    JournalStep("delete", org=org_name, app=change.app)), None))
                continue
            app = self.ctx.desired.apps[change.app]
            pem = self._certificate_for(app, retire=True)
            components.extend(self._components(app, certificate_pem=pem))
            facts = deploy_facts(
                action="retire", api_name=app.api_name, app_type=app.app_type,
                consumer_key=self.writer.state.apps[app.name].consumer_key, certificate_pem=pem,
                consumer_secret_fingerprint=None, reason=None, key_retired=True)
            steps.append((app.name, self.journal.record_intent(
                JournalStep("deploy", org=org_name, app=app.name, facts=facts)), facts))
        self.ctx.progress(f"retiring the old blue/green key of {len(steps)} app(s) in org "
                          f"{org_name} in one deploy")
        from provisioner.salesforce.deploy import DeployFailedError

        try:
            result = self._deploy(org_name, components, destructive)
        except DeployFailedError:
            for _, step_id, _ in steps:
                self.journal.mark_done(step_id, {"failed": True})
            raise
        self.result.deploys += 1
        self.result.components += len(components)
        at = self.ctx.now()

        def record(state: Any) -> None:
            for name, step_id, facts in steps:
                if facts is None:
                    state.apps.pop(name, None)
                else:
                    apply_deploy(state, name, org_name, facts, at)
                self.journal.mark_done(step_id, {"deployId": result.deploy_id})

        self.writer.update(record)
        self.result.retired.extend(name for name, _, _ in steps)


def _forget_certificate(state: State, *, app: str) -> None:
    apply_unverified(state, app)


def _forget_apps(state: State, *, names: Sequence[str]) -> None:
    for name in names:
        state.apps.pop(name, None)




def _map_deploy_failure(exc: RemoteError, apps: Sequence[AppSpec]) -> RemoteError:
    """The deploy error with each component failure pointed at its spec file and app."""
    failures = getattr(exc, "failures", ())
    if not failures:
        return exc
    lines = [exc.message.splitlines()[0]]
    for failure in failures:
        owner = _owner(failure.full_name or failure.file_name or "", apps)
        where = f"{owner.source}: app {owner.name!r}: " if owner else ""
        lines.append(f"  - {where}{failure.describe()}")
    return RemoteError("\n".join(lines), exc.hint)


def _owner(name: str, apps: Sequence[AppSpec]) -> AppSpec | None:
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    best = None
    for app in apps:
        matches = stem == app.api_name or stem.startswith(app.api_name + "_")
        if matches and (best is None or len(app.api_name) > len(best.api_name)):
            best = app
    return best


def execute(
    plan: Plan, ctx: RunContext, snap: LiveSnapshot, writer: StateWriter, journal: Journal,
    prefetched: KeyPrefetch | None = None,
) -> ApplyResult:
    """Carry out ``plan``; failures of single orgs, apps and records are collected in the result.

    Orgs are independent: one org's failed deploy is reported and the others carry on, because the
    keys and secrets generated for them exist only in this run and must reach their records.
    """
    ex = Executor(ctx, snap, writer, journal)
    ex.generate(plan, prefetched)
    records = RecordWriter(ctx, snap, writer, journal, ex.material, ex.result)
    kept = records.delete_first(plan)  # records of deleted apps go first (see delete_first)
    by_org: dict[str, list[AppChange]] = {}
    for change in plan.apps:
        if change.action == "delete" and change.app in kept:
            continue  # its records are still there: deleting it would orphan them
        if change.action in _DEPLOYING or change.action == "delete":
            by_org.setdefault(change.org, []).append(change)
    unverified: set[str] = set()
    undeployed: set[str] = set()
    try:
        for org_name, changes in sorted(by_org.items()):
            failed = ex.deploy_org(org_name, changes)
            undeployed |= failed
            unverified |= ex.verify_org(org_name, [c for c in changes if c.action != "delete"
                                                   and c.app not in failed])
    finally:
        ex.close()
    records.write(plan, unverified, undeployed)
    ex.retire_after_records(plan, undeployed)
    # Keep the journal while a step's outcome is unknown: the next run must know about it.
    if not journal.pending():
        journal.clear()
    return ex.result


__all__ = ["ApplyResult", "Executor", "Generated", "KeyPrefetch", "execute", "key_request"]
