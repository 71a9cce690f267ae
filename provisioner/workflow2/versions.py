"""The Workflow² versions provisioner supports, and what each one's credential types hold.

Measured against the n8n packages themselves (``n8n-nodes-base``'s
``SalesforceJwtApi.credentials.js``): ``myDomainUrl`` exists from 2.20.0 on; CI runs the
Workflow² tests against the oldest and the newest version below.
"""

from __future__ import annotations

#: Oldest and newest versions tested (README.md's table says the same; a test keeps them equal).
OLDEST_SUPPORTED = "2.8.4"
NEWEST_SUPPORTED = "2.41.1"
#: The first version whose "Salesforce JWT API" credential has myDomainUrl.
MY_DOMAIN_SINCE = "2.20.0"


def parse(version: str) -> tuple[int, ...]:
    """``"2.8.4"`` as ``(2, 8, 4)``; ValueError for anything else."""
    parts = tuple(int(p) for p in version.split("."))
    if len(parts) != 3:
        raise ValueError(version)
    return parts


def version_problem(version: str) -> tuple[str, str] | None:
    """(message, fix) when ``version`` is not one provisioner supports."""
    try:
        number = parse(version)
    except ValueError:
        return f"targetVersion {version!r} is not a version like 2.41.1", "write MAJOR.MINOR.PATCH"
    if number < parse(OLDEST_SUPPORTED):
        return (f"Workflow² {version} is older than the oldest supported version "
                f"{OLDEST_SUPPORTED}", "upgrade the server, then set targetVersion to its version")
    return None


def lacks_my_domain(version: str | None) -> bool:
    """Whether that version's JWT credential has no ``myDomainUrl`` (None: the newest)."""
    return version is not None and parse(version) < parse(MY_DOMAIN_SINCE)
