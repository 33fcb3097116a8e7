"""Encryption at rest: ``security new-key``, ``rotate-key``, ``encrypt-existing``, ``keys``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pathtolive.cli.output import JsonOption, console, emit, table
from pathtolive.cli.state import open_context
from pathtolive.errors import ConflictError, InvalidInputError

__all__ = ["security_app"]

security_app = typer.Typer(help="Encryption at rest and its keys.", no_args_is_help=True)


@security_app.command("new-key")
def new_key(
    path: Annotated[Path, typer.Argument(help="File to write the new key to (mode 0600).")],
    as_json: JsonOption = False,
) -> None:
    """Write a new random key-encryption key to a file (never to the console)."""
    from pathtolive.store.artifacts.keyring import generate_key_text

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConflictError(
            f"{path} exists already; a key file is never overwritten: choose another path"
        ) from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(generate_key_text())
    emit(
        {"path": path},
        as_json,
        lambda: console.print(
            f"Wrote a new key to {path}. To rotate, list it first in the key file (or "
            "PATHTOLIVE_KEK), the old key after it, then run 'pathtolive security rotate-key'."
        ),
    )


@security_app.command("rotate-key")
def rotate_key(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Rewrap every object's data key under the first configured key (admin; audited).

    Only headers are rewritten, never the data (on S3 each object is copied once with
    its new header). Keep the old key configured until this succeeds."""
    from pathtolive.service import keys as key_service

    report = key_service.rotate_key(open_context(ctx))
    emit(
        report,
        as_json,
        lambda: console.print(
            f"Rewrapped {report.rewrapped} object(s) and {report.journals_rewrapped} journal "
            f"file(s) under key {report.key_id}; {report.current} already were"
            + (
                f"; {report.plain} stored before encryption left as they are"
                if report.plain
                else ""
            )
            + ". The old key can now be removed."
        ),
    )


@security_app.command("encrypt-existing")
def encrypt_existing(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Encrypt the objects stored before encryption was switched on (admin; audited).

    Each is read, verified and written again encrypted; the old plain copy is not
    scrubbed from the disk (nor from a versioned bucket's old versions)."""
    from pathtolive.service import keys as key_service

    count = key_service.encrypt_existing(open_context(ctx))
    emit(
        {"encrypted": count},
        as_json,
        lambda: console.print(f"Encrypted {count} object(s) stored before encryption."),
    )


@security_app.command("keys")
def keys(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Which key id encrypts how many objects, and which keys are configured."""
    from pathtolive.service import keys as key_service

    census = key_service.key_census(open_context(ctx))
    emit(
        census,
        as_json,
        lambda: console.print(
            table(
                f"Objects by key (current {census.current_key_id})",
                ["key id", "objects", "configured"],
                [
                    [key_id, count, "yes" if key_id in census.configured_key_ids else "no"]
                    for key_id, count in census.objects.items()
                ],
            )
        ),
    )
