"""The org's components: save, delete, read and list, with Salesforce's rules applied.

A :class:`Store` works on a plain dict (the persisted org state). Deploys run it on a deep copy and
commit only if the deploy succeeds, which gives ``checkOnly`` and ``rollbackOnError`` for free.
Callers hold the org lock.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import string
from collections.abc import Callable
from typing import Any

from . import catalog as c
from .seed import SecretBox, new_id, secret_hash
from .validation import Problem, validate

STANDARD_PROFILES = {"System Administrator", "Standard User", "Integration User",
                     "Minimum Access - Salesforce", "Read Only"}
SECRET_PERMISSION = "ViewExternalClientAppConsumerSecrets"
CREATION_DISABLED = (
    "You can't create a connected app. Connected app creation is disabled for this org: "
    "create an external client app instead, or ask Salesforce Support to enable it."
)


def iso(ts: float) -> str:
    """An xsd:dateTime in UTC with milliseconds, as Salesforce writes them."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _random_alnum(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


def _without_empty(md: dict[str, Any]) -> dict[str, Any]:
    """``md`` without fields sent empty (``""``, or a list of one empty element)."""
    out: dict[str, Any] = {}
    for key, value in md.items():
        if value == "" or value == [""]:
            continue
        out[key] = _without_empty(value) if isinstance(value, dict) else value
    return out


def key_holder(type_name: str) -> bool:
    """Types whose records carry a consumer key and secret."""
    return type_name in {c.CONNECTED_APP, c.ECA_GLOBAL}


def oauth_part(type_name: str, md: dict[str, Any]) -> dict[str, Any] | None:
    """The part of a component holding consumerKey/certificate (oauthConfig for Connected Apps)."""
    if type_name == c.CONNECTED_APP:
        oauth = md.get("oauthConfig")
        return oauth if isinstance(oauth, dict) else None
    return md if type_name == c.ECA_GLOBAL else None


