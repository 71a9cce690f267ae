"""The import-file sink: refusal without a key, encryption, 0600, atomicity, upsert, no churn."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from provisioner.errors import ProvisionerError, SpecError, StateError
from provisioner.secret import Secret
from provisioner.sinks import WriteOp
from provisioner.workflow2 import (
    JWT_TYPE,
    CredentialRecord,
    DecryptionError,
    ImportFileSink,
    build_jwt_record,
    build_oauth2_record,
    decrypt_data,
    derive_credential_id,
)
from tests.faults import file_size_limit


@pytest.fixture
def key(canary_encryption_key: str) -> Secret:
    return Secret(canary_encryption_key)


@pytest.fixture
def records(private_key: Secret, client_secret: Secret) -> list[CredentialRecord]:
    return [
        build_jwt_record(
            id=derive_credential_id("local", "jwt"),
            name="SF JWT",
            environment="sandbox",
            client_id="3MVG9-ck",
            username="int@acme.test",
            private_key=private_key,
            my_domain_url="https://acme.my.salesforce.com",
        ),
        build_oauth2_record(
            id=derive_credential_id("local", "oauth"),
            name="SF OAuth2",
            environment="production",
            client_id="3MVG9-oauth",
            client_secret=client_secret,
        ),
    ]


def write_all(sink: ImportFileSink, records: list[CredentialRecord]) -> list[str]:
    """Write each record as a create (what the engine does for new records), then flush."""
    ids = [sink.write(r, WriteOp(create=True)) for r in records]
    sink.flush()
    return ids


def test_refuses_plaintext_without_flag(tmp_path: Path) -> None:
    with pytest.raises(ProvisionerError, match="plain text") as info:
        ImportFileSink(tmp_path / "c.json")
    assert "--allow-plaintext-secrets" in (info.value.hint or "")
    assert not (tmp_path / "c.json").exists()


def test_encrypted_file_has_no_plaintext_secret(
    tmp_path: Path, key: Secret, records: list[CredentialRecord], assert_no_canary
) -> None:
    path = tmp_path / "out" / "creds.json"
    ids = write_all(ImportFileSink(path, encryption_key=key), records)
    assert ids == [r.id for r in records]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert_no_canary(text, [r.fingerprints() for r in records])
    items = json.loads(text)
    assert [i["id"] for i in items] == [r.id for r in records]
    assert all(set(i) == {"id", "name", "type", "data"} for i in items)
    assert all(i["data"].startswith("U2FsdGVkX1") for i in items)
    assert decrypt_data(items[0]["data"], key) == records[0].revealed_data()
    assert [p.name for p in path.parent.iterdir()] == ["creds.json"]  # no temp file left


def test_plaintext_when_allowed(tmp_path: Path, records: list[CredentialRecord]) -> None:
    path = tmp_path / "creds.json"
    write_all(ImportFileSink(path, allow_plaintext=True), records)
    items = json.loads(path.read_text())
    assert items[1]["data"] == records[1].revealed_data()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reads_and_lists_never_write(
    tmp_path: Path, key: Secret, records: list[CredentialRecord]
) -> None:
    path = tmp_path / "creds.json"
    sink = ImportFileSink(path, encryption_key=key)
    assert sink.read([r.id for r in records]) == {r.id: None for r in records}
    assert sink.list_records() == [] and not path.exists()
    write_all(sink, records)
    before = (path.read_bytes(), path.stat().st_ino, path.stat().st_mtime_ns)
    assert [(r.id, r.name, r.type) for r in sink.list_records()] == [
        (r.id, r.name, r.type) for r in records]
    live = sink.read([r.id for r in records])
    assert [sink.connection_status(v) for v in live.values() if v] == ["not connected"] * 2
    assert sink.test(records[0].id) is None  # a file cannot test its records
    assert (path.read_bytes(), path.stat().st_ino, path.stat().st_mtime_ns) == before


def test_upsert_keeps_ids_and_other_records(
    tmp_path: Path, key: Secret, records: list[CredentialRecord], private_key: Secret
) -> None:
    path = tmp_path / "creds.json"
    foreign = {"id": "other1", "name": "Slack", "type": "slackApi", "data": "U2FsdGVkX1opaque"}
    path.write_text(json.dumps([foreign]))
    sink = ImportFileSink(path, encryption_key=key)
    write_all(sink, records[:1])
    rotated = build_jwt_record(
        id=records[0].id,
        name="SF JWT",
        environment="sandbox",
        client_id="3MVG9-ck",
        username="int@acme.test",
        private_key=Secret(private_key.reveal() + "\n"),
        my_domain_url="https://acme.my.salesforce.com",
    )
    assert sink.write(rotated, WriteOp(create=False, replace_data=True)) == records[0].id
    sink.flush()
    items = json.loads(path.read_text())
    assert [i["id"] for i in items] == ["other1", records[0].id]
    assert items[0] == foreign
    live = sink.read([records[0].id, "missing"])
    assert live["missing"] is None
    got = live[records[0].id]
    assert got is not None and got.data is not None
    assert got.data["privateKey"] == rotated.data["privateKey"]
    assert repr(got.data["privateKey"]) == "Secret('(sensitive)')"


def _one_written(tmp_path: Path, key: Secret, records: list[CredentialRecord]
                 ) -> tuple[Path, ImportFileSink, bytes]:
    """A sink whose file holds the first record: its path, the sink, the file's bytes."""
    path = tmp_path / "creds.json"
    sink = ImportFileSink(path, encryption_key=key)
    write_all(sink, records[:1])
    return path, sink, path.read_bytes()


