"""Deploy packages: ``package.xml``, ``destructiveChanges.xml`` and a byte-stable zip.

A package is a tree of files (``package.xml`` at the root, each component in its type's folder);
:func:`package_files` builds it as a mapping so ``render`` can write the very tree that
:func:`deploy_zip` would send. The zip is deterministic: sorted entries, a fixed timestamp, fixed
permissions and compression, so the same components always give the same bytes (and the same
hash, which a saved plan can check).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence

from provisioner.metadata.types import METADATA_NS, Component
from provisioner.metadata.xml import XML_DECL, escape_text, to_xml, types_members

#: The earliest timestamp a zip entry can carry: fixed so the bytes never depend on the clock.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _manifest(members: dict[str, list[str]], api_version: str | None) -> bytes:
    lines = [f'<Package xmlns="{METADATA_NS}">']
    for type_name, names in members.items():
        lines.append("    <types>")
        lines.extend(f"        <members>{escape_text(n)}</members>" for n in names)
        lines.append(f"        <name>{type_name}</name>")
        lines.append("    </types>")
    if api_version is not None:
        lines.append(f"    <version>{escape_text(api_version)}</version>")
    lines.append("</Package>")
    return XML_DECL + ("\n".join(lines) + "\n").encode("utf-8")


def package_xml(components: Iterable[Component], api_version: str) -> bytes:
    """The ``package.xml`` manifest listing ``components`` (types and members sorted)."""
    return _manifest(types_members((c.type, c.full_name) for c in components), api_version)


def destructive_changes_xml(targets: Iterable[tuple[str, str]], api_version: str) -> bytes:
    """A ``destructiveChanges.xml`` manifest deleting ``(type, fullName)`` pairs."""
    return _manifest(types_members(targets), api_version)


def package_files(
    components: Sequence[Component],
    api_version: str,
    *,
    destructive: Iterable[tuple[str, str]] = (),
    destructive_post: Iterable[tuple[str, str]] = (),
    include_secrets: bool = False,
) -> dict[str, bytes]:
    """``{path: bytes}`` of a deploy package: manifest(s) plus one file per component.

    ``destructive`` members are deleted in ``destructiveChanges.xml``, ``destructive_post``
    members in ``destructiveChangesPost.xml`` (after the rest: a parent after its children).
    Raises ``ValueError`` when two components would share a path.
    """
    files: dict[str, bytes] = {"package.xml": package_xml(components, api_version)}
    for name, targets in (("destructiveChanges.xml", list(destructive)),
                          ("destructiveChangesPost.xml", list(destructive_post))):
        if targets:
            files[name] = destructive_changes_xml(targets, api_version)
    for component in components:
        if component.path in files:
            raise ValueError(f"two components share the package path {component.path}")
        files[component.path] = to_xml(component, include_secrets=include_secrets)
    return dict(sorted(files.items()))


def zip_files(files: dict[str, bytes]) -> bytes:
    """A deterministic zip of ``files`` (sorted, fixed timestamp, mode 0644, deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr means the same on every platform
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[path], compresslevel=9)
    return buffer.getvalue()


def deploy_zip(
    components: Sequence[Component],
    api_version: str,
    *,
    destructive: Iterable[tuple[str, str]] = (),
    destructive_post: Iterable[tuple[str, str]] = (),
    include_secrets: bool = True,
) -> bytes:
    """The zip for ``deploy`` (``package.xml`` at the root; ``singlePackage`` layout).

    It carries secret values (a deploy needs them), so it goes to the Metadata API and nowhere
    else; pass ``include_secrets=False`` for a copy that is safe to keep.
    """
    files = package_files(components, api_version, destructive=destructive,
                          destructive_post=destructive_post, include_secrets=include_secrets)
    return zip_files(files)


#: The files one Metadata API deploy may hold (docs/salesforce-behaviour.md, deploy-size-limits).
MAX_DEPLOY_FILES = 10_000
#: Files a deploy holds besides the components: package.xml and the destructive changes files.
_MANIFEST_FILES = 3


def deploy_batches(sizes: Sequence[int], max_files: int = MAX_DEPLOY_FILES) -> list[range]:
    """Consecutive batches of apps (as index ranges) whose component files fit one deploy each,
    an app never split across two; ``sizes`` are the apps' component counts."""
    budget = max(1, max_files - _MANIFEST_FILES)
    batches: list[range] = []
    start, used = 0, 0
    for i, size in enumerate(sizes):
        if used and used + size > budget:
            batches.append(range(start, i))
            start, used = i, 0
        used += size
    if start < len(sizes) or not batches:
        batches.append(range(start, len(sizes)))
    return batches
