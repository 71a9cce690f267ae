"""Plan and apply as whole runs: load specs, lock and recover state, read live, plan, execute.

The CLI calls these with a frozen :class:`~provisioner.engine.context.RunOptions`; tests call them
with a sandbox org and a temporary state path. Nothing here prints: progress goes to a callback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provisioner.engine.context import RunContext, RunOptions, preflight
from provisioner.engine.executor import ApplyResult, KeyPrefetch, execute
from provisioner.engine.live import plan_inputs, read_live
from provisioner.engine.planner import make_plan
from provisioner.engine.statewriter import StateWriter, recover
from provisioner.errors import ProvisionerError, StalePlanError, StateLockedError, UsageError
from provisioner.events import Observer, SpecWarning, Step
from provisioner.gitstate import open_state
from provisioner.journal import Journal
from provisioner.lock import LockInfo, default_owner
from provisioner.model import Desired
from provisioner.plan.types import PLAN_FORMAT_VERSION, Plan
from provisioner.state import State


@dataclass(frozen=True)
class PlanOutcome:
    """A plan and what it was computed from."""

    plan: Plan
    desired: Desired
    recovered: tuple[str, ...] = ()


def load_specs(paths: Sequence[Path]) -> Desired:
    """The desired model of ``paths`` (every spec problem in one :class:`SpecError`)."""
    from provisioner.spec import load_desired

    return load_desired(list(paths))


def _targeted(plan: Plan, desired: Desired, state: State, options: RunOptions) -> Plan:
    """The plan restricted to ``--org``/``--app`` (see :mod:`provisioner.engine.selection`)."""
    from provisioner.engine.selection import check_targets, restrict_plan

    check_targets(desired, state, options.target_orgs, options.target_apps)
    return restrict_plan(plan, options.target_orgs, options.target_apps)


def _warn(desired: Desired, observer: Observer) -> None:
    """Report the specs' warnings (validate lists them too) before the run does anything."""
    for line in desired.warnings:
        observer(SpecWarning(line))


def _scoped(desired: Desired, options: RunOptions) -> Desired:
    """With ``--org``, only those orgs (and their apps) are signed in to, read and planned: a
    job for one org never touches another (their apps in state are left alone, unread)."""
    if not options.target_orgs:
        return desired
    from provisioner.engine.selection import check_targets

    check_targets(desired, State(), options.target_orgs, ())
    orgs = {n: o for n, o in desired.orgs.items() if n in options.target_orgs}
    apps = {n: a for n, a in desired.apps.items() if a.org in options.target_orgs}
    return replace(desired, orgs=orgs, apps=apps)


def _spec_files(desired: Desired, paths: Sequence[Path]) -> list[Path]:
    return list(desired.files) if desired.files else [p for p in paths if p.is_file()]


def compute_plan(
    paths: Sequence[Path], options: RunOptions, progress: Observer
) -> PlanOutcome:
    """Read-only: the plan for ``paths`` against the live systems and the state."""
    desired = load_specs(paths)
    return plan_desired(desired, _spec_files(desired, paths), options, progress)


def plan_desired(
    desired: Desired, spec_files: Sequence[Path], options: RunOptions, progress: Observer
) -> PlanOutcome:
    """Read-only: the plan for an already loaded desired model (``spec_files`` are digested)."""
    _warn(desired, progress)
    desired = _scoped(desired, options)
    preflight(desired, options.environ)
    store = open_state(options.state_path, sorted(desired.orgs), options.environ)
    state = store.load()
    pending = Journal(store.journal_path).entries()
    # Planning only reads: an unencrypted import file may be read; apply still refuses to write it.
    with RunContext(desired, replace(options, allow_plaintext_secrets=True), progress) as ctx:
        snap = read_live(ctx, state)
        plan = _targeted(make_plan(plan_inputs(ctx, state, snap, spec_files)), desired, state,
                         options)
    if pending:
        note = (f"an interrupted run left {len(pending)} journal entr{'y' if len(pending) == 1 else 'ies'}; "
                "apply records what finished before it plans")
        plan = Plan(**{**plan.__dict__, "warnings": (*plan.warnings, note)})
    return PlanOutcome(plan, desired)


