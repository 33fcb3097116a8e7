"""The one exception tree of pathtolive.

Every error a user can meet derives from :class:`PathToLiveError`. Each class carries a
stable ``code`` (for JSON output and HTTP bodies), an ``http_status`` and a CLI
``exit_code``; the table in the README is generated from :data:`ERROR_CLASSES`.

::

    PathToLiveError
    ├── ConfigError                  bad pathtolive.toml, setting or store URL
    │   ├── UnknownSchemeError       a store URL whose scheme no backend serves
    │   └── MissingExtraError        a backend whose optional dependency is not installed
    ├── WorkspaceNotFoundError       no pathtolive.toml here or above
    ├── NotFoundError                unknown dataset, version, token, ...
    │   └── DataErasedError          a dataset version whose rows were erased (`data forget`)
    ├── InvalidInputError            unreadable, empty, malformed or unsupported input
    │   ├── UnsupportedFormatError
    │   ├── PayloadTooLargeError     a request body or batch over the server's limit
    │   ├── ModelRejectedInputError  input that passed the signature but the model refused
    │   └── UntrustedModelError      a model artifact that refers to code not trusted to load
    ├── ContractViolationError       data that breaks its dataset's schema under `strict`
    ├── ConflictError                the thing exists already / state forbids the change
    ├── LostLockError                the controller's lease passed to another holder mid-release
    ├── AuthenticationError          no valid token
    ├── PermissionDeniedError        the actor's role does not allow the operation
    ├── IntegrityError               stored bytes whose hash does not match their address
    ├── StoreError                   the metadata or artifact store failed
    │   └── DatabaseOutdatedError    the database needs `pathtolive db upgrade`
    ├── VerificationFailedError      a check that was asked for found a problem
    └── RunFailedError               a pipeline's own code failed
        └── StepFailedError          one of its steps raised

A message says what to do next in the words of the face the caller came through
(:mod:`pathtolive.faces`): flags on the command line, keyword arguments in Python.
"""

from __future__ import annotations

import errno
import os
from typing import Any, ClassVar

from pathtolive.redaction import mask_urls

__all__ = [
    "ERROR_CLASSES",
    "AuthenticationError",
    "ClusterUnavailableError",
    "ConfigError",
    "ConflictError",
    "ContractViolationError",
    "DataErasedError",
    "DatabaseOutdatedError",
    "IntegrityError",
    "InvalidInputError",
    "LostLockError",
    "MissingExtraError",
    "ModelRejectedInputError",
    "NotFoundError",
    "PathToLiveError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RunFailedError",
    "StepFailedError",
    "StoreError",
    "UnknownSchemeError",
    "UnsupportedFormatError",
    "UntrustedModelError",
    "VerificationFailedError",
    "WorkspaceNotFoundError",
    "error_for_code",
    "storage_error",
]


class PathToLiveError(Exception):
    """Base of every pathtolive error: one line saying what is wrong and what to do."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        # A message built from a URL or a foreign library's error may carry a database
        # password: masked here, once, whichever face (CLI, server, log) shows it.
        message = mask_urls(message)
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ConfigError(PathToLiveError):
    """A setting, the workspace file or a store URL is wrong."""

    code = "config_error"
    http_status = 500
    exit_code = 8


class UnknownSchemeError(ConfigError):
    code = "unknown_scheme"


class MissingExtraError(ConfigError):
    code = "missing_extra"


class WorkspaceNotFoundError(PathToLiveError):
    code = "not_a_workspace"
    http_status = 404
    exit_code = 3


class NotFoundError(PathToLiveError):
    code = "not_found"
    http_status = 404
    exit_code = 3


class DataErasedError(NotFoundError):
    """A dataset version that was erased with ``data forget``: its metadata, contract and
    profile remain as a tombstone, its rows are gone for good (HTTP 410 Gone)."""

    code = "data_erased"
    http_status = 410


class InvalidInputError(PathToLiveError):
    code = "invalid_input"
    http_status = 400
    exit_code = 4


class UnsupportedFormatError(InvalidInputError):
    code = "unsupported_format"
    http_status = 415


class PayloadTooLargeError(InvalidInputError):
    """A request body over the server's byte limit, or a batch over its row limit."""

    code = "payload_too_large"
    http_status = 413


class ModelRejectedInputError(InvalidInputError):
    """Input that matches the model's signature but that the model itself cannot score
    (a value far outside anything it was fitted on, say). The request is at fault, not
    the server, so it is a 4xx."""

    code = "model_rejected_input"
    http_status = 422


