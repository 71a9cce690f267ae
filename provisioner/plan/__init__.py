"""Plans: what an apply would change, as typed data, and its renderers."""

from provisioner.plan.types import (
    PLAN_FORMAT_VERSION,
    AppAction,
    AppChange,
    CredentialAction,
    CredentialChange,
    FieldChange,
    Plan,
)

__all__ = [
    "PLAN_FORMAT_VERSION",
    "AppAction",
    "AppChange",
    "CredentialAction",
    "CredentialChange",
    "FieldChange",
    "Plan",
]
