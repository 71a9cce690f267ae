"""Temporaries a killed writer left beside a file are removed by the next write; a live
writer's (young) ones are not."""

from __future__ import annotations

import os
import time
from pathlib import Path

from provisioner.fsutil import STALE_TEMPORARY_SECONDS, atomic_write, remove_stale_temporaries


def test_stale_temporaries_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    old = tmp_path / ".state.json.abc123.tmp"
    young = tmp_path / ".state.json.def456.tmp"
    other = tmp_path / ".other.json.x.tmp"
    for path in (old, young, other):
        path.write_text("{}")
    past = time.time() - STALE_TEMPORARY_SECONDS - 60
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    atomic_write(target, "{}")
    assert not old.exists() and young.exists() and other.exists()
    assert target.read_text() == "{}"
    assert remove_stale_temporaries(target, now=time.time() + 2 * STALE_TEMPORARY_SECONDS) == [
        young]
