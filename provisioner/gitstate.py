"""The git state backend: state files on a branch of a git remote, one per org, and one lock ref
per org, so runners on different machines share state and exclude each other.

``--state git+URL[#BRANCH]`` (e.g. ``git+ssh://git@github.com/acme/infra.git#provisioner-state``
or ``git+file:///srv/state.git``; the branch defaults to ``provisioner-state``) selects it.

- **State**: the branch holds ``ORG.state.json`` for each org, each a state document of its own
  (lineage, serial, the org's apps). A run loads the files of the orgs in its specs; a save writes
  the files that changed as one commit whose message names the run, and publishes it with a
  compare-and-swap push (``--force-with-lease`` on the commit it was built on). When another
  runner published first, the save is rebuilt on the new commit if that runner touched other
  orgs' files, and refused when it changed one of ours (its serial moved).
- **Locks**: ``refs/provisioner/locks/ORG`` points at a commit whose message is the lock's JSON;
  taking it is a push that requires the ref to be absent, releasing it a delete that requires it
  to still be ours. A run takes the locks of its orgs in name order, so runs over overlapping
  orgs never deadlock, and runs over different orgs never wait on each other.
- The journal of an interrupted run stays on the runner (next to its local object cache).

State holds no secret, so its history can be reviewed: each rotation is a commit. Nothing here
needs a working tree: objects are built with git's plumbing commands in a bare cache repository.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from provisioner.errors import StateError, StateLockedError
from provisioner.fsutil import private_folder
from provisioner.lock import LockInfo
from provisioner.state import DEFAULT_STATE_PATH, State, _check_document
from provisioner.timestamps import format_time

SCHEME = "git+"
DEFAULT_BRANCH = "provisioner-state"
LOCK_PREFIX = "refs/provisioner/locks/"
#: Saves rebuilt on a newer commit before giving up (other runners publishing meanwhile).
_MAX_REBASES = 8
_GIT_TIMEOUT = 120.0
_IDENTITY = {
    "GIT_AUTHOR_NAME": "provisioner", "GIT_AUTHOR_EMAIL": "provisioner@localhost",
    "GIT_COMMITTER_NAME": "provisioner", "GIT_COMMITTER_EMAIL": "provisioner@localhost",
    "GIT_TERMINAL_PROMPT": "0",
}
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def is_git_location(location: str | os.PathLike[str]) -> bool:
    """Whether ``--state`` names a git remote."""
    return str(location).startswith(SCHEME)


def parse_location(location: str) -> tuple[str, str]:
    """``(remote URL, branch)`` of ``git+URL[#BRANCH]``."""
    url, _, branch = location[len(SCHEME):].partition("#")
    if not url:
        raise StateError(f"--state {location!r} names no git remote",
                         "write git+URL[#BRANCH], e.g. git+file:///srv/state.git#provisioner-state")
    return url, branch or DEFAULT_BRANCH


def _without_userinfo(text: str) -> str:
    """``text`` with the ``user:password@`` of any URL in it removed (a token must not reach a
    message, a log or a commit)."""
    return re.sub(r"(://)[^/@\s]*@", r"\1", text)


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    return _without_userinfo(lines[-1]) if lines else f"exit code {done.returncode}"


def _file_of(org: str) -> str:
    return f"{org}.state.json"


class GitStateStore:
    """State for the orgs ``orgs`` on a git remote (see the module docstring)."""

    def __init__(self, location: str, orgs: Sequence[str], *,
                 cache_root: Path | None = None, lock_orgs: Sequence[str] = ()) -> None:
        self.url, self.branch = parse_location(location)
        #: What messages name: the location without any user:password@ in it.
        self.location = _without_userinfo(location)
        self.orgs = tuple(sorted(set(orgs)))
        #: The orgs a run locks (its --org targets); default: every org it loads.
        self.lock_orgs = tuple(sorted(set(lock_orgs)))
        digest = hashlib.sha256(f"{self.url}#{self.branch}".encode()).hexdigest()[:16]
        self.cache = (cache_root or DEFAULT_STATE_PATH.parent / "git") / digest
        self.journal_path = self.cache / "state.journal"
        self.path = Path(location)  # for messages that name the state
        #: per org: (serial, lineage, document) as last loaded or saved
        self._docs: dict[str, dict[str, Any] | None] = {}
        self._base: str | None = None  # the branch commit the loaded state came from

    # -- git -----------------------------------------------------------------------------------
    @contextmanager
    def _cache_lock(self) -> Iterator[None]:
        """One git command at a time on this cache: runs on one machine may share it, and
        git's own ref and index locks fail instead of waiting."""
        private_folder(self.cache.parent)
        with open(self.cache.parent / f"{self.cache.name}.lock", "a+b") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: no sharing assumed
                yield
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _git(self, *args: str, input: str | None = None, check: bool = True
             ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **_IDENTITY}
        try:
            with self._cache_lock():
                done = subprocess.run(["git", "-C", str(self.cache), *args], input=input,
                                      text=True, capture_output=True, env=env,
                                      timeout=_GIT_TIMEOUT, check=False)
        except FileNotFoundError as exc:
            raise StateError("the git state backend needs the git command",
                             "install git, or use a local --state file") from exc
        except subprocess.TimeoutExpired as exc:
            raise StateError(f"git {args[0]} against {_without_userinfo(self.url)} did not finish within "
                             f"{_GIT_TIMEOUT:.0f} s", "check the remote and the network") from exc
        if check and done.returncode != 0:
            raise StateError(f"git {args[0]} against the state remote {_without_userinfo(self.url)} failed: "
                             f"{_last_line(done)}",
                             "check the remote URL, the branch and the runner's access to it")
        return done

    def _ensure_cache(self) -> None:
        if not (self.cache / "HEAD").exists():
            private_folder(self.cache.parent)
            self.cache.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--bare")  # under the cache lock; a repeat is harmless

    def _remote_refs(self, pattern: str) -> dict[str, str]:
        """``{ref: sha}`` of the remote's refs matching ``pattern``."""
        out = self._git("ls-remote", self.url, pattern).stdout
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref:
                refs[ref] = sha
        return refs

    def _fetch(self, ref: str) -> str | None:
        """Fetch the remote ``ref`` into the cache; its commit, or None when it does not exist."""
        sha = self._remote_refs(ref).get(ref)
        if sha is None:
            return None
        self._git("fetch", "--quiet", "--no-tags", self.url, f"+{ref}:refs/fetched/{ref[5:]}")
        return sha

    def _push(self, src: str, ref: str, expect: str | None) -> bool:
        """Compare-and-swap ``ref`` to ``src`` (``""``: delete) when it is ``expect`` (None:
        absent); False when the remote's value was not ``expect``."""
        lease = f"--force-with-lease={ref}:{expect or ''}"
        done = self._git("push", "--quiet", "--porcelain", lease, self.url, f"{src}:{ref}",
                         check=False)
        if done.returncode == 0:
            return True
        text = done.stdout + done.stderr
        if "stale info" in text or "rejected" in text or "fetch first" in text:
            return False
        raise StateError(f"git push to the state remote {_without_userinfo(self.url)} failed: "
                         f"{_last_line(done)}",
                         "check the runner's write access to the state remote")

    # -- state ---------------------------------------------------------------------------------
    def _read_docs(self, commit: str | None) -> dict[str, dict[str, Any] | None]:
        docs: dict[str, dict[str, Any] | None] = {}
        for org in self.orgs:
            if commit is None:
                docs[org] = None
                continue
            done = self._git("show", f"{commit}:{_file_of(org)}", check=False)
            if done.returncode != 0:
                docs[org] = None
                continue
            try:
                doc = json.loads(done.stdout)
            except json.JSONDecodeError as exc:
                raise StateError(f"{_file_of(org)} on {self.location} is not valid JSON",
                                 "restore it from the branch's history") from exc
            _check_document(doc, f"{_file_of(org)} on {self.location}")
            docs[org] = doc
        return docs

    def load(self) -> State:
        """The state of the specs' orgs, merged (serial: the sum of theirs). A store made
        without orgs (``provisioner state``) loads every org the branch holds."""
        self._ensure_cache()
        self._base = self._fetch(f"refs/heads/{self.branch}")
        if not self.orgs and self._base is not None:
            names = self._git("ls-tree", "--name-only", self._base).stdout.split()
            self.orgs = tuple(sorted(n[:-len(".state.json")] for n in names
                                     if n.endswith(".state.json")))
        self._docs = self._read_docs(self._base)
        return self._merged()

    def _merged(self) -> State:
        apps: dict[str, Any] = {}
        serial = 0
        for doc in self._docs.values():
            if doc is not None:
                serial += int(doc["serial"])
                apps.update(State.from_json(doc).apps)
        return State(lineage=f"git:{self.branch}", serial=serial, apps=apps,
                     org_serials={o: int(d["serial"]) if d else 0 for o, d in self._docs.items()})

    def save(self, state: State, *, expected_serial: int) -> State:
        """Publish the orgs' files that changed as one commit (see the module docstring)."""
        if self._base is None and not self._docs:
            self.load()
        if self._merged().serial != expected_serial:
            raise StateError(f"the state on {self.location} changed while this run was working",
                             "another run wrote it; run plan again to start from the current state")
        by_org: dict[str, dict[str, Any]] = {org: {} for org in self.orgs}
        for name, app in state.apps.items():
            unlocked = bool(self.lock_orgs) and app.org not in self.lock_orgs
            if unlocked and (self._docs.get(app.org) or {}).get("apps", {}).get(
                    name) != app.to_json():
                raise StateError(f"app {name!r} of org {app.org!r} changed in a run that "
                                 "holds only the locks of its --org targets", "report a bug")
            if app.org not in by_org:
                raise StateError(f"app {name!r} belongs to org {app.org!r}, which this run did "
                                 "not load from the git state", "include that org's specs")
            by_org[app.org][name] = app
        for _attempt in range(_MAX_REBASES):
            new_docs = dict(self._docs)
            changed = []
            for org in self.orgs:
                old = self._docs.get(org)
                apps_json = {n: by_org[org][n].to_json() for n in sorted(by_org[org])}
                if old is not None and old["apps"] == apps_json:
                    continue
                if old is None and not apps_json:
                    continue
                doc = State(lineage=(old or {}).get("lineage") or str(uuid.uuid4()),
                            serial=int((old or {}).get("serial", 0)) + 1,
                            apps=dict(by_org[org])).to_json()
                _check_document(doc, "the state to save")
                new_docs[org] = doc
                changed.append(org)
            if not changed:
                return self._merged()
            commit = self._commit(new_docs, changed)
            if self._push(commit, f"refs/heads/{self.branch}", self._base):
                self._base, self._docs = commit, new_docs
                return self._merged()
            # Someone published first: rebuild on their commit unless they changed our orgs.
            newer = self._fetch(f"refs/heads/{self.branch}")
            theirs = self._read_docs(newer)
            moved = [o for o in changed if (theirs.get(o) or {}).get("serial")
                     != (self._docs.get(o) or {}).get("serial")]
            if moved:
                raise StateError(
                    f"the state of org(s) {', '.join(moved)} on {self.location} changed while "
                    "this run was working", "another run wrote it; run plan again")
            self._base = newer
            self._docs = {o: theirs[o] if o not in changed else self._docs[o] for o in self.orgs}
        raise StateError(f"could not publish the state to {self.location}: other runners kept "
                         "publishing first", "run again")

    def _commit(self, docs: dict[str, dict[str, Any] | None], changed: Sequence[str]) -> str:
        entries: dict[str, str] = {}
        if self._base is not None:
            for line in self._git("ls-tree", self._base).stdout.splitlines():
                meta, _, name = line.partition("\t")
                entries[name] = meta
        for org in changed:
            doc = docs[org]
            blob = self._git("hash-object", "-w", "--stdin",
                             input=json.dumps(doc, indent=2, sort_keys=True) + "\n").stdout.strip()
            entries[_file_of(org)] = f"100644 blob {blob}"
        tree = self._git("mktree", input="".join(
            f"{meta}\t{name}\n" for name, meta in sorted(entries.items()))).stdout.strip()
        serials = ", ".join(f"{o} serial {docs[o]['serial']}" for o in changed  # type: ignore[index]
                            )
        message = f"provisioner: state of {serials}\n\nWritten by {_owner()}.\n"
        args = ["commit-tree", tree, "-m", message]
        if self._base is not None:
            args[2:2] = ["-p", self._base]
        return self._git(*args).stdout.strip()

    # -- locks ---------------------------------------------------------------------------------
    def _lock_commit(self, info: LockInfo) -> str:
        return self._git("commit-tree", _EMPTY_TREE, "-m",
                         json.dumps(info.to_json(), sort_keys=True)).stdout.strip()

    def _read_lock(self, ref: str, sha: str) -> LockInfo:
        self._git("fetch", "--quiet", "--no-tags", self.url, f"+{ref}:refs/fetched/{ref[5:]}")
        body = self._git("cat-file", "commit", sha).stdout
        try:
            return LockInfo.from_json(json.loads(body.split("\n\n", 1)[1]))
        except (IndexError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"the lock {ref} on {self.location} is unreadable",
                             f"delete it: git push {_without_userinfo(self.url)} :{ref}") from exc

    def _locked_error(self, org: str) -> StateLockedError:
        ref = LOCK_PREFIX + org
        sha = self._remote_refs(ref).get(ref)
        if sha is None:
            return StateLockedError(f"the state of org {org!r} on {self.location} was locked by "
                                    "another run a moment ago", "run again")
        held = self._read_lock(ref, sha)
        return StateLockedError(
            f"the state of org {org!r} on {self.location} is locked by {held.owner} for "
            f"{held.operation!r} since {format_time(held.created)} ({held.age()} ago)",
            "wait for that run to finish (--lock-timeout SECONDS waits); if it died, release "
            f"the lock with: provisioner force-unlock {held.id} --state {self.location}")

    @contextmanager
    def _hold_one(self, org: str, info: LockInfo) -> Iterator[None]:
        ref = LOCK_PREFIX + org
        commit = self._lock_commit(info)
        if not self._push(commit, ref, None):
            raise self._locked_error(org)
        try:
            yield
        finally:
            self._push("", ref, commit)  # only our own lock; a force-unlocked one stays gone

    @contextmanager
    def lock(self, owner: str, operation: str,
             on_takeover: Callable[[LockInfo], None] | None = None) -> Iterator[LockInfo]:
        """Hold the lock of every org of the run, taken in name order. Locks on another
        machine cannot be checked for liveness, so none is ever taken over."""
        self._ensure_cache()
        info = LockInfo.taken_now(str(uuid.uuid4()), owner, operation)
        with ExitStack() as stack:
            for org in self.lock_orgs or self.orgs:
                stack.enter_context(self._hold_one(org, info))
            yield info

    def _locks(self) -> dict[str, tuple[str, LockInfo]]:
        self._ensure_cache()
        return {ref[len(LOCK_PREFIX):]: (sha, self._read_lock(ref, sha))
                for ref, sha in self._remote_refs(LOCK_PREFIX + "*").items()}

    def read_lock(self) -> LockInfo | None:
        """One lock held on the run's orgs, or None."""
        for org, (_sha, info) in sorted(self._locks().items()):
            if not self.orgs or org in self.orgs:
                return info
        return None

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Delete every org lock whose id is ``lock_id``; what was removed."""
        found = [(org, sha, info) for org, (sha, info) in self._locks().items()
                 if info.id == lock_id.strip()]
        if not found:
            raise StateError(f"no lock {lock_id} on {self.location}",
                             "copy the ID from the 'is locked' error of a run made just now")
        for org, sha, _info in found:
            self._push("", LOCK_PREFIX + org, sha)
        return found[0][2]


def _owner() -> str:
    from provisioner.lock import default_owner

    return default_owner()


#: Where the git backend keeps its object cache and a run's journal (default .provisioner/git).
CACHE_ENV = "PROVISIONER_GIT_CACHE"


def open_state(location: str | os.PathLike[str], orgs: Sequence[str],
               environ: Mapping[str, str] | None = None, *, lock_orgs: Sequence[str] = ()
               ) -> Any:
    """The state backend ``--state`` names: a git remote, or a local file."""
    from provisioner.state import StateStore

    if is_git_location(location):
        env = os.environ if environ is None else environ
        cache = env.get(CACHE_ENV)
        return GitStateStore(str(location), orgs, cache_root=Path(cache) if cache else None,
                             lock_orgs=lock_orgs)
    return StateStore(Path(location))


__all__ = ["DEFAULT_BRANCH", "GitStateStore", "is_git_location", "open_state", "parse_location"]
