"""The pipeline kit in examples/pipelines and .pre-commit-hooks.yaml, tested as shipped.

- The workflow files validate against the GitHub Actions and GitLab CI JSON Schemas
  (check-jsonschema's vendored copies), and a broken one does not.
- ``pre-commit try-repo`` runs the hook on a temporary repository: a good spec passes, a bad
  one fails with the problem's file:line.
- A pipeline simulation runs the workflow's own ``run:`` scripts (provisioner plan / apply) in
  three clones of a specs repository sharing the git state backend: the PR job plans each org,
  the merge job applies exactly that plan, the scheduled job finds nothing due; two per-org
  jobs run at the same time, and one org's job runs while the other org's lock is held.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner.gitstate import CACHE_ENV, GitStateStore

REPO = Path(__file__).resolve().parents[2]
KIT = REPO / "examples" / "pipelines"
BIN = Path(sys.executable).parent
ORGS = ("acme-prod", "acme-uat")
TIMEOUT = 600  # bounded, generous on a busy machine


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False,
                          **kw)


def test_workflows_validate_against_their_ci_schemas(tmp_path: Path) -> None:
    github = sorted((KIT / "github").glob("*.yml"))
    assert len(github) == 3
    ok = _run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
               *map(str, github)])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    gitlab = _run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci",
                   str(KIT / "gitlab" / ".gitlab-ci.yml")])
    assert gitlab.returncode == 0, gitlab.stdout + gitlab.stderr
    # Not vacuous: a job without runs-on is refused.
    broken = tmp_path / "broken.yml"
    doc = yaml.safe_load(github[0].read_text())
    del next(iter(doc["jobs"].values()))["runs-on"]
    broken.write_text(yaml.safe_dump(doc))
    bad = _run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                str(broken)])
    assert bad.returncode == 1


def test_the_pre_commit_hook_passes_a_good_spec_and_fails_a_bad_one(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == ["provisioner-validate"]
    repo = tmp_path / "specs-repo"
    (repo / "specs").mkdir(parents=True)
    shutil.copy(REPO / "specs" / "quickstart.yaml", repo / "specs" / "quickstart.yaml")
    _git(repo, "init", "--quiet")
    _git(repo, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    good = _run([str(BIN / "pre-commit"), "try-repo", str(REPO), "provisioner-validate",
                 "--all-files"], cwd=repo, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "provisioner validate" in good.stdout and "Passed" in good.stdout
    spec = repo / "specs" / "quickstart.yaml"
    spec.write_text(spec.read_text().replace("org: quickstart", "org: nowhere"))
    _git(repo, "add", "-A")
    bad = _run([str(BIN / "pre-commit"), "try-repo", str(REPO), "provisioner-validate",
                "--all-files"], cwd=repo, env=env)
    assert bad.returncode == 1
    assert "Failed" in bad.stdout and "unknown SalesforceOrg 'nowhere'" in bad.stdout


def test_shell_completion_is_documented_and_works() -> None:
    readme = (REPO / "README.md").read_text()
    assert 'eval "$(_PROVISIONER_COMPLETE=bash_source provisioner)"' in readme
    done = _run([str(BIN / "provisioner")], env={**os.environ,
                                                 "_PROVISIONER_COMPLETE": "bash_source"})
    assert done.returncode == 0 and "_provisioner_completion" in done.stdout
    assert "examples/pipelines" in readme.split("## In a GitOps pipeline", 1)[1]


# -- the pipeline simulation -------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = _run(["git", "-C", str(repo), *args], env=env)
    assert done.returncode == 0, done.stderr


def _specs(root: Path) -> str:
    """Two sandbox orgs, each with its own import-file instance and one app (absolute paths:
    every clone sees the same orgs and files, as every runner sees the same real ones)."""
    docs = []
    for org in ORGS:
        short = org.split("-")[1]
        docs.append(textwrap.dedent(f"""\
            apiVersion: provisioner.dev/v1
            kind: SalesforceOrg
            metadata: {{name: {org}}}
            spec:
              sandbox: {{stateDir: {root / ("sandbox-" + short)}}}
            ---
            apiVersion: provisioner.dev/v1
            kind: WorkflowInstance
            metadata: {{name: wf-{short}}}
            spec:
              baseUrl: http://localhost:5678
              sink: {{type: importFile, path: {root / ("out-" + short) / "credentials.json"},
                      encryptionKey: {{env: N8N_ENCRYPTION_KEY}}}}
            ---
            apiVersion: provisioner.dev/v1
            kind: SalesforceApp
            metadata: {{name: integration-{short}}}
            spec:
              org: {org}
              label: Integration {short}
              contactEmail: integrations@example.com
              callbackUrls: [{{workflowInstance: wf-{short}}}]
              scopes: [api, refresh_token, full]
              certificate: {{keySize: 2048, validityDays: 365, rotateBeforeDays: 30}}
              preAuthorized: {{permissionSets: [Workflow_Integration]}}
              credentials:
                - {{type: jwt, instance: wf-{short}, name: Salesforce {short} (JWT),
                    username: integration@sandbox.provisioner.test}}
            """))
    return "---\n".join(docs)


def _step(workflow: str, name: str) -> str:
    """The ``run:`` script of the step called ``name`` in a kit workflow."""
    doc = yaml.safe_load((KIT / "github" / workflow).read_text())
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if step.get("name") == name:
                script: str = step["run"]
                return script
    raise AssertionError(f"no step {name!r} in {workflow}")


def _job(script: str, org: str, clone: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the script as a runner would: ${{ matrix.org }} filled in, bash, in the clone."""
    text = script.replace("${{ matrix.org }}", org)
    assert "${{" not in text, text
    return subprocess.Popen(["bash", "-eo", "pipefail", "-c", text], cwd=clone, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def test_pipeline_simulation_pr_merge_schedule_and_parallel_orgs(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    (origin / "specs").mkdir(parents=True)
    (origin / "specs" / "integrations.yaml").write_text(_specs(tmp_path))
    _git(origin, "init", "--quiet")
    _git(origin, "add", "-A")
    _git(origin, "commit", "--quiet", "-m", "specs")
    clones = {}
    for job in ("pr", "merge", "schedule"):
        clones[job] = tmp_path / f"clone-{job}"
        assert _run(["git", "clone", "--quiet", str(origin), str(clones[job])]).returncode == 0
    bare = tmp_path / "state.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    state = f"git+file://{bare}#provisioner-state"

    def env(job: str, **extra: str) -> dict[str, str]:
        return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                "PROVISIONER_STATE": state, "N8N_ENCRYPTION_KEY": "pipeline-sim-key",
                CACHE_ENV: str(tmp_path / f"cache-{job}"), "GITHUB_OUTPUT": str(
                    tmp_path / f"output-{job}"), **extra}

    # PR job, one per org: the workflow's Plan step.
    plan_step = _step("provisioner-plan.yml", "Plan")
    for org in ORGS:
        code, _out, err = _finish(_job(plan_step, org, clones["pr"], env("pr")))
        assert code == 0, err
        comment = (clones["pr"] / "plan.md").read_text()
        assert comment.splitlines()[0] == f"<!-- provisioner-plan:{org} -->"
        assert "1 app(s) to create" in comment
        artifact = clones["pr"] / f"plan-{org}.json"
        assert json.loads(artifact.read_text())["targets"]["orgs"] == [org]
        shutil.copy(artifact, clones["merge"] / artifact.name)  # upload, then download
    assert "changes=true" in (tmp_path / "output-pr").read_text()

    # Merge job: the workflow's Apply step, both orgs at once (their own locks and files).
    apply_step = _step("provisioner-apply.yml",
                       "Apply the reviewed plan (refused if specs, state or org changed since)")
    jobs = [_job(apply_step.replace("result.json", f"result-{org}.json"), org,
                 clones["merge"], env("merge", PROVISIONER_LOCK_TIMEOUT="0")) for org in ORGS]
    for org, proc in zip(ORGS, jobs, strict=True):
        code, _out, err = _finish(proc)
        assert code == 0, err
        result = json.loads((clones["merge"] / f"result-{org}.json").read_text())
        assert (result["command"], result["status"]) == ("apply", "applied")
        assert result["result"]["verified"] == [f"integration-{org.split('-')[1]}"]
    history = _run(["git", "-C", str(bare), "log", "--format=%s", "provisioner-state"]).stdout
    assert all(f"state of {org} serial" in history for org in ORGS)

    # Scheduled job: one org's rotation runs while the other org's lock is held elsewhere.
    holder = GitStateStore(state, ["acme-prod"], cache_root=tmp_path / "cache-holder")
    rotate_step = _step("provisioner-rotate.yml", "Apply (rotates what policy says is due)")
    with holder.lock("another job", "apply"):
        code, _out, err = _finish(_job(rotate_step, "acme-uat", clones["schedule"],
                                       env("schedule", PROVISIONER_LOCK_TIMEOUT="0")))
    assert code == 0, err
    result = json.loads((clones["schedule"] / "result.json").read_text())
    assert result["status"] == "no-changes"  # nothing is due a day after the merge
    code, _out, err = _finish(_job(rotate_step, "acme-prod", clones["schedule"],
                                   env("schedule", PROVISIONER_LOCK_TIMEOUT="0")))
    assert code == 0, err
    # The state both runners share is valid and names both orgs' apps.
    for org in ORGS:
        doc = json.loads(_run(["git", "-C", str(bare), "show",
                               f"provisioner-state:{org}.state.json"]).stdout)
        assert re.fullmatch(r"integration-(prod|uat)", next(iter(doc["apps"])))


@pytest.fixture(autouse=True)
def _no_stray_git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend sets its own commit identity; a runner may have none configured."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