class Store:
    """Component operations over the org state dict (see module docstring)."""

    def __init__(self, data: dict[str, Any], clock: Callable[[], float], delay: float,
                 user_id: str = "", may_see_secrets: bool = True,
                 box: SecretBox | None = None) -> None:
        self.data = data
        self.clock = clock
        self.delay = delay
        self.user_id = user_id
        self.may_see_secrets = may_see_secrets
        #: Seals the External Client App secrets reads return; without it none are kept.
        self.box = box

    # -- the validation.Context protocol --------------------------------------------------
    def profiles(self) -> set[str]:
        """Profiles the org knows: the standard ones plus every user's."""
        return STANDARD_PROFILES | {u["profile"] for u in self.data["users"]} | set(
            self.data.get("profiles", []))

    def permission_sets(self) -> set[str]:
        """Permission sets the org knows: seeded ones plus every user's."""
        found = {p for u in self.data["users"] for p in u["permissionSets"]}
        return found | set(self.data.get("permissionSets", []))

    def consumer_key_owner(self, key: str) -> tuple[str, str] | None:
        """Which component holds a consumer key (they are unique across the org)."""
        for type_name in (c.CONNECTED_APP, c.ECA_GLOBAL):
            for name, rec in self.records(type_name).items():
                part = oauth_part(type_name, rec["metadata"])
                if part is not None and part.get("consumerKey") == key:
                    return type_name, name
        return None

    def eca_exists(self, name: str) -> bool:
        """Whether an External Client App with this name exists."""
        return name in self.records(c.ECA)

    # sandbox-rule: eca-children-by-parent (docs/salesforce-behaviour.md)
    def child_of(self, type_name: str, eca: str) -> str | None:
        """The name of the sub-component of this type that belongs to an ECA, if any."""
        for name, rec in self.records(type_name).items():
            if rec["metadata"].get("externalClientApplication") == eca:
                return name
        return None

    # -- operations ------------------------------------------------------------------------
    def records(self, type_name: str) -> dict[str, dict[str, Any]]:
        """The stored records of one type, by fullName."""
        comps: dict[str, dict[str, dict[str, Any]]] = self.data.setdefault("components", {})
        return comps.setdefault(type_name, {})

    def get(self, type_name: str, name: str) -> dict[str, Any] | None:
        """One stored record, or None."""
        return self.records(type_name).get(name)

    def save(self, type_name: str, md: dict[str, Any], mode: str) -> tuple[bool, list[Problem]]:
        """Create/update/upsert one component; returns (created, problems)."""
        name = str(md.get("fullName") or "")
        existing = self.get(type_name, name) if name else None
        # sandbox-rule: deploy-replaces-component (docs/salesforce-behaviour.md)
        # The file sent replaces the component: a field left out is cleared, and so is one sent
        # empty. Except, as evidence says, a Connected App's profileName / permissionSetName:
        # left out, they stay; only an explicit empty element removes the last one.
        sent = md
        md = _without_empty(md)
        if existing is not None and type_name == c.CONNECTED_APP:
            for kept in ("profileName", "permissionSetName"):
                if kept not in sent and kept in existing["metadata"]:
                    md[kept] = copy.deepcopy(existing["metadata"][kept])
        if mode == "create" and existing is not None:
            return False, [Problem("DUPLICATE_VALUE", "duplicate value found: fullName duplicates "
                                   f"value on record with id: {existing['id']}", "fullName")]
        if mode == "update" and existing is None:
            return False, [Problem("INVALID_CROSS_REFERENCE_KEY",
                                   f"In field: fullName - no {type_name} named {name} found",
                                   "fullName")]
        if type_name == c.ECA_GLOBAL and not self.may_see_secrets:
            return False, [Problem("INSUFFICIENT_ACCESS", "You don't have access to OAuth consumer "
                                   "secrets through the Metadata API (org setting or user "
                                   "permission missing)")]
        if existing is None and type_name == c.CONNECTED_APP and self.data["org"]["settings"].get(
                "connectedAppCreationDisabled", True):
            # sandbox-rule: connected-app-creation-disabled (docs/salesforce-behaviour.md)
            return False, [Problem("INSUFFICIENT_ACCESS", CREATION_DISABLED)]
        problems = validate(type_name, md, existing=existing is not None, ctx=self)
        if problems:
            return False, problems
        self._apply(type_name, name, copy.deepcopy(md), existing)
        return existing is None, []

    def _apply(self, type_name: str, name: str, md: dict[str, Any],
               existing: dict[str, Any] | None) -> None:
        now = self.clock()
        rec = existing or {
            "id": new_id(c.TYPES[type_name].id_prefix), "createdDate": now,
            "createdById": self.user_id, "secretHash": None,
            # sandbox-rule: propagation-delay (docs/salesforce-behaviour.md)
            "usableAt": now + self.delay, "certUsableAt": now + self.delay,
        }
        part = oauth_part(type_name, md)
        if part is not None:
            secret = part.pop("consumerSecret", None)
            # An action, not a setting: Salesforce generates a new secret (documented for the
            # global OAuth settings of an External Client App).
            # sandbox-rule: secret-rotation-generated (docs/salesforce-behaviour.md)
            rotate = part.pop("shouldRotateConsumerSecret", None) in (True, "true")
            if existing is None or rotate:
                if existing is None:
                    part.setdefault("consumerKey", "3MVG9" + _random_alnum(80))
                # Salesforce always has a secret; one nobody was told is as good as none.
                value = str(secret or _random_alnum(64))
                rec["secretHash"] = secret_hash(value)
                if type_name == c.ECA_GLOBAL and self.box is not None:
                    # Kept (sealed) to be returned by reads, as Salesforce does for these.
                    rec["sealedSecret"] = self.box.seal(value)
            if existing is not None:
                old = oauth_part(type_name, existing["metadata"]) or {}
                if old.get("consumerKey"):
                    part["consumerKey"] = old["consumerKey"]
                if (old.get("certificate") or "").strip() != (part.get("certificate") or "").strip():
                    # sandbox-rule: certificate-change-propagates (docs/salesforce-behaviour.md)
                    if now >= float(rec.get("certUsableAt") or 0.0):
                        rec["previousCertificate"] = old.get("certificate")
                    rec["certUsableAt"] = now + self.delay
        rec.update(metadata=md, lastModifiedDate=now, lastModifiedById=self.user_id)
        self.records(type_name)[name] = rec

    def delete(self, type_name: str, name: str) -> list[Problem]:
        """Delete one component; deleting an External Client App removes its sub-components."""
        if self.get(type_name, name) is None:
            return [Problem("INVALID_CROSS_REFERENCE_KEY",
                            f"In field: fullName - no {type_name} named {name} found", "fullName")]
        if type_name == c.ECA_GLOBAL and not self.may_see_secrets:
            return [Problem("INSUFFICIENT_ACCESS", "You don't have access to OAuth consumer "
                            "secrets through the Metadata API")]
        del self.records(type_name)[name]
        # sandbox-rule: eca-header-delete-cascades (docs/salesforce-behaviour.md)
        if type_name == c.ECA:
            for child in c.ECA_CHILDREN:
                child_name = self.child_of(child, name)
                if child_name is not None:
                    del self.records(child)[child_name]
        return []

    def read(self, type_name: str, name: str) -> dict[str, Any] | None:
        """A component as reads return it: no secret, scopes canonicalised."""
        rec = self.get(type_name, name)
        if rec is None:
            return None
        md: dict[str, Any] = copy.deepcopy(rec["metadata"])
        md["fullName"] = name
        oauth = md.get("oauthConfig") if type_name == c.CONNECTED_APP else None
        if isinstance(oauth, dict):
            oauth.pop("consumerSecret", None)
            if oauth.get("scopes"):
                oauth["scopes"] = c.canonical_scopes(oauth["scopes"])
        if type_name == c.ECA_GLOBAL:
            # Returned to whoever may read these settings at all (the org setting and the user
            # permission; see may_see_secrets), as the Metadata API guide describes.
            # sandbox-rule: secret-returned-on-read (docs/salesforce-behaviour.md)
            md.pop("consumerSecret", None)
            if self.may_see_secrets and self.box is not None and rec.get("sealedSecret"):
                md["consumerSecret"] = self.box.open(rec["sealedSecret"])
        # sandbox-rule: certificates-maybe-unreadable (docs/salesforce-behaviour.md)
        if not self.data["org"]["settings"].get("certificatesReadable", True):
            md.pop("certificate", None)  # ECA global settings
            if isinstance(oauth, dict):
                oauth.pop("certificate", None)  # Connected App
        # sandbox-rule: scopes-canonicalised-on-read (docs/salesforce-behaviour.md)
        if type_name == c.ECA_OAUTH and md.get("commaSeparatedOauthScopes"):
            md["commaSeparatedOauthScopes"] = ",".join(
                c.canonical_scopes(c.split_scopes(md["commaSeparatedOauthScopes"])))
        return md

    def file_properties(self, type_name: str, name: str) -> dict[str, Any]:
        """A listMetadata FileProperties entry for one stored component."""
        rec = self.records(type_name)[name]
        users = {u["id"]: u["name"] for u in self.data["users"]}
        return {
            "createdById": rec["createdById"],
            "createdByName": users.get(rec["createdById"], "Sandbox"),
            "createdDate": iso(rec["createdDate"]),
            "fileName": c.TYPES[type_name].file_name(name),
            "fullName": name,
            "id": rec["id"],
            "lastModifiedById": rec["lastModifiedById"],
            "lastModifiedByName": users.get(rec["lastModifiedById"], "Sandbox"),
            "lastModifiedDate": iso(rec["lastModifiedDate"]),
            "manageableState": "unmanaged",
            "type": type_name,
        }
