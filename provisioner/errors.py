"""The project's error types.

Every failure a user can act on is a :class:`ProvisionerError` carrying a one-line message, a hint
that says how to fix it, and the process exit code. The CLI catches them once, at the top. Vendor
exceptions (requests, zeep, simple-salesforce) are converted at the adapter boundary with
``raise SomeError(...) from exc`` so the core never sees them. Messages never contain secrets.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: ``plan --detailed-exitcode`` exits with this when the plan has changes.
EXIT_CHANGES = 2


class ProvisionerError(Exception):
    """Base of every user-facing error: a message, a hint and an exit code."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None, *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def diagnostics(self) -> str:
        """The message followed by the hint, as shown to the user."""
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class UsageError(ProvisionerError):
    """The command line itself is wrong (bad option combination, missing argument)."""

    exit_code = EXIT_USAGE


class SpecError(ProvisionerError):
    """A spec file cannot be read or does not validate."""


class SecretReferenceError(SpecError):
    """A ``{env: NAME}`` or ``{file: PATH}`` reference cannot be resolved."""


class AuthError(ProvisionerError):
    """Signing in to a Salesforce org or a Workflow² instance failed."""


class RemoteError(ProvisionerError):
    """A remote operation (Metadata API, token endpoint, Workflow² API) failed."""


class PlanError(ProvisionerError):
    """The desired state cannot be reached (e.g. creating a Connected App where creation is off)."""


class StalePlanError(ProvisionerError):
    """A saved plan no longer matches the state serial or the live org."""


class StateError(ProvisionerError):
    """The state file is unreadable, from another lineage, or otherwise unusable."""


class StateLockedError(StateError):
    """Another run holds the state lock."""


class VerificationError(ProvisionerError):
    """The JWT token exchange with a newly deployed key did not succeed in time."""