@contextmanager
def locked(store: Any, operation: str, progress: Observer, *,
           timeout: float = 0.0) -> Iterator[None]:
    """Hold the state lock; a dead run's lock is taken over as :mod:`provisioner.lock`'s
    takeover policy allows, and the run says so. A lock another run holds is waited for up to
    ``timeout`` seconds (polled with backoff), then refused."""
    import time

    def taking_over(held: LockInfo) -> None:
        progress(Step(f"the state lock {held.id} was left by a run that died ({held.owner}, "
                      f"{held.age()} ago): taking it over"))

    deadline = time.monotonic() + timeout
    delay = 0.2
    held = ExitStack()
    while True:
        try:
            held.enter_context(store.lock(default_owner(), operation, on_takeover=taking_over))
            break
        except StateLockedError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            progress(Step(f"waiting for the state lock ({exc.message}); "
                          f"{left:.0f} s of --lock-timeout left"))
            time.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
    with held:
        yield


def comparable(plan: Plan) -> dict[str, Any]:
    """The plan's JSON without its creation time: what must match for a saved plan to apply."""
    doc = plan.to_json()
    doc.pop("createdAt", None)
    out: dict[str, Any] = _without_sources(doc)
    return out


def _without_sources(value: Any) -> Any:
    """``value`` without ``source`` (file:line as given on the command line, which depends on
    the folder a command runs from; the files themselves are compared by digest)."""
    if isinstance(value, dict):
        return {k: _without_sources(v) for k, v in value.items() if k != "source"}
    if isinstance(value, list):
        return [_without_sources(v) for v in value]
    return value


#: Largest saved plan read (plans of thousands of apps stay far below).
MAX_PLAN_FILE_BYTES = 256 * 1024 * 1024