class UntrustedModelError(InvalidInputError):
    """A model refers to code that is not trusted by default; loading it could run that code.

    ``details["untrusted_types"]`` lists the types; the caller trusts them explicitly with
    ``trusted=[...]`` (``--trust TYPE`` on the command line) after checking the source.
    """

    code = "untrusted_model"


class ContractViolationError(PathToLiveError):
    """Data that does not meet its dataset's schema while the policy is ``strict``."""

    code = "contract_violation"
    http_status = 422
    exit_code = 5


class ConflictError(PathToLiveError):
    code = "conflict"
    http_status = 409
    exit_code = 6


class LostLockError(PathToLiveError):
    """The controller no longer holds its lease: another one may act now, so this one
    leaves the trigger as it is (running) for the new holder to resume. A release ends
    with it rather than failing: it is never a trigger's decision."""

    code = "lost_lock"
    http_status = 409
    exit_code = 6


class AuthenticationError(PathToLiveError):
    code = "unauthenticated"
    http_status = 401
    exit_code = 7


class PermissionDeniedError(PathToLiveError):
    code = "permission_denied"
    http_status = 403
    exit_code = 7


class IntegrityError(PathToLiveError):
    """Stored bytes do not hash to the address they are kept under."""

    code = "integrity_error"
    http_status = 500
    exit_code = 9


class StoreError(PathToLiveError):
    code = "store_error"
    http_status = 503
    exit_code = 10


_STORAGE_PROBLEMS: dict[int, str] = {
    errno.ENOSPC: "there is no space left on the device holding {path}; free some space "
    "(or grow the volume) and try again",
    errno.EDQUOT: "the disk quota for {path} is exhausted; free some space or ask for a "
    "larger quota, then try again",
    errno.EROFS: "{path} is on a read-only file system (a read-only mount or copy); run "
    "this command where the workspace is writable",
}


def storage_error(
    exc: BaseException, path: str | os.PathLike[str] | None = None
) -> StoreError | None:
    """A ``StoreError`` naming the path, when ``exc`` says the disk is full, the quota is
    spent or the file system is read-only (ENOSPC, EDQUOT, EROFS); None for any other
    error. ``path`` is where the write went, when the error itself does not name it (a
    Parquet writer's error does not)."""
    if not isinstance(exc, OSError) or exc.errno not in _STORAGE_PROBLEMS:
        return None
    code: int = exc.errno
    problem = _STORAGE_PROBLEMS[code]
    where = exc.filename if exc.filename is not None else path
    named = os.fsdecode(where) if where is not None else "the workspace"
    return StoreError(
        problem.format(path=named), details={"path": named, "errno": errno.errorcode[code]}
    )


class DatabaseOutdatedError(StoreError):
    code = "database_outdated"


class VerificationFailedError(PathToLiveError):
    """A check the user asked for (such as ``audit verify``) found a problem."""

    code = "verification_failed"
    http_status = 409
    exit_code = 1


class RunFailedError(PathToLiveError):
    """The pipeline's own code raised outside any step (for instance a wrong call to a
    step). ``details["traceback"]`` holds the traceback."""

    code = "run_failed"
    http_status = 500
    exit_code = 11


class StepFailedError(RunFailedError):
    """A step raised. The message is one line (``step 'train' failed: ZeroDivisionError:
    division by zero``); ``details`` holds the step, its index and the traceback."""

    code = "step_failed"


class ClusterUnavailableError(PathToLiveError):
    """The Dask scheduler that ``--scheduler``, ``PATHTOLIVE_DASK_SCHEDULER`` or
    ``[compute] scheduler`` names did not answer in time, or the cluster lost the work."""

    code = "cluster_unavailable"
    http_status = 503
    exit_code = 12


ERROR_CLASSES: tuple[type[PathToLiveError], ...] = (
    PathToLiveError,
    ConfigError,
    UnknownSchemeError,
    MissingExtraError,
    WorkspaceNotFoundError,
    NotFoundError,
    DataErasedError,
    InvalidInputError,
    UnsupportedFormatError,
    PayloadTooLargeError,
    ModelRejectedInputError,
    UntrustedModelError,
    ContractViolationError,
    ConflictError,
    LostLockError,
    AuthenticationError,
    PermissionDeniedError,
    IntegrityError,
    StoreError,
    DatabaseOutdatedError,
    VerificationFailedError,
    RunFailedError,
    StepFailedError,
    ClusterUnavailableError,
)


def error_for_code(code: str | None, message: str) -> PathToLiveError:
    """The error of class ``code`` with ``message``: an error raised in another process
    (a Dask worker) raised again here with the code, status and exit code it had there."""
    for cls in ERROR_CLASSES:
        if cls.code == code:
            return cls(message)
    return PathToLiveError(message)
