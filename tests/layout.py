"""Where a test workspace keeps its specs, state, embedded org and import file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Layout:
    """The paths of one workspace under ``root`` (relative paths in specs keep it movable)."""

    root: Path

    @property
    def specs(self) -> Path:
        """The spec folder (pass it to plan/apply)."""
        return self.root / "specs"

    @property
    def state_path(self) -> Path:
        """The state file (its lock and journal sit next to it)."""
        return self.root / "state" / "state.json"

    @property
    def sandbox_dir(self) -> Path:
        """The embedded org's state dir."""
        return self.root / "sandbox"

    @property
    def import_file(self) -> Path:
        """Where the importFile sink writes."""
        return self.root / "out" / "credentials.json"
