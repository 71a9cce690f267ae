"""The spec corpus: every file in valid/ loads, every file in invalid/ fails with exactly the
problems listed in its ``NAME.expected.txt`` (``LINE:COLUMN: severity: message (path) hint``).

Set PROVISIONER_REGEN_EXPECTED=1 to rewrite the expected files, then review the diff by eye.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioner.spec import ValidationResult, check_paths

HERE = Path(__file__).parent
VALID = sorted((HERE / "valid").glob("*.yaml"))
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
REGEN = os.environ.get("PROVISIONER_REGEN_EXPECTED") == "1"


def _lines(result: ValidationResult, file: Path) -> list[str]:
    out = []
    for problem in result.problems:
        assert problem.location.file == file, problem.format()
        # Paths inside messages depend on where the repository is checked out.
        out.append(problem.format().removeprefix(f"{file}:").replace(str(HERE), "{HERE}"))
    return out


def _compare(file: Path, lines: list[str]) -> None:
    expected_file = file.with_suffix(".expected.txt")
    if REGEN:
        if lines:
            expected_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif expected_file.exists():
            expected_file.unlink()
    expected = (
        expected_file.read_text(encoding="utf-8").splitlines() if expected_file.exists() else []
    )
    assert lines == expected


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 40
    assert len(VALID) >= 8


@pytest.mark.parametrize("file", VALID, ids=lambda p: p.stem)
def test_valid_spec_loads(file: Path) -> None:
    result = check_paths([file])
    assert result.errors == []
    assert result.desired is not None
    # Warnings are part of the contract too: only the listed ones, nothing else.
    _compare(file, _lines(result, file))


@pytest.mark.parametrize("file", INVALID, ids=lambda p: p.stem)
def test_invalid_spec_reports_expected_problems(file: Path) -> None:
    result = check_paths([file])
    assert result.desired is None
    assert result.errors, "an invalid spec must produce at least one error"
    lines = _lines(result, file)
    if not REGEN:
        assert file.with_suffix(".expected.txt").exists(), f"write {file.stem}.expected.txt"
    _compare(file, lines)
