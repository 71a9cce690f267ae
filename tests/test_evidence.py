"""docs/salesforce-behaviour.md and the sandbox agree: every rule the sandbox enforces cites its
evidence, and every row naming a sandbox rule points at code that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "salesforce-behaviour.md"
SANDBOX = ROOT / "provisioner" / "sandbox"
MARKER = re.compile(r"#\s*sandbox-rule:\s*([a-z0-9-]+)")
STATUSES = ("documented", "observed", "assumption")


def _rows() -> dict[str, list[str]]:
    """``{id: cells}`` of the table (``| `id` | behaviour | source | status | tool |``)."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z0-9-]+)`", cells[0]) if len(cells) == 5 else None
        if match:
            assert match.group(1) not in rows, f"row {match.group(1)} is listed twice"
            rows[match.group(1)] = cells
    return rows


def _markers() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SANDBOX.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for rule in MARKER.findall(line):
                found.setdefault(rule, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


def test_every_sandbox_rule_has_a_row_and_every_row_a_rule() -> None:
    rows, markers = _rows(), _markers()
    assert len(rows) >= 20 and len(markers) >= 20  # the parse found the table and the markers
    assert not sorted(set(markers) - set(rows)), "sandbox rules without evidence in the doc"
    assert not sorted(set(rows) - set(markers)), "rows naming a sandbox rule that does not exist"


def test_every_row_names_a_source_a_status_and_what_the_tool_does() -> None:
    for rule, (_, behaviour, source, status, tool) in _rows().items():
        assert behaviour and tool, rule
        assert status.split()[0] in STATUSES, f"{rule}: status {status!r}"
        cites = ("https://" in source or re.search(r"[\w.-]+/[\w.-]+", source)
                 or "none found" in source)
        assert cites, f"{rule}: no URL or repository path in {source!r}"
        if "none found" in source or "not settled" in source:
            assert status.startswith("assumption"), f"{rule}: no evidence, so an assumption"
