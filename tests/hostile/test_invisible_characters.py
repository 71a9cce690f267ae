"""Bidirectional overrides, zero-width and control characters from a spec never reach a person
raw: plans (text and markdown), problems, errors and progress spell them out."""

from __future__ import annotations

from pathlib import Path

from provisioner.engine.planner import make_plan
from provisioner.plan.render import render_markdown, render_text
from provisioner.textsafety import visible
from tests.planner.builder import app_doc, converged

HIDDEN = ["\u202e", "\u2066", "\u200b", "\ufeff", "\x1b", "\x07", "\u2028"]


def test_visible_spells_out_every_hidden_character() -> None:
    shown = visible("".join(f"a{ch}" for ch in HIDDEN) + "\tok\né")
    assert not any(ch in shown for ch in HIDDEN)
    assert "\\u202e" in shown and "\\u001b" in shown and shown.endswith("\tok\né")


def test_plans_show_a_hostile_label_escaped(tmp_path: Path) -> None:
    label = "Payroll\u202e\u2066txt.exe\x1b[2J"
    s = converged(tmp_path, app_doc(label=f'"{label.encode("unicode_escape").decode()}"'))
    s = s.with_live(label="Payroll")
    plan = make_plan(s.inputs())
    for text in (render_text(plan, lambda t, _c: t), render_markdown(plan, commit="c")):
        assert not any(ch in text for ch in HIDDEN), text
        assert "\\u202e\\u2066txt.exe\\u001b[2J" in text


def test_problems_and_errors_spell_hidden_characters_out(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from provisioner.cli.main import report_error
    from provisioner.errors import RemoteError
    from provisioner.model import SourceLocation
    from provisioner.spec.problems import Problem

    line = Problem("error", SourceLocation(tmp_path / "s.yaml", 3, 1), "unknown org 'sb\u202eevil'",
                   "spec.org", "did you mean 'sb\u200b'?").format()
    assert "sb\\u202eevil" in line and "sb\\u200b" in line
    assert not any(ch in line for ch in HIDDEN)
    runner = CliRunner()
    with runner.isolation() as (_out, err, _):
        report_error(RemoteError("org said \x1b[2Jgone\u202e", "retry\u2066"), verbose=False)
        shown = err.getvalue().decode()
    assert "\\u001b[2Jgone\\u202e" in shown and "retry\\u2066" in shown
    assert not any(ch in shown for ch in HIDDEN)
