"""File system refusals a user can cause: a read-only state folder, a state file that cannot be
read, an output folder that cannot be written, a full disk. The real CLI runs in a child process
held to file permission bits (``faults.obey_permissions``: chmod denies even when the tests run
as root) or to a file-size limit (``faults.limit_file_size``: writes fail as on a full disk).

Each refusal must be one ``Error:`` line naming the path, a ``hint:`` with the fix, exit code 1,
no traceback, and every file of the workspace (state, lock, journal, import file, the org)
byte for byte as it was, and the org untouched when the refusal comes before signing in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engine.conftest import REPO, Workspace, app_yaml, applied_workspace
from tests.faults import limit_file_size, obey_permissions

#: Far above what a loaded 2-core machine needs for one CLI run against the embedded org.
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
def denial_works(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless a child held to permission bits is refused a write into a 0555 folder."""
    folder = tmp_path_factory.mktemp("probe") / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = subprocess.run(
            [sys.executable, "-c", f"open({str(folder / 'x')!r}, 'w')"],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, preexec_fn=obey_permissions,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run a child held to file permissions: {exc}")
    finally:
        folder.chmod(0o755)
    if "PermissionError" not in probe.stderr:
        pytest.skip("this machine cannot deny a file to the tests (permission bits not enforced)")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One app applied, its state in the default folder ``.provisioner/``."""
    w = applied_workspace(tmp_path_factory.mktemp("refusals") / "ws")
    w.state_path.parent.rename(w.root / ".provisioner")
    return w


@pytest.fixture
def ws(template: Workspace, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh copy of the template; every mode a test changed is restored at teardown."""
    w = template.copy_to(tmp_path / "ws")
    yield w
    for path in [w.root, *w.root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)


def state_folder(ws: Workspace) -> Path:
    """The default state folder the CLI uses in ``ws`` (no --state given)."""
    return ws.root / ".provisioner"


def run(ws: Workspace, *args: str, preexec: Callable[[], None] = obey_permissions
        ) -> subprocess.CompletedProcess[str]:
    """``provisioner -C WS ARGS`` in a child process (this worktree's code, the canaries in its
    environment), relative paths in messages as a user in ``ws`` would see them."""
    return subprocess.run(
        [sys.executable, "-m", "provisioner", "-C", str(ws.root), *args],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=REPO, check=False,
        env={**os.environ, **ws.env, "PYTHONPATH": str(REPO)}, preexec_fn=preexec,
    )


def files(ws: Workspace) -> dict[str, bytes]:
    """What a run keeps: the state folder (state, backup, lock, journal, plans) and the import
    file. Read by the test, which may read what the child may not."""
    return {**_read(state_folder(ws)), **_read(ws.import_file.parent)}


def org_store(ws: Workspace) -> bytes:
    """The embedded org's store: unchanged when a run stopped before signing in (a plan's
    sign-in alone changes it)."""
    return (ws.sandbox_dir / "org.json").read_bytes()


def _read(folder: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            mode = path.stat().st_mode
            path.chmod(0o600)
            out[str(path)] = path.read_bytes()
            path.chmod(mode)
    return out


def refused(result: subprocess.CompletedProcess[str], error: str, hint: str) -> None:
    """The run failed with exit code 1, ``error`` and ``hint`` on stderr, and no traceback."""
    assert result.returncode == 1, result.stderr
    assert f"Error: {error}" in result.stderr, result.stderr
    assert f"hint: {hint}" in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_apply_with_a_read_only_state_folder_changes_nothing(
    ws: Workspace, denial_works: None
) -> None:
    ws.write_apps(app_yaml("billing"), app_yaml("payroll"))  # something to do
    before, org = files(ws), org_store(ws)
    state_folder(ws).chmod(0o555)
    refused(run(ws, "apply", "specs", "--auto-approve"),
            "cannot use .provisioner/state.json.lock: Permission denied; nothing there was "
            "changed", "give this user access to it and its folder, or point --state")
    state_folder(ws).chmod(0o700)
    assert files(ws) == before and org_store(ws) == org
    # The fix the hint gives is enough: with the folder writable again, the same apply runs.
    result = run(ws, "apply", "specs", "--auto-approve")
    assert result.returncode == 0, result.stderr


def test_plan_reads_a_read_only_state_folder_and_refuses_to_save_a_plan_there(
    ws: Workspace, denial_works: None
) -> None:
    before = files(ws)
    state_folder(ws).chmod(0o555)
    result = run(ws, "plan", "specs")  # plan writes nothing: a read-only state is enough
    assert result.returncode == 0, result.stderr
    assert "No changes." in result.stdout
    refused(run(ws, "plan", "specs", "--out", ".provisioner/plan.json"),
            "cannot write the plan file .provisioner/plan.json: Permission denied",
            "check the directory exists and is writable")
    state_folder(ws).chmod(0o700)
    assert files(ws) == before


@pytest.mark.parametrize("command", [("plan", "specs"), ("apply", "specs", "--auto-approve")])
def test_a_state_file_that_cannot_be_read(
    ws: Workspace, denial_works: None, command: tuple[str, ...]
) -> None:
    before = files(ws)
    (state_folder(ws) / "state.json").chmod(0)
    org = org_store(ws)
    refused(run(ws, *command), "cannot read the state file .provisioner/state.json: Permission "
            "denied", "check the file's permissions")
    assert files(ws) == before and org_store(ws) == org  # no lock or journal left either


def test_render_into_a_folder_that_cannot_be_written(ws: Workspace, denial_works: None) -> None:
    locked = ws.root / "locked"
    locked.mkdir()
    assert run(ws, "render", "specs", "--out", "locked/review").returncode == 0
    previous = _read(locked)
    ws.write_apps(app_yaml("billing"), app_yaml("payroll"))  # a render that would differ
    locked.chmod(0o555)
    for out in ("locked/review", "locked/new"):
        refused(run(ws, "render", "specs", "--out", out),
                f"cannot create a directory next to {out}: Permission denied",
                "check that the parent directory exists and is writable")
    locked.chmod(0o700)
    assert _read(locked) == previous and sorted(p.name for p in locked.iterdir()) == ["review"]


@pytest.mark.parametrize(("limit", "path"), [
    (0, ".provisioner/state.json.lock"),  # nothing can be written: the lock is the first file
    (3000, "specs/../sandbox/org.json"),  # the lock fits, the org's store does not
])
def test_a_full_disk_during_apply(ws: Workspace, limit: int, path: str) -> None:
    ws.write_apps(app_yaml("billing"), app_yaml("payroll"))
    before, org = files(ws), org_store(ws)
    refused(run(ws, "apply", "specs", "--auto-approve", preexec=lambda: limit_file_size(limit)),
            f"cannot use {path}: File too large; nothing there was changed",
            "the file would pass this process's file-size limit (ulimit -f)")
    assert files(ws) == before and org_store(ws) == org
    # With room again, the next run applies and then has nothing left to do.
    assert run(ws, "apply", "specs", "--auto-approve", preexec=lambda: None).returncode == 0
    assert "No changes." in run(ws, "plan", "specs", preexec=lambda: None).stdout
