"""Problems found in specs, and the result of checking a set of spec files.

A check never stops at the first problem: every stage appends :class:`Problem` values to a list and
the caller decides what to do (``validate`` prints them all, :func:`~provisioner.spec.load_desired`
raises one :class:`~provisioner.errors.SpecError` listing them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from provisioner.model import Desired, SourceLocation

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding: where it is, what is wrong, the JSON path inside the document, and the fix."""

    severity: Severity
    location: SourceLocation
    message: str
    json_path: str = ""
    hint: str | None = None

    def format(self) -> str:
        """``file:line:column: severity: message (json path) hint: ...`` on one line."""
        from provisioner.textsafety import hide_secret_like, visible

        said = self.message
        if self.json_path:
            said += f" ({self.json_path})"
        if self.hint:
            said += f" hint: {self.hint}"
        # What a person wrote is quoted back: never a secret-shaped part of it.
        return visible(f"{self.location}: {self.severity}: {hide_secret_like(said)}")

    def to_json(self) -> dict[str, object]:
        """The problem as a JSON-ready mapping (``--format json``)."""
        from provisioner.textsafety import hide_secret_like

        return {
            "severity": self.severity,
            "file": str(self.location.file),
            "line": self.location.line,
            "column": self.location.column,
            "message": hide_secret_like(self.message),
            "jsonPath": hide_secret_like(self.json_path),
            "hint": hide_secret_like(self.hint) if self.hint else None,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order problems by file and position."""
        loc = self.location
        return (str(loc.file), loc.line, loc.column, self.message)


@dataclass(frozen=True)
class ValidationResult:
    """Every problem found, and the desired model when there were no errors."""

    problems: list[Problem]
    desired: Desired | None
    files: tuple[Path, ...] = field(default=())

    @property
    def errors(self) -> list[Problem]:
        """The problems that fail validation."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems shown but not failing validation."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no problem is an error."""
        return not self.errors


class ProblemSink:
    """Collects problems for one check run (a thin list wrapper with helpers)."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[tuple[str, SourceLocation, str]] = set()
        self._errors = 0

    def add(self, problem: Problem) -> None:
        """Record a problem once (schema branches can report the same thing twice)."""
        key = (problem.severity, problem.location, problem.message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(problem)
            self._errors += problem.severity == "error"

    def error(
        self, location: SourceLocation, message: str, json_path: str = "", hint: str | None = None
    ) -> None:
        """Record an error."""
        self.add(Problem("error", location, message, json_path, hint))

    def warning(
        self, location: SourceLocation, message: str, json_path: str = "", hint: str | None = None
    ) -> None:
        """Record a warning."""
        self.add(Problem("warning", location, message, json_path, hint))

    @property
    def error_count(self) -> int:
        """How many errors so far (counted as they come: every document asks, so a count over
        the list would make a file of many bad documents quadratic)."""
        return self._errors


def json_path(parent: str, key: str | int) -> str:
    """Append a mapping key or a sequence index to a JSON path (``spec.scopes[1]``)."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if key and all(c.isalnum() or c in "_-" for c in key) and not key[0].isdigit():
        return f"{parent}.{key}" if parent else key
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{parent}["{escaped}"]'
