"""Recovery: every journal step kind has one replay entry; finished steps land in state."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from provisioner.engine.statewriter import REPLAY, StateWriter, recover
from provisioner.errors import StateError
from provisioner.journal import STEP_KINDS, Journal, JournalStep
from provisioner.state import AppState, CredentialState, State, StateStore

AT = datetime(2026, 6, 1, tzinfo=timezone.utc)


def test_the_table_covers_every_kind() -> None:
    assert set(REPLAY) == set(STEP_KINDS)


def _store_with_app(tmp_path: Path) -> tuple[StateStore, State]:
    record = CredentialState(instance="wf", name="billing (JWT)", type="salesforceJwtApi",
                              record_id="pvabc", sink="api", field_fingerprints={},
                              updated_at=AT)
    other = CredentialState(instance="wf", name="billing (OAuth2)", type="salesforceOAuth2Api",
                             record_id="pvdef", sink="api", field_fingerprints={},
                             updated_at=AT)
    app = AppState(org="sb", api_name="billing", app_type="externalClientApp",
                   consumer_key="PRV1consumerkey", created_at=AT,
                   credentials={"wf/billing (JWT)": record, "wf/billing (OAuth2)": other})
    store = StateStore(tmp_path / "state.json")
    state = store.save(State(apps={"billing": app}), expected_serial=0)
    return store, state


def test_a_finished_credential_delete_is_forgotten_by_state(tmp_path: Path) -> None:
    store, state = _store_with_app(tmp_path)
    journal = Journal(store.journal_path)
    step = journal.record_intent(JournalStep("credential-delete", app="billing", instance="wf",
                                             facts={"recordId": "pvabc"}))
    journal.mark_done(step, {"existed": True})
    pending = journal.record_intent(JournalStep("credential-delete", app="billing",
                                                instance="wf", facts={"recordId": "pvdef"}))
    assert pending
    writer = StateWriter(store, state)
    lines = recover(journal, writer)
    assert lines == [
        "credential-delete of billing finished in the interrupted run: recorded in state",
        "credential-delete of billing was interrupted before it finished: the plan reads what "
        "happened",
    ]
    # The finished delete is recorded; the unfinished one is left for the plan to read.
    assert set(store.load().apps["billing"].credentials) == {"wf/billing (OAuth2)"}
    assert not journal.path.exists()


def test_a_journal_with_an_unknown_step_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json.journal"
    path.write_text(json.dumps({"type": "intent", "id": "x", "at": AT.isoformat(),
                                "step": {"kind": "teleport", "facts": {}}}) + "\n")
    with pytest.raises(StateError, match="holds a step this provisioner does not know"):
        Journal(path).entries()