def test_failed_write_leaves_the_old_file(
    tmp_path: Path, key: Secret, records: list[CredentialRecord]
) -> None:
    path, sink, before = _one_written(tmp_path, key, records)
    # A real write failure: the file-size limit makes the longer file fail with EFBIG, as a full
    # disk would with ENOSPC (SIGXFSZ ignored so the write fails instead of killing the process).
    with file_size_limit(len(before) + 16), pytest.raises(OSError) as info:
        sink.write(records[1], WriteOp(create=True))
        sink.flush()
    assert info.value.errno == errno.EFBIG
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["creds.json"]


def test_a_batch_is_written_once_at_the_flush(
    tmp_path: Path, key: Secret, records: list[CredentialRecord]
) -> None:
    # Rewriting the whole file per record made N records cost O(N²) bytes written.
    path, sink, before = _one_written(tmp_path, key, records)
    for record in records:
        sink.write(record, WriteOp(create=False))
    assert path.read_bytes() == before  # nothing reaches the file before the flush
    inode = path.stat().st_ino
    sink.flush()
    assert path.stat().st_ino != inode  # replaced once, atomically
    assert [i["id"] for i in json.loads(path.read_text())] == [r.id for r in records]
    sink.flush()  # nothing pending: the file is not written again
    assert path.stat().st_ino != inode and sink.read([records[-1].id])[records[-1].id]


def test_wrong_key_is_clear_and_secret_free(
    tmp_path: Path, key: Secret, records: list[CredentialRecord], assert_no_canary
) -> None:
    path = tmp_path / "creds.json"
    write_all(ImportFileSink(path, encryption_key=key), records)
    with pytest.raises(DecryptionError) as info:
        ImportFileSink(path, encryption_key=Secret("another-key")).read([records[0].id])
    assert "SF JWT" in info.value.message
    assert_no_canary(info.value.diagnostics(), repr(info.value.__cause__))


def test_invalid_record_is_refused_before_writing(tmp_path: Path, key: Secret) -> None:
    bad = CredentialRecord("pvbad", "bad", JWT_TYPE, {"clientId": "x"})
    with pytest.raises(SpecError, match="username"):
        write_all(ImportFileSink(tmp_path / "c.json", encryption_key=key), [bad])
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("content", ["{not json", '{"a": 1}', "[1, 2]"])
def test_corrupt_existing_file(tmp_path: Path, key: Secret, content: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(StateError, match="import file"):
        ImportFileSink(path, encryption_key=key).read(["x"])


def test_delete(tmp_path: Path, key: Secret, records: list[CredentialRecord]) -> None:
    path = tmp_path / "c.json"
    sink = ImportFileSink(path, encryption_key=key)
    write_all(sink, records)
    assert sink.delete([records[0].id, "nope"]) == [records[0].id]
    sink.flush()
    assert [i["id"] for i in json.loads(path.read_text())] == [records[1].id]
    assert os.stat(path).st_mode & 0o077 == 0
