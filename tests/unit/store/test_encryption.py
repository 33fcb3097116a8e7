"""Encryption at rest of the artifact store: envelope AES-256-GCM around any backend."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from pathtolive.errors import ConfigError, IntegrityError
from pathtolive.hashing import hash_bytes
from pathtolive.store.artifacts import FsspecArtifactStore, LocalArtifactStore
from pathtolive.store.artifacts.base import ArtifactStore, object_key
from pathtolive.store.artifacts.encryption import EncryptedArtifactStore, rewrap_object
from pathtolive.store.artifacts.envelope import (
    HEADER_BYTES,
    LineSealer,
    ciphertext_size,
    open_lines,
)
from pathtolive.store.artifacts.keyring import Keyring, key_id_of, load_keyring, parse_keys

SENTINEL = b"SENTINEL-7f3a-plaintext-"
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def payload(size: int) -> bytes:
    """``size`` bytes that carry the sentinel many times over."""
    return (SENTINEL * (size // len(SENTINEL) + 1))[:size]


@pytest.fixture(params=["local", "memory"])
def inner(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "store")
    return FsspecArtifactStore(
        f"memory://enc-{os.urandom(4).hex()}", cache_dir=tmp_path / "cache" / "artifacts"
    )


def encrypted(inner: ArtifactStore, *keys: bytes) -> EncryptedArtifactStore:
    # Small chunks, so that a few kilobytes make many chunks.
    return EncryptedArtifactStore(inner, Keyring(keys or (KEY_A,)), chunk_log2=10)


def stored_bytes(inner: ArtifactStore, digest: str) -> bytes:
    with inner.raw_open(digest) as reader:
        return reader.read()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 10_000])
def test_round_trip_keeps_the_plaintext_address(
    inner: ArtifactStore, size: int, tmp_path: Path
) -> None:
    store = encrypted(inner)
    data = payload(size)
    info = store.put_bytes(data)
    assert info.digest == hash_bytes(data)
    assert store.get_bytes(info.digest) == data
    assert store.size(info.digest) == size
    assert store.get_file(info.digest, tmp_path / "out").read_bytes() == data
    assert store.local_path(info.digest).read_bytes() == data
    assert store.put_bytes(data).created is False
    raw = stored_bytes(inner, info.digest)
    assert len(raw) == ciphertext_size(size, 10)
    assert SENTINEL not in raw


def test_files_stream_through_and_dedupe(inner: ArtifactStore, tmp_path: Path) -> None:
    store = encrypted(inner)
    source = tmp_path / "data.bin"
    source.write_bytes(payload(50_000))
    info = store.put_file(source)
    assert info.created
    assert info.digest == hash_bytes(source.read_bytes())
    assert store.put_file(source, digest=info.digest).created is False
    with store.stage_file(source) as staged:
        assert staged.digest == info.digest
        assert staged.commit().created is False
    assert list(store.iter_digests()) == [info.digest]
    assert SENTINEL not in stored_bytes(inner, info.digest)


def test_a_staged_object_left_uncommitted_leaves_nothing(tmp_path: Path) -> None:
    inner = LocalArtifactStore(tmp_path / "store")
    store = encrypted(inner)
    source = tmp_path / "data.bin"
    source.write_bytes(payload(3000))
    with store.stage_file(source) as staged:
        digest = staged.digest
    assert not store.exists(digest)
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_the_local_object_on_disk_holds_no_plaintext(tmp_path: Path) -> None:
    inner = LocalArtifactStore(tmp_path / "store")
    digest = encrypted(inner).put_bytes(payload(5000)).digest
    on_disk = (tmp_path / "store" / object_key(digest)).read_bytes()
    assert on_disk.startswith(b"PTLENC")
    assert SENTINEL not in on_disk


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(
            lambda raw: (
                raw[: HEADER_BYTES + 5]
                + bytes([raw[HEADER_BYTES + 5] ^ 1])
                + raw[HEADER_BYTES + 6 :]
            ),
            id="flipped-bit",
        ),
        pytest.param(lambda raw: raw[: HEADER_BYTES + 1040], id="truncated-at-chunk"),
        pytest.param(lambda raw: raw[:-3], id="truncated"),
        pytest.param(
            lambda raw: raw + raw[HEADER_BYTES : HEADER_BYTES + 1040], id="appended-chunk"
        ),
        pytest.param(
            lambda raw: (
                raw[:HEADER_BYTES]
                + raw[HEADER_BYTES + 1040 : HEADER_BYTES + 2080]
                + raw[HEADER_BYTES : HEADER_BYTES + 1040]
                + raw[HEADER_BYTES + 2080 :]
            ),
            id="reordered",
        ),
        pytest.param(lambda raw: raw[:30] + bytes([raw[30] ^ 1]) + raw[31:], id="wrapped-key"),
    ],
)
def test_tampered_ciphertext_is_refused(tmp_path: Path, tamper: object) -> None:
    inner = LocalArtifactStore(tmp_path / "store")
    store = encrypted(inner)
    digest = store.put_bytes(payload(5000)).digest
    path = tmp_path / "store" / object_key(digest)
    raw = path.read_bytes()
    path.chmod(0o600)
    path.write_bytes(tamper(raw))  # type: ignore[operator]
    with pytest.raises(IntegrityError):
        store.get_bytes(digest)
    with pytest.raises(IntegrityError):
        store.get_file(digest, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_object_moved_to_another_address_is_refused(tmp_path: Path) -> None:
    inner = LocalArtifactStore(tmp_path / "store")
    store = encrypted(inner)
    one = store.put_bytes(payload(100)).digest
    other = hash_bytes(b"other")
    target = tmp_path / "store" / object_key(other)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((tmp_path / "store" / object_key(one)).read_bytes())
    with pytest.raises(IntegrityError, match="fails authentication"):
        store.get_bytes(other)


def test_a_missing_key_names_the_key_id_and_how_to_provide_it(inner: ArtifactStore) -> None:
    digest = encrypted(inner, KEY_A).put_bytes(payload(100)).digest
    with pytest.raises(ConfigError) as caught:
        encrypted(inner, KEY_B).get_bytes(digest)
    message = str(caught.value)
    assert key_id_of(KEY_A).hex() in message
    assert "PATHTOLIVE_KEK" in message
    assert "key_file" in message
    assert caught.value.exit_code == 8
    assert base64.b64encode(KEY_A).decode() not in message


def test_rotation_rewraps_headers_only_then_the_new_key_alone_reads(inner: ArtifactStore) -> None:
    old = encrypted(inner, KEY_A)
    digests = [old.put_bytes(payload(n)).digest for n in (0, 10, 4000)]
    before = {d: stored_bytes(inner, d) for d in digests}
    rotating = Keyring((KEY_B, KEY_A))
    assert {rewrap_object(inner, d, rotating) for d in digests} == {"rewrapped"}
    assert {rewrap_object(inner, d, rotating) for d in digests} == {"current"}
    for digest in digests:
        after = stored_bytes(inner, digest)
        assert after[HEADER_BYTES:] == before[digest][HEADER_BYTES:]  # the data is untouched
        assert after[:HEADER_BYTES] != before[digest][:HEADER_BYTES]
    new_only = encrypted(inner, KEY_B)
    assert [new_only.get_bytes(d) for d in digests] == [payload(n) for n in (0, 10, 4000)]
    with pytest.raises(ConfigError, match=key_id_of(KEY_B).hex()):
        old.get_bytes(digests[1])


def test_plain_objects_stay_readable_when_encryption_is_switched_on(tmp_path: Path) -> None:
    inner = LocalArtifactStore(tmp_path / "store")
    digest = inner.put_bytes(b"written before").digest
    store = encrypted(inner)
    assert store.get_bytes(digest) == b"written before"
    assert rewrap_object(inner, digest, Keyring((KEY_A,))) == "plain"


def test_encrypt_off_still_reads_encrypted_objects(tmp_path: Path) -> None:
    inner = LocalArtifactStore(tmp_path / "store")
    digest = encrypted(inner).put_bytes(payload(300)).digest
    reader = EncryptedArtifactStore(inner, Keyring((KEY_A,)), encrypt=False)
    assert reader.get_bytes(digest) == payload(300)
    plain = reader.put_bytes(b"plain now").digest
    assert (tmp_path / "store" / object_key(plain)).read_bytes() == b"plain now"


def test_sealed_lines_round_trip_and_refuse_tampering() -> None:
    keyring = Keyring((KEY_A,))
    sealer = LineSealer(keyring)
    data = sealer.header_line() + b"".join(sealer.seal(SENTINEL + b"%d\n" % i) for i in range(3))
    assert SENTINEL not in data
    opened = open_lines(data, keyring, what="journal")
    assert opened == ([SENTINEL + b"%d" % i for i in range(3)], 0)
    lines = data.split(b"\n")
    torn = b"\n".join([*lines[:2], lines[3], lines[2][:-4]]) + b"\n"
    records, failed = open_lines(torn, keyring, what="journal") or ([], 0)
    assert records == [SENTINEL + b"0", SENTINEL + b"2"]
    assert failed == 1
    assert open_lines(b'{"id": 1}\n', keyring, what="journal") is None
    with pytest.raises(ConfigError, match="key"):
        open_lines(data, Keyring((KEY_B,)), what="journal")


def test_keys_come_from_the_environment_a_command_or_a_file(tmp_path: Path) -> None:
    text = f"{base64.b64encode(KEY_B).decode()}\n# old\n{base64.b64encode(KEY_A).decode()}\n"
    key_file = tmp_path / "kek"
    key_file.write_text(text)
    from_file = load_keyring(environ={}, key_file=key_file, key_command=None)
    assert from_file.keys == (KEY_B, KEY_A)
    from_command = load_keyring(environ={}, key_file=None, key_command=f"cat {key_file}")
    assert from_command.keys == (KEY_B, KEY_A)
    environ = {"PATHTOLIVE_KEK": base64.b64encode(KEY_A).decode()}
    assert load_keyring(environ=environ, key_file=key_file, key_command=None).keys == (KEY_A,)
    raw = tmp_path / "raw"
    raw.write_bytes(KEY_A)
    assert load_keyring(environ={}, key_file=raw, key_command=None).keys == (KEY_A,)
    assert parse_keys(KEY_A, source="x") == (KEY_A,)


@pytest.mark.parametrize(
    ("environ", "key_file", "command", "match"),
    [
        ({}, None, None, "no key-encryption key"),
        ({}, "missing", None, "does not exist"),
        ({}, None, "false", "exit status 1"),
        ({"PATHTOLIVE_KEK": "not base64!"}, None, None, "not base64"),
        ({"PATHTOLIVE_KEK": base64.b64encode(b"short").decode()}, None, None, "not 32"),
    ],
)
def test_a_bad_key_source_is_one_clear_config_error(
    tmp_path: Path, environ: dict[str, str], key_file: str | None, command: str | None, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        load_keyring(
            environ=environ,
            key_file=None if key_file is None else tmp_path / key_file,
            key_command=command,
        )


def test_the_keyring_never_shows_its_keys() -> None:
    keyring = Keyring((KEY_A,))
    assert KEY_A.hex() not in repr(keyring)
    assert str(KEY_A) not in repr(keyring)


def test_local_path_decrypts_into_a_private_folder_outside_the_store(tmp_path: Path) -> None:
    store = encrypted(LocalArtifactStore(tmp_path / "store"))
    digest = store.put_bytes(payload(3000)).digest
    path = store.local_path(digest)
    assert path.read_bytes() == payload(3000)
    assert tmp_path not in path.parents
    assert path.parent.stat().st_mode & 0o077 == 0
    assert store.local_path(digest) == path  # decrypted once, then reused
    store.close()
    assert not path.exists()


def test_decrypted_copies_of_a_killed_process_are_removed_by_the_next(tmp_path: Path) -> None:
    import subprocess
    import sys

    from pathtolive.store.artifacts.encryption import _remove_orphaned_copies

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = tmp_path / f"pathtolive-plain-{dead.stdout.strip()}-abc"
    orphan.mkdir()
    (orphan / "copy").write_bytes(SENTINEL)
    alive = tmp_path / f"pathtolive-plain-{os.getpid()}-def"
    alive.mkdir()
    _remove_orphaned_copies(tmp_path)
    assert not orphan.exists()
    assert alive.exists()


def _settings_with(tmp_path: Path, security: str) -> object:
    from pathtolive.config import WORKSPACE_FILE, load_settings

    (tmp_path / WORKSPACE_FILE).write_text(f"[security]\n{security}\n")
    return load_settings(tmp_path, environ={})


def test_security_settings_are_read_and_checked(tmp_path: Path) -> None:
    from pathtolive.config import Settings, encryption_settings

    settings = _settings_with(tmp_path, 'encrypt = true\nkey_file = "keys/kek"\ns3_sse = "aws:kms"')
    assert isinstance(settings, Settings)
    security = encryption_settings(settings)
    assert security.encrypt is True
    assert security.key_file == tmp_path / "keys" / "kek"
    assert security.s3_sse == "aws:kms"
    for bad, match in [
        ('encrypt = "yes"', "true or false"),
        ('s3_sse = "rot13"', "AES256"),
        ("key_file = 3", "must be a string"),
    ]:
        settings = _settings_with(tmp_path, bad)
        assert isinstance(settings, Settings)
        with pytest.raises(ConfigError, match=match):
            encryption_settings(settings)
    with pytest.raises(ConfigError, match=r"security\.encrpyt is not a setting; did you mean"):
        _settings_with(tmp_path, "encrpyt = true")  # a typo must not leave data unencrypted


def test_sse_settings_reach_s3_upload_options() -> None:
    from pathtolive.store.artifacts import s3_storage_options_from_env

    options = s3_storage_options_from_env(
        {"PATHTOLIVE_S3_SSE": "aws:kms", "PATHTOLIVE_S3_SSE_KMS_KEY_ID": "alias/ml"}
    )
    assert options["s3_additional_kwargs"] == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/ml",
    }


def test_objects_stored_before_encryption_can_be_encrypted_in_place(inner: ArtifactStore) -> None:
    from pathtolive.store.artifacts.encryption import encrypt_plain_object

    digests = [inner.put_bytes(payload(n)).digest for n in (0, 5000)]
    store = encrypted(inner)
    assert [encrypt_plain_object(store, d) for d in digests] == [True, True]
    assert [encrypt_plain_object(store, d) for d in digests] == [False, False]
    for digest, size in zip(digests, (0, 5000), strict=True):
        raw = stored_bytes(inner, digest)
        assert raw.startswith(b"PTLENC")
        assert SENTINEL not in raw
        assert store.get_bytes(digest) == payload(size)


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "kek"
    key_file.write_text(base64.b64encode(KEY_A).decode())
    key_file.chmod(0o644)
    load_keyring(environ={}, key_file=key_file, key_command=None)
    assert "chmod 600" in caplog.text
    caplog.clear()
    key_file.chmod(0o600)
    load_keyring(environ={}, key_file=key_file, key_command=None)
    assert caplog.text == ""


def test_a_store_sent_to_a_worker_reads_what_this_one_wrote(inner: ArtifactStore) -> None:
    import cloudpickle

    store = encrypted(inner)
    digest = store.put_bytes(payload(5000)).digest
    store.local_path(digest)  # a decrypted copy of this process, not sent along
    copy = cloudpickle.loads(cloudpickle.dumps(store))
    assert copy.get_bytes(digest) == payload(5000)
    assert copy.local_path(digest).read_bytes() == payload(5000)
