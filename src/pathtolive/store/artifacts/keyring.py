"""Key-encryption keys (KEKs) for encryption at rest, and the data keys they wrap.

Each stored object is encrypted with its own random 256-bit data key; the data key is
kept in the object's header wrapped (RFC 3394 AES key wrap) by a KEK. A KEK never goes
into the store or the database: it comes from, in this order,

- the ``PATHTOLIVE_KEK`` environment variable (base64 keys, separated by commas),
- ``[security] key_command``, a command (a KMS or secret-manager client) whose standard
  output holds the keys, one base64 key a line,
- ``[security] key_file``, a file holding the keys one base64 key a line (or exactly 32
  raw bytes).

The first key encrypts; every key listed decrypts, so a rotation lists the new key first
and the old one after it until ``security rotate-key`` has rewrapped every object. A key
is named by its id, a fingerprint of the key (not the key), so an error can say which
key an object needs without revealing anything of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from pathtolive import env
from pathtolive.errors import ConfigError, IntegrityError

__all__ = [
    "KEK_ENV",
    "KEY_BYTES",
    "KEY_ID_BYTES",
    "WRAPPED_KEY_BYTES",
    "Keyring",
    "generate_key_text",
    "key_id_of",
    "load_keyring",
    "parse_keys",
]

_log = logging.getLogger("pathtolive.security")

KEK_ENV = env.KEK
KEY_BYTES = 32
"""AES-256: every KEK and data key is 32 bytes."""
KEY_ID_BYTES = 8
WRAPPED_KEY_BYTES = KEY_BYTES + 8
"""AES key wrap adds an 8-byte integrity block."""
_HOW_TO_PROVIDE = (
    f"set {KEK_ENV} (base64), or [security] key_file or key_command in pathtolive.toml"
)


def key_id_of(key: bytes) -> bytes:
    """The id of a KEK: a domain-separated SHA-256 fingerprint, truncated. It identifies
    the key in headers and errors and reveals nothing usable about it."""
    return hashlib.sha256(b"pathtolive kek id\x00" + key).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class Keyring:
    """The KEKs this process holds: ``keys[0]`` wraps new data keys, all of them unwrap."""

    keys: tuple[bytes, ...]
    source: str = "the keyring"
    _by_id: dict[bytes, bytes] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigError(f"no key-encryption key is configured; {_HOW_TO_PROVIDE}")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise ConfigError(
                    f"a key in {self.source} is {len(key)} bytes, not {KEY_BYTES}; make "
                    "one with 'pathtolive security new-key'"
                )
            self._by_id.setdefault(key_id_of(key), key)

    def __repr__(self) -> str:  # never print key material, even in a traceback
        return f"Keyring(ids={[kid.hex() for kid in self._by_id]}, source={self.source!r})"

    @property
    def current_id(self) -> bytes:
        return key_id_of(self.keys[0])

    def ids(self) -> list[str]:
        return [kid.hex() for kid in self._by_id]

    def new_data_key(self) -> tuple[bytes, bytes, bytes]:
        """A fresh data key, the same key wrapped by the current KEK, and that KEK's id."""
        data_key = os.urandom(KEY_BYTES)
        return data_key, aes_key_wrap(self.keys[0], data_key), self.current_id

    def unwrap(self, key_id: bytes, wrapped: bytes, *, what: str) -> bytes:
        """The data key of ``what`` (an object, a journal file), unwrapped by the KEK
        ``key_id``. A KEK this process does not hold is a ConfigError naming the id; a
        wrapped key that does not unwrap is tampering (IntegrityError)."""
        kek = self._by_id.get(key_id)
        if kek is None:
            raise ConfigError(
                f"{what} is encrypted under key {key_id.hex()}, which is not among the keys "
                f"configured ({', '.join(self.ids())}); {_HOW_TO_PROVIDE} with that key",
                details={"key_id": key_id.hex(), "configured_key_ids": self.ids()},
            )
        try:
            return aes_key_unwrap(kek, wrapped)
        except InvalidUnwrap as exc:
            raise IntegrityError(
                f"the wrapped data key of {what} does not unwrap under key {key_id.hex()}: "
                "its header was altered; restore it from a backup",
                details={"key_id": key_id.hex()},
            ) from exc

    def rewrap(self, key_id: bytes, wrapped: bytes, *, what: str) -> tuple[bytes, bytes]:
        """The data key of ``what`` wrapped by the current KEK instead, and that KEK's id."""
        data_key = self.unwrap(key_id, wrapped, what=what)
        return aes_key_wrap(self.keys[0], data_key), self.current_id


def parse_keys(text: bytes, *, source: str) -> tuple[bytes, ...]:
    """Keys from a file or command output: exactly 32 raw bytes, or base64 keys one a line
    (commas also separate; blank lines and ``#`` comments are skipped)."""
    # A base64 key line is 44 characters or more, so 32 bytes can only be a raw key.
    if len(text) == KEY_BYTES:
        return (bytes(text),)
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{source} holds neither 32 raw bytes nor base64 keys one a line; "
            "make a key with 'pathtolive security new-key'"
        ) from exc
    keys: list[bytes] = []
    for line in decoded.replace(",", "\n").splitlines():
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            keys.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError) as exc:
            # The line itself is key material: never echo it.
            raise ConfigError(
                f"a line of {source} is not base64; make a key with 'pathtolive security new-key'"
            ) from exc
    return tuple(keys)


def load_keyring(
    *,
    environ: Mapping[str, str],
    key_file: Path | None,
    key_command: str | None,
) -> Keyring:
    """The keyring from the first source set: ``PATHTOLIVE_KEK``, the command, the file."""
    if environ.get(KEK_ENV):
        source = f"${KEK_ENV}"
        return Keyring(
            parse_keys(environ[KEK_ENV].encode("ascii", "replace"), source=source), source
        )
    if key_command:
        source = "[security] key_command"
        return Keyring(parse_keys(_run_key_command(key_command, environ), source=source), source)
    if key_file is not None:
        source = f"the key file {key_file}"
        try:
            text = key_file.read_bytes()
            _warn_if_shared(key_file)
        except FileNotFoundError as exc:
            raise ConfigError(
                f"the key file {key_file} does not exist; restore it, or point "
                "[security] key_file at the key"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {key_file}: {exc.strerror}") from exc
        return Keyring(parse_keys(text, source=source), source)
    raise ConfigError(
        f"encryption is on but no key-encryption key is configured; {_HOW_TO_PROVIDE}"
    )


def _warn_if_shared(key_file: Path) -> None:
    """Warn (without refusing: a mounted secret is often 0644 in its own private
    volume) when others than the owner may read the key file."""
    if os.name == "posix" and key_file.stat().st_mode & 0o077:
        _log.warning(
            "the key file %s can be read by users other than its owner; chmod 600 it",
            key_file,
        )


def _run_key_command(command: str, environ: Mapping[str, str]) -> bytes:
    argv: Sequence[str] = shlex.split(command)
    if not argv:
        raise ConfigError("[security] key_command is empty; name a command that prints the key")
    try:
        completed = subprocess.run(
            list(argv), capture_output=True, timeout=60, env=dict(environ), check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"[security] key_command {argv[0]!r} could not run: {exc}") from exc
    if completed.returncode != 0:
        # Its stderr may quote what it read: report the status only.
        raise ConfigError(
            f"[security] key_command {argv[0]!r} failed with exit status "
            f"{completed.returncode}; run it by hand to see why"
        )
    return bytes(completed.stdout)


def generate_key_text() -> str:
    """A new random KEK as one base64 line (for a key file or a secret manager)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii") + "\n"
