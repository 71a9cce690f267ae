"""The plans of the repository's own ``specs/``, rendered as text and markdown, against golden
files reviewed by eye (``tests/golden/plans/``).

Planned offline by the pure planner (fixed clock, fixed org facts, key material cached by the
builder), so the files hold no path, port or time of a run. When a change to the planner or the
renderers is intended, rewrite them with ``PROVISIONER_REGEN_GOLDEN=1 pytest
tests/planner/test_plan_golden.py`` and review the diff like code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from provisioner.engine.planner import make_plan
from provisioner.model import Desired
from provisioner.plan.render import render_markdown, render_text
from provisioner.plan.types import Plan
from provisioner.spec import load_desired
from tests.planner.builder import Scenario, converged_from, from_nothing

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "plans"
UPDATE = os.environ.get("PROVISIONER_REGEN_GOLDEN") == "1"


@pytest.fixture(scope="module")
def specs() -> Iterator[Desired]:
    """specs/ loaded with paths relative to the repository (as a pipeline in it names them)."""
    old = Path.cwd()
    os.chdir(REPO)
    try:
        yield load_desired([Path("specs")])
    finally:
        os.chdir(old)


def _drifted(desired: Desired) -> Scenario:
    """Converged, then: a label changed in the org, one app's rotation forced, one OAuth2
    record renamed on the server."""
    s = converged_from(desired).with_live("acme-workflow-integration", label="Old label")
    key = "acme-workflow/Salesforce Production (OAuth2)"
    s = s.with_record(key, replace(s.record(key), name="renamed by hand"))
    return replace(s, force_rotate=frozenset({"workflow-integration"}))


def _blue_green_rotation(desired: Desired) -> Scenario:
    """Converged, then the blue/green app's rotation forced: its partner takes over."""
    return replace(converged_from(desired), force_rotate=frozenset({"acme-workflow-integration"}))


SCENARIOS: dict[str, Callable[[Desired], Scenario]] = {
    "specs-from-nothing": from_nothing,
    "specs-drifted": _drifted,
    "specs-blue-green-rotation": _blue_green_rotation,
}

RENDERINGS: dict[str, Callable[[Plan], str]] = {
    "txt": lambda p: render_text(p, lambda text, _style: text),
    "unchanged.txt": lambda p: render_text(p, lambda text, _style: text, show_unchanged=True),
    "md": render_markdown,
}


@pytest.mark.parametrize("rendering", RENDERINGS, ids=RENDERINGS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=SCENARIOS)
def test_plans_of_the_specs_match_the_golden_files(
    specs: Desired, scenario: str, rendering: str
) -> None:
    plan = make_plan(SCENARIOS[scenario](specs).inputs())
    text = RENDERINGS[rendering](plan)
    golden = GOLDEN / f"{scenario}.{rendering}"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing: run with PROVISIONER_REGEN_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), (
        f"the plan differs from {golden.relative_to(REPO)}; if intended, rewrite it with "
        "PROVISIONER_REGEN_GOLDEN=1 and review the diff")
