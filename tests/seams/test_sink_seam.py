"""A new credential sink plugs in through ``register_sink``: the real engine plans, writes,
converges, rotates and destroys credentials through it against the sandbox org."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.engine.run import apply_desired, load_specs, plan_desired
from provisioner.model import Desired
from provisioner.secret import Secret
from provisioner.sinks import sink_registered
from tests.engine.conftest import INTEGRATION_USER, Workspace, approve, jwt_login, running_org
from tests.seams.memory_sink import FACTORY, STORES, MemorySinkSpec


@pytest.fixture
def memory_sink() -> Iterator[None]:
    STORES.clear()
    with sink_registered(FACTORY):
        yield
    STORES.clear()


def _desired(ws: Workspace) -> Desired:
    """The workspace's specs with the instance writing to the memory sink."""
    desired = load_specs(ws.paths())
    instances = {n: dataclasses.replace(i, sink=MemorySinkSpec())  # type: ignore[arg-type]
                 for n, i in desired.instances.items()}
    return dataclasses.replace(desired, instances=instances)


def _files(ws: Workspace) -> list[Path]:
    return sorted(ws.specs.glob("*.yaml"))


def quiet(_line: str) -> None:
    return None


def test_memory_sink_gets_records_that_sign_in_and_converges(
    ws: Workspace, memory_sink: None
) -> None:
    plan, result = apply_desired(_desired(ws), _files(ws), ws.options(), quiet, approve)
    assert [(c.action, c.sink) for c in plan.credentials] == [("create", "memory")] * 2
    assert result is not None and not result.failures, result and result.failures
    store = STORES["wf"]
    assert sorted(store.log) == [("create", "billing (JWT)"), ("create", "billing (OAuth2)")]
    jwt = next(r for r in store.records.values() if r["name"] == "billing (JWT)")
    assert jwt["type"] == "salesforceJwtApi" and jwt["data"]["username"] == INTEGRATION_USER
    assert not ws.import_file.exists()  # nothing went to the spec's own sink
    with running_org(ws) as org:  # the record the sink holds signs in to the org
        jwt_login(org, jwt["data"]["clientId"], Secret(jwt["data"]["privateKey"]))

    again = plan_desired(_desired(ws), _files(ws), ws.options(), quiet).plan
    assert not again.has_changes

    store.log.clear()
    rotated, done = apply_desired(_desired(ws), _files(ws),
                                  ws.options(force_rotate=frozenset({"billing"})), quiet, approve)
    assert [a.action for a in rotated.apps] == ["rotate"]
    assert done is not None and not done.failures
    assert store.log == [("update", "billing (JWT)")]  # in place, under the same id
    new_jwt = next(r for r in store.records.values() if r["name"] == "billing (JWT)")
    assert new_jwt["data"]["privateKey"] != jwt["data"]["privateKey"]

    _gone, destroyed = apply_desired(_desired(ws), _files(ws),
                                     ws.options(destroy=frozenset({"billing"})), quiet, approve)
    assert destroyed is not None and not destroyed.failures
    assert store.records == {}
