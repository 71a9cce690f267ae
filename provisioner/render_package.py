"""``render``: the offline, reviewable output of an apply, written atomically.

For each org, the Metadata API deploy package exactly as an apply would send it (``package.xml``
plus the component files), with comments where material is generated at apply time (certificate,
consumer key, consumer secret). For each Workflow² instance, ``credentials.json``: the records an
apply would write, secret fields shown as ``(sensitive)``. Nothing is resolved from the
environment or from files, so no secret can reach the output, and the bytes depend only on the
specs.

:func:`render_files` is pure (Desired in, files out); :func:`write_render` puts them on disk: a
temporary sibling directory renamed into place, so an error never leaves a half-written tree.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provisioner.appkinds import app_kind, build_components
from provisioner.errors import ProvisionerError, UsageError
from provisioner.fsutil import atomic_write, fsync_dir
from provisioner.metadata import Component, package_files
from provisioner.model import AppSpec, CredentialSpec, Desired, OrgSpec
from provisioner.secret import REDACTED, Secret
from provisioner.targets import target_for
from provisioner.workflow2.records import CredentialRecord

#: A file render writes into every output directory, so a rerun knows the directory is its own.
MARKER = ".provisioner-render"
MARKER_TEXT = b"Written by `provisioner render`; rerunning render replaces this directory.\n"
#: What ``clientId`` shows in a rendered credential: the consumer key is chosen at apply time.
CLIENT_ID_PLACEHOLDER = "(generated at apply)"
WORKFLOW2_DIR = "workflow2"


@dataclass(frozen=True)
class RenderedFile:
    """One output file: its path relative to the output directory, its bytes and a summary."""

    path: str
    data: bytes
    summary: str


def _org_files(desired: Desired, org: OrgSpec) -> list[RenderedFile]:
    components: list[Component] = []
    owner: dict[str, AppSpec] = {}
    for app in desired.apps_in(org.name):
        built = build_components(app, org, desired.callback_urls(app), placeholders=True)
        components.extend(built)
        owner.update({c.path: app for c in built})
    files = package_files(components, org.api_version, include_secrets=False)
    out: list[RenderedFile] = []
    for path, data in files.items():
        if path == "package.xml":
            summary = f"manifest: {len(components)} components, API {org.api_version}"
        else:
            app = owner[path]
            kind = app_kind(app.app_type)
            comp = next(c for c in components if c.path == path)
            summary = f"{comp.type} {comp.full_name} ({kind.label} {app.name})"
            note = kind.note_for(comp)
            if note:
                summary += f"; {note}"
        out.append(RenderedFile(f"{org.name}/{path}", data, summary))
    return out


def credential_record(desired: Desired, app: AppSpec, cred: CredentialSpec) -> CredentialRecord:
    """The record an apply would write for ``cred``, with placeholders for generated values."""
    target = target_for(desired.instances[cred.instance])
    my_domain = None
    if cred.type == "jwt":
        # ECAs on many orgs need My Domain as the audience (the app kind says which).
        my_domain = cred.my_domain_url
        if my_domain is None and app_kind(app.app_type).audience_is_my_domain:
            from provisioner.salesforce.endpoints import my_domain_url

            # The spec's myDomainUrl (required for such apps outside the sandbox), or the
            # embedded sandbox's own URL when its port is fixed.
            my_domain = my_domain_url(desired.orgs[app.org])
    return target.build_record(
        record_id=target.derive_record_id(cred.instance, cred.name), cred=cred,
        client_id=CLIENT_ID_PLACEHOLDER,
        secret=Secret(REDACTED),  # redacted() shows every secret field as (sensitive) anyway
        my_domain_url=my_domain, schema=None,
    )


def _instance_file(desired: Desired, instance: str) -> RenderedFile:
    records = [
        credential_record(desired, app, cred)
        for app in sorted(desired.apps.values(), key=lambda a: a.name)
        for cred in app.credentials
        if cred.instance == instance
    ]
    records.sort(key=lambda r: (r.name, r.id))
    body = json.dumps([r.redacted() for r in records], indent=2, ensure_ascii=False) + "\n"
    noun = "record" if len(records) == 1 else "records"
    return RenderedFile(
        f"{WORKFLOW2_DIR}/{instance}/credentials.json",
        body.encode("utf-8"),
        f"{len(records)} credential {noun}, secret fields shown as {REDACTED}",
    )


def render_files(desired: Desired) -> list[RenderedFile]:
    """Every file of a render, in path order (pure: same Desired, same bytes)."""
    files: list[RenderedFile] = []
    for name in sorted(desired.orgs):
        files.extend(_org_files(desired, desired.orgs[name]))
    for name in sorted(desired.instances):
        files.append(_instance_file(desired, name))
    return sorted(files, key=lambda f: f.path)


def _check_target(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} exists and is not a directory", "choose another --out")
    if not out_dir.is_dir() or force:
        return
    if any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise UsageError(
            f"{out_dir} is not empty and was not written by render",
            "choose an empty or new directory, or pass --force to replace its contents",
        )


#: Rendered files are for review (no secrets): readable by everyone who can read the folder.
RENDER_FILE_MODE = 0o644


def write_render(files: Sequence[RenderedFile], out_dir: Path, *, force: bool = False) -> None:
    """Replace ``out_dir`` with exactly ``files`` (plus the marker), atomically.

    Refuses a non-empty directory without the marker unless ``force``. The tree is written to a
    temporary sibling and renamed into place, so on any error ``out_dir`` is left as it was.
    """
    _check_target(out_dir, force)
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.render-", dir=parent))
    except OSError as exc:
        raise ProvisionerError(
            f"cannot create a directory next to {out_dir}: {exc.strerror}",
            "check that the parent directory exists and is writable",
        ) from exc
    old: Path | None = None
    try:
        for f in files:
            atomic_write(staging / f.path, f.data, mode=RENDER_FILE_MODE)
        atomic_write(staging / MARKER, MARKER_TEXT, mode=RENDER_FILE_MODE)
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700
        if out_dir.exists():
            old = parent / (staging.name + ".old")
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        fsync_dir(parent)
    except OSError as exc:
        if old is not None and not out_dir.exists():
            os.replace(old, out_dir)  # put the previous render back
            old = None
        raise ProvisionerError(
            f"cannot write the render into {out_dir}: {exc.strerror or exc}",
            "check free space and permissions of the output directory",
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
