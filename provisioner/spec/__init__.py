"""The spec language: YAML files checked against the JSON Schemas in ``schemas/`` and turned into
the desired model.

Public API::

    check_paths(paths) -> ValidationResult   # every problem, and the model when there is no error
    load_desired(paths) -> Desired           # raises SpecError listing every error
"""

from __future__ import annotations

from provisioner.spec.loader import check_paths, load_desired
from provisioner.spec.problems import Problem, Severity, ValidationResult

__all__ = ["Problem", "Severity", "ValidationResult", "check_paths", "load_desired"]