def read_plan_file(path: Path) -> dict[str, Any]:
    """A saved plan document, checked for its format version."""
    from provisioner.fsutil import read_regular_file

    try:
        doc = json.loads(read_regular_file(path, MAX_PLAN_FILE_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is not a readable plan file ({type(exc).__name__})",
                         "write one with: provisioner plan SPECS --out PLANFILE") from exc
    if not isinstance(doc, dict) or doc.get("formatVersion") != PLAN_FORMAT_VERSION:
        raise UsageError(f"{path} is not a provisioner plan (formatVersion {PLAN_FORMAT_VERSION})",
                         "write one with: provisioner plan SPECS --out PLANFILE")
    return doc


def is_plan_file(path: Path) -> bool:
    """Whether ``path`` is a saved JSON plan rather than a spec (a JSON object with a
    ``formatVersion``; its keys are sorted, so the marker is not necessarily near the start)."""
    from provisioner.fsutil import read_regular_file

    if not path.is_file():
        return False
    try:
        doc = json.loads(read_regular_file(path, MAX_PLAN_FILE_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and "formatVersion" in doc


def check_saved_plan(saved: dict[str, Any], fresh: Plan, plan_path: Path) -> None:
    """Refuse a saved plan whose specs, state serial or live systems changed since it was made."""
    reasons = []
    state = saved.get("state", {})
    targeted = bool(saved.get("targets"))
    if targeted and "orgSerials" in state:
        # A targeted plan on per-org state: only its orgs' state matters (other orgs' jobs
        # may apply meanwhile).
        now = dict(fresh.state_org_serials)
        if state["orgSerials"] != now:
            reasons.append(f"the state of the targeted org(s) changed ({state['orgSerials']} "
                           f"-> {now})")
    elif state.get("lineage") not in (None, fresh.state_lineage):
        # Another state file in its place: serials of two lineages are not comparable. (A plan
        # made before the first save has no lineage; the save gave it one.)
        reasons.append(f"the state was replaced by another (lineage {state.get('lineage')} -> "
                       f"{fresh.state_lineage})")
    elif (state.get("serial"), state.get("lineage")) != (fresh.state_serial, fresh.state_lineage):
        reasons.append(f"the state changed (serial {state.get('serial')} -> {fresh.state_serial})")
    saved_specs = {s["path"]: s["sha256"] for s in saved.get("specFiles", [])}
    if saved_specs != dict(fresh.spec_files):
        reasons.append("a spec file changed")
    saved_live = {d["target"]: d["digest"] for d in saved.get("liveDigests", [])}
    for target, digest in fresh.live_digests:
        if saved_live.get(target) != digest:
            reasons.append(f"{target} changed outside provisioner")
    if not reasons:
        doc: dict[str, Any] = dict(saved)
        doc.pop("createdAt", None)
        now = comparable(fresh)
        if targeted:  # what other orgs' jobs do meanwhile is not this plan's business
            sides: list[dict[str, Any]] = [doc, now]
            for side in sides:
                side.pop("warnings", None)
                held = side.get("state")
                if isinstance(held, dict) and "orgSerials" in held:
                    side["state"] = {"orgSerials": held["orgSerials"]}
        if _without_sources(doc) != now:
            reasons.append("the plan computed now differs from the saved one")
    if reasons:
        raise StalePlanError(
            f"the saved plan {plan_path} is stale: " + "; ".join(reasons),
            "run provisioner plan --out PLANFILE again, review it, then apply the new file",
        )


def apply(
    paths: Sequence[Path],
    options: RunOptions,
    progress: Observer,
    confirm: Callable[[Plan], bool],
    *,
    plan_file: Path | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> tuple[Plan, ApplyResult | None]:
    """Lock, recover, plan, confirm, execute. Returns the plan and the result (None: no changes)."""
    saved = read_plan_file(plan_file) if plan_file is not None else None
    if saved is not None:
        targets = saved.get("targets") or {}
        # The saved plan's targets are what was reviewed: the same restriction applies.
        options = replace(options, target_orgs=frozenset(targets.get("orgs", ())),
                          target_apps=frozenset(targets.get("apps", ())))
        # Named relative to the spec root (the checkout's top level): found from any folder.
        from provisioner.engine.live import spec_root

        root = spec_root(Path.cwd())
        paths = [root / s["path"] if not Path(s["path"]).is_absolute() else Path(s["path"])
                 for s in saved.get("specFiles", [])]
        if not paths:
            raise UsageError(f"{plan_file} names no spec files", "make it with provisioner plan --out")
    desired = load_specs(paths)
    return apply_desired(desired, _spec_files(desired, paths), options, progress, confirm,
                         saved=(saved, plan_file) if saved is not None and plan_file else None,
                         on_plan=on_plan)


def apply_desired(
    desired: Desired,
    spec_files: Sequence[Path],
    options: RunOptions,
    progress: Observer,
    confirm: Callable[[Plan], bool],
    *,
    saved: tuple[dict[str, Any], Path] | None = None,
    on_plan: Callable[[Plan], None] | None = None,
) -> tuple[Plan, ApplyResult | None]:
    """:func:`apply` for an already loaded desired model; ``saved`` is a saved plan to match."""
    _warn(desired, progress)
    desired = _scoped(desired, options)
    preflight(desired, options.environ)
    store = open_state(options.state_path, sorted(desired.orgs), options.environ,
                       lock_orgs=sorted(options.target_orgs))
    with locked(store, "apply", progress, timeout=options.lock_timeout):
        writer = StateWriter(store, store.load())
        journal = Journal(store.journal_path)
        for line in recover(journal, writer):
            progress(Step(f"recovered: {line}"))
        with RunContext(desired, options, progress) as ctx:
            prefetched = KeyPrefetch(ctx, writer.state)  # keys new apps need, made meanwhile
            try:
                snap = read_live(ctx, writer.state)
                plan = _targeted(make_plan(plan_inputs(ctx, writer.state, snap, spec_files)),
                                 desired, writer.state, options)
                if saved is not None:
                    check_saved_plan(saved[0], plan, saved[1])
                if on_plan is not None:
                    on_plan(plan)
                if not plan.has_changes:
                    return plan, None
                if not confirm(plan):
                    raise ProvisionerError("apply cancelled: nothing was changed", None)
                result = execute(plan, ctx, snap, writer, journal, prefetched)
            finally:
                prefetched.close()
    return plan, result


__all__ = [
    "PlanOutcome", "apply", "apply_desired", "compute_plan", "is_plan_file", "locked",
    "plan_desired",
]
