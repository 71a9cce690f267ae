"""The emulated org: persisted state, users, sessions, settings and the in-process handle.

All access goes through one re-entrant lock; every change is written to ``org.json`` atomically
(temp file, fsync, rename) before the request that made it is answered, so a restart, or a crash,
keeps everything a client was told about.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provisioner.fsutil import atomic_write

from . import catalog as c
from .seed import (
    SecretBox,
    SeedError,
    bootstrap_components,
    ensure_bootstrap_key,
    load_seed,
    make_user,
    new_id,
    seed_users,
)
from .store import SECRET_PERMISSION, Store, oauth_part

STATE_FILE = "org.json"
SETTINGS_DEFAULTS: dict[str, Any] = {
    "connectedAppCreationDisabled": True,
    "ecaJwtAudience": "myDomain",
    "connectedAppJwtAudience": "loginHost",
    "oauthConsumerSecretsViaMetadataApi": True,
    "sessionLifetimeSeconds": 7200,
    "deployProcessingSeconds": 0.1,
    # Whether reads return an app's certificate. Unconfirmed either way: a tool that ran
    # against live orgs reports that an External Client App's certificate never comes back
    # from reads (issue 9's review), the Metadata API guide lists the field as readable. Both
    # answers are emulated so the tool is proven robust to either.
    "certificatesReadable": True,
    # What a certificate change does to the certificate it replaces while the change propagates.
    # "propagated": the app keeps its previous certificate until the new one takes effect (a
    # change "can take up to 10 minutes to take effect": the old configuration serves until
    # then). "immediate": the old certificate stops at once and the new one works only after
    # the delay. Salesforce does not say which; both are emulated.
    "certificateCutover": "propagated",
}
_AUDIENCES = {"myDomain", "loginHost", "either"}
_CUTOVERS = {"propagated", "immediate"}
WRITE_OPERATIONS = {"createMetadata", "updateMetadata", "upsertMetadata", "deleteMetadata",
                    "renameMetadata", "deploy"}
_LOG_LIMIT = 10_000


def token_hash(token: str) -> str:
    """Sessions are stored by hash so the state file never holds a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Org:
    """The org model. Public methods are thread-safe and return copies."""

    def __init__(self, state_dir: Path, *, seed_file: Path | None = None,
                 propagation_delay: float = 0.0, clock: Callable[[], float] = time.time,
                 readonly: bool = False) -> None:
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.propagation_delay = propagation_delay
        self.clock = clock
        self.url = ""
        self.readonly = readonly
        self.request_log: list[dict[str, Any]] = []
        #: Called with (username, app, access token) for every session the org issues: a test
        #: watching the org counts sign-ins and plants the tokens as canaries.
        self.session_listeners: list[Callable[[str, str, str], None]] = []
        self.counters: collections.Counter[str] = collections.Counter()
        path = state_dir / STATE_FILE
        self.data: dict[str, Any] = {}
        self.box: SecretBox | None = None
        if readonly:
            # For inspecting a state dir another process may be serving: never write to it.
            self.bootstrap_key_path = state_dir / "bootstrap-key.pem"
            self.data = json.loads(path.read_text(encoding="utf-8"))
            return
        self.bootstrap_key_path, certificate = ensure_bootstrap_key(state_dir)
        self.box = SecretBox.in_dir(state_dir)
        if path.exists():
            try:
                self.data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise SeedError(f"{path} is corrupt ({exc}); remove it to reseed") from exc
        else:
            self.data = self._from_seed(load_seed(seed_file), certificate)
        self._sync_bootstrap_certificate(certificate)
        self.save()

    # -- construction and persistence ------------------------------------------------------
    def _from_seed(self, seed: dict[str, Any], certificate: str) -> dict[str, Any]:
        org = seed.get("org") or {}
        settings = dict(SETTINGS_DEFAULTS) | dict(org.get("settings") or {})
        data: dict[str, Any] = {
            "version": 1,
            "org": {"id": new_id("00D"), "name": org.get("name", "Provisioner Sandbox"),
                    "environment": org.get("environment", "sandbox"), "settings": settings},
            "profiles": list(seed.get("profiles") or []),
            "permissionSets": list(seed.get("permissionSets") or []),
            "users": seed_users(seed), "components": {}, "sessions": {}, "refreshTokens": {},
            "jobs": {}, "bootstrap": {},
        }
        store = Store(data, self.clock, 0.0, data["users"][0]["id"], box=self.box)
        creation_disabled = settings["connectedAppCreationDisabled"]
        settings["connectedAppCreationDisabled"] = False  # seeding may add any app
        comps = bootstrap_components(seed, certificate) + list(seed.get("components") or [])
        for comp in comps:
            _created, problems = store.save(str(comp["type"]), dict(comp["metadata"]), "upsert")
            if problems:
                raise SeedError(f"seed component {comp['metadata'].get('fullName')}: "
                                + "; ".join(p.message for p in problems))
        settings["connectedAppCreationDisabled"] = creation_disabled
        boot = seed.get("bootstrap") or {}
        name = str(boot.get("name", "Provisioner_Bootstrap"))
        global_md = store.records(c.ECA_GLOBAL)[f"{name}_glbloauth"]["metadata"]
        data["bootstrap"] = {"app": name, "globalSettings": f"{name}_glbloauth",
                             "consumerKey": global_md["consumerKey"],
                             "username": seed["users"][0]["username"]}
        return data

    def _sync_bootstrap_certificate(self, certificate: str) -> None:
        # If the key file was replaced, the app follows it (usable at once, as after seeding).
        rec = self.data["components"].get(c.ECA_GLOBAL, {}).get(
            self.data["bootstrap"].get("globalSettings", ""))
        if rec is not None and rec["metadata"].get("certificate") != certificate:
            rec["metadata"]["certificate"] = certificate
            rec["certUsableAt"] = 0.0

    def save(self) -> None:
        """Persist atomically: a reader never sees a half-written file."""
        if self.readonly:
            return
        with self.lock:
            atomic_write(self.state_dir / STATE_FILE,
                         json.dumps(self.data, indent=1, sort_keys=True))

    @contextmanager
    def store(self, user: dict[str, Any] | None = None, *, write: bool = True) -> Iterator[Store]:
        """A Store over the live state, under the lock; saved afterwards if ``write``."""
        with self.lock:
            yield Store(self.data, self.clock, self.propagation_delay,
                        user["id"] if user else "", self.may_see_secrets(user), self.box)
            if write:
                self.save()

    # -- settings and identity -------------------------------------------------------------
    @property
    def org_id(self) -> str:
        """The 18-character org id."""
        return str(self.data["org"]["id"])

    @property
    def environment(self) -> str:
        """``production`` or ``sandbox``."""
        return str(self.data["org"]["environment"])

    def login_host(self) -> str:
        """The login host matching the org's environment."""
        return ("https://test.salesforce.com" if self.environment == "sandbox"
                else "https://login.salesforce.com")

    def setting(self, name: str) -> Any:
        """One org setting (see SETTINGS_DEFAULTS and ``environment``)."""
        with self.lock:
            if name == "environment":
                return self.environment
            return self.data["org"]["settings"].get(name, SETTINGS_DEFAULTS.get(name))

    def set_setting(self, name: str, value: Any) -> None:
        """Change an org setting; unknown names and bad values raise ValueError."""
        if name == "environment":
            if value not in {"production", "sandbox"}:
                raise ValueError("environment must be production or sandbox")
        elif name not in SETTINGS_DEFAULTS:
            raise ValueError(f"unknown setting {name!r}; known: {sorted(SETTINGS_DEFAULTS)}")
        elif name.endswith("JwtAudience") and value not in _AUDIENCES:
            raise ValueError(f"{name} must be one of {sorted(_AUDIENCES)}")
        elif name == "certificateCutover" and value not in _CUTOVERS:
            raise ValueError(f"{name} must be one of {sorted(_CUTOVERS)}")
        elif isinstance(SETTINGS_DEFAULTS[name], bool) and not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        with self.lock:
            if name == "environment":
                self.data["org"]["environment"] = value
            else:
                self.data["org"]["settings"][name] = value
            self.save()

    # sandbox-rule: secrets-need-setting-and-permission (docs/salesforce-behaviour.md)
    def may_see_secrets(self, user: dict[str, Any] | None) -> bool:
        """Org setting plus user permission, as Salesforce requires for global OAuth settings."""
        return bool(self.setting("oauthConsumerSecretsViaMetadataApi")) and (
            user is None or SECRET_PERMISSION in user["permissions"])

    # -- users -------------------------------------------------------------------------------
    def users(self) -> list[dict[str, Any]]:
        """Every user, without password hashes."""
        with self.lock:
            return [{k: v for k, v in copy.deepcopy(u).items() if k != "passwordHash"}
                    for u in self.data["users"]]

    def find_user(self, username: str) -> dict[str, Any] | None:
        """The live record of a user (case-insensitive username), for handlers under the lock."""
        for user in self.data["users"]:
            if str(user["username"]).lower() == username.lower():
                return user  # type: ignore[no-any-return]
        return None

    def add_user(self, username: str, profile: str, *, permission_sets: list[str] | None = None,
                 permissions: list[str] | None = None, active: bool = True,
                 password: str | None = None) -> dict[str, Any]:
        """Add a user (e.g. a second integration user); returns it without the password hash."""
        with self.lock:
            if self.find_user(username) is not None:
                raise ValueError(f"user {username} exists")
            user = make_user(username, profile, permission_sets=permission_sets,
                             permissions=permissions, active=active, password=password)
            self.data["users"].append(user)
            self.save()
            return {k: v for k, v in user.items() if k != "passwordHash"}

    def update_user(self, username: str, **changes: Any) -> None:
        """Change a user's ``active``, ``profile``, ``permissionSets`` or ``permissions``."""
        with self.lock:
            user = self.find_user(username)
            if user is None:
                raise KeyError(username)
            for key, value in changes.items():
                if key not in {"active", "profile", "permissionSets", "permissions"}:
                    raise ValueError(f"cannot change {key}")
                user[key] = value
            self.save()

    def approve_app(self, username: str, app_name: str) -> None:
        """Record that a user approved a self-authorized app (what the OAuth consent page does)."""
        with self.lock:
            user = self.find_user(username)
            if user is None:
                raise KeyError(username)
            if app_name not in user["approvedApps"]:
                user["approvedApps"].append(app_name)
            self.save()

    def settle_propagation(self) -> int:
        """Make every pending app and certificate change usable now, as if the propagation delay
        had passed; returns how many changes were pending.

        Tests drive propagation with this instead of waiting on the wall clock: with a long
        delay nothing propagates by itself, so a busy machine cannot make a change arrive early.
        """
        with self.lock:
            now, pending = self.clock(), 0
            for records in self.data["components"].values():
                for rec in records.values():
                    for key in ("usableAt", "certUsableAt"):
                        if float(rec.get(key) or 0.0) > now:
                            rec[key], pending = now, pending + 1
            if pending:
                self.save()
            return pending

    # -- apps ---------------------------------------------------------------------------------
    def app(self, api_name: str) -> dict[str, Any] | None:
        """An app by API name: ``{type, fullName, consumerKey, certificate, components}``.

        ``components`` maps each metadata type to the component as a read returns it (never the
        consumer secret). For an External Client App it holds the whole family.
        """
        with self.lock:
            store = Store(self.data, self.clock, 0.0, may_see_secrets=False)
            comps: dict[str, Any] = {}
            if store.get(c.CONNECTED_APP, api_name) is not None:
                app_type = c.CONNECTED_APP
                comps[app_type] = store.read(app_type, api_name)
                holder = store.get(app_type, api_name)
            elif store.eca_exists(api_name):
                app_type = c.ECA
                comps[app_type] = store.read(app_type, api_name)
                for child in c.ECA_CHILDREN:
                    name = store.child_of(child, api_name)
                    if name is not None:
                        comps[child] = store.read(child, name)
                gname = store.child_of(c.ECA_GLOBAL, api_name)
                holder = store.get(c.ECA_GLOBAL, gname) if gname else None
            else:
                return None
            part = oauth_part(c.ECA_GLOBAL if app_type == c.ECA else app_type,
                              holder["metadata"]) if holder else None
            return {"type": app_type, "fullName": api_name, "components": comps,
                    "consumerKey": (part or {}).get("consumerKey"),
                    "certificate": (part or {}).get("certificate"),
                    "usableAt": holder["usableAt"] if holder else None,
                    "certUsableAt": holder["certUsableAt"] if holder else None}

    def apps(self) -> list[dict[str, Any]]:
        """Every app (Connected Apps and External Client Apps), as :meth:`app` returns them."""
        with self.lock:
            names = list(self.data["components"].get(c.CONNECTED_APP, {})) + list(
                self.data["components"].get(c.ECA, {}))
            return [a for a in (self.app(n) for n in sorted(names)) if a is not None]

    # -- sessions -----------------------------------------------------------------------------
    def new_session(self, user: dict[str, Any], app: str, scopes: list[str]) -> str:
        """Issue an access token for a user through an app."""
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        with self.lock:
            lifetime = float(self.setting("sessionLifetimeSeconds"))
            sessions = self.data["sessions"]
            now = self.clock()
            for key in [k for k, s in sessions.items() if s["expires"] < now]:
                del sessions[key]  # expired sessions are pruned so the file stays small
            sessions[token_hash(token)] = {"userId": user["id"], "app": app, "scopes": scopes,
                                           "expires": now + lifetime}
            # Not saved now: a session is not a durable change (saving the whole org per token
            # made N logins O(N²)); the next durable change saves it, and a restarted org simply
            # asks its clients to sign in again (INVALID_SESSION_ID), as Salesforce may.
        for listener in list(self.session_listeners):
            listener(str(user.get("username")), app, token)
        return token

    def session(self, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(session, user) for a live access token, else None."""
        with self.lock:
            sess = self.data["sessions"].get(token_hash(token))
            if sess is None or sess["expires"] < self.clock():
                return None
            user = next((u for u in self.data["users"] if u["id"] == sess["userId"]), None)
            if user is None or not user["active"]:
                return None
            return sess, user

    def expire_sessions(self) -> None:
        """Expire every access token (to reproduce INVALID_SESSION_ID on demand)."""
        with self.lock:
            self.data["sessions"].clear()
            self.save()

    def issue_refresh_token(self, username: str, consumer_key: str) -> str:
        """A refresh token for a user and app, as an sfdx auth URL would carry."""
        token = "5Aep" + secrets.token_urlsafe(48)
        with self.lock:
            user = self.find_user(username)
            if user is None:
                raise KeyError(username)
            self.data["refreshTokens"][token_hash(token)] = {"userId": user["id"],
                                                              "consumerKey": consumer_key}
            self.save()
        return token

    # -- request accounting -------------------------------------------------------------------
    def record(self, endpoint: str, operation: str, status: int, user: str | None = None) -> None:
        """Log one request; tests assert on these (e.g. "zero writes")."""
        with self.lock:
            self.counters[operation] += 1
            if operation in WRITE_OPERATIONS:
                self.counters["writes"] += 1
            self.request_log.append({"time": self.clock(), "endpoint": endpoint,
                                     "operation": operation, "status": status, "user": user,
                                     "write": operation in WRITE_OPERATIONS})
            del self.request_log[:-_LOG_LIMIT]

    @property
    def write_count(self) -> int:
        """Metadata write requests (CRUD writes and non-checkOnly deploys) so far."""
        with self.lock:
            return self.counters["writes"]

    def reset_request_log(self) -> None:
        """Forget logged requests and counters."""
        with self.lock:
            self.request_log.clear()
            self.counters.clear()
