"""``provisioner render``: golden output, determinism, no secrets, refusal and atomic writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provisioner.cli.main import cli, main
from provisioner.errors import SpecError, UsageError
from provisioner.render_package import MARKER, render_files
from provisioner.spec import load_desired
from tests.faults import file_size_limit
from tests.metadata.wsdl import validate

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "render"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input").is_dir())
REGEN = os.environ.get("PROVISIONER_REGEN_GOLDEN") == "1"
CANARY = "CANARY-5e1f0b7d-secret-value"
CANARY_ENV = [
    "GOLDEN_DEPLOY_CLIENT_ID", "GOLDEN_DEPLOY_KEY", "GOLDEN_UAT_TOKEN", "GOLDEN_WORKFLOW_API_KEY",
    "GOLDEN_ENCRYPTION_KEY", "GOLDEN_SFDX_AUTH_URL",
]  # fmt: skip
METADATA_SUFFIXES = (
    ".eca",
    ".ecaOauth",
    ".ecaGlblOauth",
    ".ecaOauthPlcy",
    ".ecaPlcy",
    ".connectedApp",
)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run(args: list[str]) -> tuple[int, str, str, BaseException | None]:
    runner = CliRunner()
    result = runner.invoke(cli, args, catch_exceptions=True)
    exc = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.stdout, result.stderr, exc


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp cwd with the golden inputs copied in (so output paths are relative and stable)."""
    for case in CASES:
        shutil.copytree(GOLDEN / case / "input", tmp_path / case)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_render_matches_golden(case: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CANARY_ENV:
        monkeypatch.setenv(name, CANARY)
    code, out, err, exc = _run(["render", case, "--out", "out"])
    assert (code, exc) == (0, None), err
    got = _tree(workdir / "out")
    expected_dir = GOLDEN / case / "expected"
    if REGEN:
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, data in got.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_bytes(data)
        (GOLDEN / case / "stdout.txt").write_text(out)
    assert got == _tree(expected_dir)
    assert out == (GOLDEN / case / "stdout.txt").read_text()
    # Every written file has its summary line.
    assert len(out.splitlines()) == len(got) - 1 + 1  # minus the marker, plus the total line
    for rel, data in got.items():
        assert CANARY.encode() not in data, rel
        if rel.endswith(METADATA_SUFFIXES):
            validate(data)
    assert CANARY not in out + err


@pytest.mark.parametrize("case", CASES)
def test_render_is_byte_identical_and_offline(case: str, workdir: Path) -> None:
    # No secret reference is resolved: the variables are unset and render still works.
    code1, out1, _, exc1 = _run(["render", case, "--out", "a"])
    code2, out2, _, exc2 = _run(["render", case, "--out", "a"])  # rerun over its own output
    code3, _, _, _ = _run(["render", case, "--out", "b"])
    assert (code1, code2, code3, exc1, exc2) == (0, 0, 0, None, None)
    assert out1 == out2
    assert _tree(workdir / "a") == _tree(workdir / "b")
    assert (workdir / "a" / MARKER).is_file()


def test_credentials_json_placeholders(workdir: Path) -> None:
    files = {f.path: f for f in render_files(load_desired([Path("two-orgs")]))}
    text = files["workflow2/offline/credentials.json"].data.decode()
    assert '"privateKey": "(sensitive)"' in text
    assert '"clientSecret": "(sensitive)"' in text
    assert '"clientId": "(generated at apply)"' in text
    assert '"myDomainUrl": "https://acme--uat.sandbox.my.salesforce.com"' in text
    assert '"environment": "sandbox"' in text
    # The ECA's JWT credential defaults myDomainUrl to the org's My Domain.
    prod = files["workflow2/workflow/credentials.json"].data.decode()
    assert '"myDomainUrl": "https://acme.my.salesforce.com"' in prod


def test_refuses_foreign_non_empty_directory(workdir: Path) -> None:
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("keep me")
    _, _, _, exc = _run(["render", "two-orgs", "--out", "mine"])
    assert isinstance(exc, UsageError)
    assert "not written by render" in exc.message and "--force" in (exc.hint or "")
    assert _tree(workdir / "mine") == {"notes.txt": b"keep me"}

    code, _, _, exc = _run(["render", "two-orgs", "--out", "mine", "--force"])
    assert (code, exc) == (0, None)
    assert not (workdir / "mine" / "notes.txt").exists()
    assert (workdir / "mine" / "prod" / "package.xml").is_file()


def test_empty_directory_and_stale_files(workdir: Path) -> None:
    (workdir / "empty").mkdir()
    assert _run(["render", "two-orgs", "--out", "empty"])[0] == 0
    (workdir / "empty" / "prod" / "stale.txt").write_text("from an older render")
    assert _run(["render", "two-orgs", "--out", "empty"])[0] == 0
    assert not (workdir / "empty" / "prod" / "stale.txt").exists()


def test_out_is_a_file(workdir: Path) -> None:
    (workdir / "f").write_text("x")
    code, _, err, exc = _run(["render", "two-orgs", "--out", "f"])
    assert code == 2 or isinstance(exc, UsageError), err


def test_spec_error_writes_nothing(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text(
        "apiVersion: provisioner.dev/v1\nkind: SalesforceApp\nmetadata: {name: x}\nspec: {}\n"
    )
    _, _, _, exc = _run(["render", str(bad), "--out", "out"])
    assert isinstance(exc, SpecError)
    assert not (workdir / "out").exists()


def test_failed_write_leaves_previous_render_intact(workdir: Path) -> None:
    assert _run(["render", "two-orgs", "--out", "out"])[0] == 0
    before = _tree(workdir / "out")
    # A real failure part-way: the first file longer than 600 bytes cannot be written.
    assert sorted(len(v) for v in before.values())[0] < 600 < max(len(v) for v in before.values())
    with file_size_limit(600):
        _, _, _, exc = _run(["render", "connected-app", "--out", "out"])
    assert exc is not None and "cannot write the render into out: File too large" in str(exc)
    assert _tree(workdir / "out") == before
    assert sorted(p.name for p in workdir.iterdir()) == sorted([*CASES, "out"])  # no temp dirs


def test_main_reports_errors_with_exit_codes(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "mine").mkdir()
    (workdir / "mine" / "x").write_text("x")
    with pytest.raises(SystemExit) as info:
        main(["render", "two-orgs", "--out", "mine"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Error: mine is not empty and was not written by render" in err
    assert "hint: choose an empty or new directory, or pass --force" in err


def test_help_has_examples() -> None:
    code, out, _, _ = _run(["render", "--help"])
    assert code == 0
    assert "provisioner render specs/ --out build/render" in out
    assert "--force" in out and "credentials.json" in out


def test_render_does_not_import_vendor_clients(workdir: Path) -> None:
    script = (
        "import sys; from provisioner.cli.main import main\n"
        "try:\n    main(['render', 'two-orgs', '--out', 'sub'])\nexcept SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "bad = [m for m in ('simple_salesforce', 'zeep') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=workdir, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
