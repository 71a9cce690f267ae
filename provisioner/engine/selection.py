"""Which apps a targeted run acts on: ``rotate`` and ``destroy`` name apps, or ask for all.

The rules live here, not in the CLI, so every front end (the CLI, a program embedding the engine,
a pipeline wrapper) selects the same apps and refuses the same mistakes with the same message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from provisioner.errors import UsageError
from provisioner.model import Desired


@dataclass(frozen=True)
class Selection:
    """The apps a run acts on, and those asked for but left out (with why)."""

    apps: frozenset[str]
    skipped: tuple[tuple[str, str], ...] = ()


def select_apps(desired: Desired, names: Iterable[str], *, every: bool, verb: str) -> Selection:
    """The apps ``names`` (``--app``) or ``every`` (``--all``) pick among the specs' apps.

    Usage errors name the choices: no selection at all, or a name no spec defines.
    """
    asked = set(names)
    if not asked and not every:
        raise UsageError(f"say which apps to {verb}", "pass --app NAME (repeatable) or --all")
    chosen = set(desired.apps) if every else asked
    unknown = sorted(chosen - set(desired.apps))
    if unknown:
        raise UsageError(f"no app named {', '.join(unknown)} in the specs",
                         "use the metadata.name of a SalesforceApp: "
                         + ", ".join(sorted(desired.apps)))
    return Selection(frozenset(chosen))


def select_rotation(desired: Desired, names: Iterable[str], *, every: bool) -> Selection:
    """The apps to rotate: like :func:`select_apps`, and only apps with a certificate.

    Naming an app without one is a mistake (refused); ``every`` skips such apps and says so.
    """
    picked = select_apps(desired, names, every=every, verb="rotate")
    without = sorted(n for n in picked.apps if desired.apps[n].certificate is None)
    if without and not every:
        raise UsageError(f"app {', '.join(without)} has no certificate to rotate",
                         "add spec.certificate to the app, or pick another app")
    return Selection(picked.apps - set(without),
                     tuple((n, "it has no certificate") for n in without))


__all__ = ["Selection", "select_apps", "select_rotation"]
