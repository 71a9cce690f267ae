"""The spec documents the benchmarks apply: one shape of app, orgs embedded or signed in to."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

ENC_ENV = "BENCH_N8N_ENCRYPTION_KEY"
USER = "integration@sandbox.provisioner.test"


def instance_doc() -> str:
    """Workflow² instance ``wf``: an import file encrypted with ``$BENCH_N8N_ENCRYPTION_KEY``."""
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: WorkflowInstance
        metadata: {{name: wf}}
        spec:
          baseUrl: http://localhost:5678
          sink: {{type: importFile, path: ../out/credentials.json, encryptionKey: {{env: {ENC_ENV}}}}}
        """)


def embedded_org_doc(name: str = "bench", propagation_delay: float = 0.0) -> str:
    """An org that is the embedded sandbox in ``../sandbox``."""
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceOrg
        metadata: {{name: {name}}}
        spec:
          sandbox: {{stateDir: ../sandbox, propagationDelaySeconds: {propagation_delay:g}}}
        """)


def remote_org_doc(name: str, org: Mapping[str, str]) -> str:
    """An org signed in to as a real one: JWT bearer with the sandbox's deploy app (``org``:
    its ``url``, ``client_id``, ``username`` and ``key_file``)."""
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceOrg
        metadata: {{name: {name}}}
        spec:
          myDomainUrl: {org['url']}
          auth:
            jwt:
              clientId: {org['client_id']}
              username: {org['username']}
              privateKey: {{file: {org['key_file']}}}
        """)


def app_doc(name: str, org: str, *, oauth2: bool = True, strategy: str = "cutover") -> str:
    """An External Client App with a JWT credential (and an OAuth2 one) on instance ``wf``."""
    oauth = f"\n    - {{type: oauth2, instance: wf, name: {name} (OAuth2)}}" if oauth2 else ""
    return textwrap.dedent(f"""\
        apiVersion: provisioner.dev/v1
        kind: SalesforceApp
        metadata: {{name: {name}}}
        spec:
          org: {org}
          label: Bench {name}
          contactEmail: bench@example.com
          callbackUrls: [{{workflowInstance: wf}}]
          scopes: [api, refresh_token, full]
          certificate: {{}}
          rotation: {{strategy: {strategy}}}
          preAuthorized: {{permissionSets: [Workflow_Integration]}}
          credentials:
            - {{type: jwt, instance: wf, name: {name} (JWT), username: {USER}}}""") + oauth + "\n"


def write_specs(root: Path, docs: Sequence[str]) -> Path:
    """``root/specs/all.yaml`` holding ``docs``; returns the folder."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    (specs / "all.yaml").write_text("---\n".join(docs))
    return specs
