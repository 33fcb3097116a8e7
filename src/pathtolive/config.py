"""Typed settings of a workspace.

Precedence: a command-line flag > a ``PATHTOLIVE_*`` environment variable > the workspace
file ``pathtolive.toml`` > the default. Settings are frozen objects handed to
constructors; nothing here is a mutable global.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from pathtolive import env
from pathtolive.errors import ConfigError, WorkspaceNotFoundError
from pathtolive.faces import spelled
from pathtolive.nearest import closest, nearest_first
from pathtolive.redaction import mask_url

__all__ = [
    "COLUMN_TAGS",
    "COMPUTE_CHOICES",
    "COST_KEYS",
    "DEFAULT_ARTIFACT_URL",
    "DEFAULT_METADATA_URL",
    "STATE_DIR",
    "WORKSPACE_FILE",
    "DatasetSettings",
    "EncryptionSettings",
    "Settings",
    "check_choice",
    "check_keys",
    "default_config_text",
    "encryption_settings",
    "find_workspace",
    "load_settings",
    "parse_tags",
    "pipeline_compute",
    "table_at",
    "unknown_key_message",
]

WORKSPACE_FILE = "pathtolive.toml"
logger = logging.getLogger(__name__)
STATE_DIR = ".pathtolive"
DEFAULT_METADATA_URL = f"sqlite:///{STATE_DIR}/meta.db"
DEFAULT_ARTIFACT_URL = STATE_DIR
ROLES = ("viewer", "scientist", "approver", "admin")
COLUMN_TAGS: tuple[str, ...] = ("target", "id", "timestamp", "pii")
"""Tags a column may carry: the label to predict, a row identifier, the event time, and
personal data (never stored in profiles, redacted from prediction logs)."""

Policy = Literal["strict", "warn"]
UnseenCategories = Literal["refuse", "warn"]
UNSEEN_CATEGORY_RULES: tuple[str, ...] = ("refuse", "warn")
_BOUND_KEYS = ("min", "max")
POLICIES: tuple[str, ...] = ("strict", "warn")
S3_SSE_MODES: tuple[str, ...] = ("AES256", "aws:kms")

COST_KEYS: tuple[str, ...] = (
    "currency",
    "cpu_hour",
    "gb_month",
    "requests_per_month",
    "batch_rows_per_month",
    "retrains_per_month",
)
"""The keys of ``[costs]``; ``[models.NAME.costs]`` may set any but ``currency``."""

SECTIONS: Mapping[str, tuple[str, ...] | None] = {
    "workspace": ("name",),
    "store": ("metadata", "artifacts"),
    "auth": ("local_role",),
    "compute": ("scheduler",),
    "security": ("encrypt", "key_file", "key_command", "s3_sse", "s3_sse_kms_key_id"),
    # Checked by the code that reads them: [audit] by pathtolive.service.audit, [serve] by
    # pathtolive.serving.settings, [models.NAME] by the gates', monitoring's and model
    # card's settings (a gate registered in Python brings keys of its own).
    "audit": None,
    "serve": None,
    "models": None,
    # [costs]: prices and expected traffic (pathtolive.gates.costs reads the values).
    "costs": COST_KEYS,
    # [baselines.NAME]: external baselines, checked by pathtolive.gates.external when
    # the gates of a model that names one run.
    "baselines": None,
    # [tracing]: OpenTelemetry traces, off unless an exporter is named (read by
    # pathtolive.tracing).
    "tracing": ("exporter", "endpoint", "service_name", "sample_ratio"),
    # Tables of user-named tables, checked here: [datasets.NAME] and [pipelines.NAME].
    "datasets": None,
    "pipelines": None,
}
"""The tables of ``pathtolive.toml``, with the keys each may hold where this module
knows them; a table or key not named here is a typo to report, not a setting to ignore."""
PIPELINE_KEYS: tuple[str, ...] = ("params", "compute")
COMPUTE_CHOICES: tuple[str, ...] = ("local", "dask")
"""Where a pipeline step runs: in the pipeline's process, or on a Dask worker."""
DATASET_KEYS: tuple[str, ...] = (
    "policy",
    "tags",
    "max_categories",
    "unseen_categories",
    "columns",
)


@dataclass(frozen=True)
class DatasetSettings:
    """Per-dataset settings from ``[datasets.NAME]``.

    ``bounds`` are the declared (hard) bounds of ``[datasets.NAME.columns.COL] min/max``,
    column → (min, max), None for a side not declared. ``unseen_categories``: whether a
    category the contract does not list refuses the version (``refuse``, the default:
    an encoder fitted on the old categories fails on it) or is reported (``warn``).
    """

    policy: Policy = "strict"
    tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_categories: int = 50
    unseen_categories: UnseenCategories = "refuse"
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Everything a workspace is configured with, resolved and typed.

    Its ``repr`` (which a traceback or a debug log may show) masks the URLs' passwords and
    leaves out the token and the environment."""

    root: Path
    metadata_url: str
    artifact_url: str
    local_user: str | None = None
    token: str | None = field(default=None, repr=False)
    local_role: str = "admin"
    local_role_set: bool = False
    """True when ``[auth] local_role`` is in the workspace file: an admin's explicit
    choice to trust local users on a shared database (see :attr:`local_users_trusted`)."""
    datasets: Mapping[str, DatasetSettings] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (
            f"Settings(root={self.root!r}, metadata_url={mask_url(self.metadata_url)!r}, "
            f"artifact_url={mask_url(self.artifact_url)!r}, local_user={self.local_user!r}, "
            f"local_role={self.local_role!r})"
        )

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def metadata_is_local(self) -> bool:
        """True for a SQLite database: a file on this machine, so whoever can use it can
        already read and write every byte of it (a role check adds nothing for them)."""
        return self.metadata_url.startswith("sqlite")

    @property
    def local_users_trusted(self) -> bool:
        """Whether a command without a token acts as the local user with
        :attr:`local_role`: always on SQLite; on a shared database (PostgreSQL) only when
        an admin set ``[auth] local_role`` in the workspace file, else a token is needed."""
        return self.metadata_is_local or self.local_role_set

    def dataset(self, name: str) -> DatasetSettings:
        """Settings of one dataset, the defaults where the file says nothing."""
        return self.datasets.get(name, DatasetSettings())


def default_config_text(name: str, local_role: str | None = None) -> str:
    """The ``pathtolive.toml`` that ``pathtolive init`` writes; ``local_role`` is written
    as a setting when given (an admin's explicit choice), else left as a comment."""
    if local_role is not None and local_role not in ROLES:
        raise ConfigError(f"{local_role!r} is not a role; use one of {', '.join(ROLES)}")
    role_line = '# local_role = "admin"' if local_role is None else f'local_role = "{local_role}"'
    return f"""# pathtolive workspace: {name}
# Precedence: flag > PATHTOLIVE_* environment > this file > default.

[workspace]
name = "{name}"

[store]
# Metadata database: SQLite by default; a team uses postgresql+psycopg://user@host/db
metadata = "{DEFAULT_METADATA_URL}"
# Content-addressed artifacts: a folder by default; a team uses s3://bucket/prefix
artifacts = "{DEFAULT_ARTIFACT_URL}"

[auth]
# Role of a local user who acts without a token (viewer, scientist, approver, admin).
# Unset, it is admin on a local SQLite database; on a shared database (PostgreSQL) every
# command then needs a token (PATHTOLIVE_TOKEN) unless an admin sets it here.
{role_line}

# Per-dataset contract settings, for example:
# [datasets.loans]
# policy = "strict"            # strict: a violating version is refused; warn: stored and reported
# max_categories = 50          # text columns with at most this many values become categories
# tags = {{ at_risk = "target", loan_id = "id", email = "pii" }}
# unseen_categories = "refuse" # or "warn": an unlisted category is reported, not refused
# [datasets.loans.columns.income]
# min = 0                      # declared bounds refuse; inferred ranges only report
"""


def find_workspace(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds ``pathtolive.toml``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / WORKSPACE_FILE).is_file():
            return folder
    raise WorkspaceNotFoundError(
        f"no {WORKSPACE_FILE} in {start} or any folder above it; "
        + spelled(
            "run 'pathtolive init' to make a workspace or pass --workspace",
            "make one with Workspace.init(path) or open it by its path",
        )
    )


def load_settings(
    root: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    metadata_url: str | None = None,
    artifact_url: str | None = None,
) -> Settings:
    """Resolve the settings of the workspace at ``root`` (or found from the environment /
    the current folder). Keyword arguments are command-line flags and win over the rest."""
    environ = dict(os.environ if environ is None else environ)
    if root is None:
        root = Path(environ[env.WORKSPACE]) if environ.get(env.WORKSPACE) else None
        root = find_workspace(root or Path.cwd())
    else:
        root = root.resolve()
        if not (root / WORKSPACE_FILE).is_file():
            raise WorkspaceNotFoundError(
                f"{root} is not a workspace (no {WORKSPACE_FILE}); run 'pathtolive init' there"
            )
    document = _read_document(root / WORKSPACE_FILE)
    _check_sections(document, root / WORKSPACE_FILE)
    store = _table(document, "store")
    _warn_of_passwords(store)
    auth = _table(document, "auth")
    local_role_set = "local_role" in auth
    local_role = check_choice(
        auth.get("local_role", "admin"), "auth.local_role", ROLES, kind="role"
    )
    return Settings(
        root=root,
        metadata_url=_resolve_sqlite_url(
            metadata_url
            or environ.get(env.METADATA_URL)
            or _string(store.get("metadata", DEFAULT_METADATA_URL), "store.metadata"),
            root,
        ),
        artifact_url=artifact_url
        or environ.get(env.ARTIFACT_URL)
        or _string(store.get("artifacts", DEFAULT_ARTIFACT_URL), "store.artifacts"),
        local_user=environ.get(env.USER) or None,
        token=environ.get(env.TOKEN) or None,
        local_role=local_role,
        local_role_set=local_role_set,
        datasets=_dataset_settings(_table(document, "datasets")),
        document=document,
        environ=environ,
    )


def _check_sections(document: Mapping[str, Any], path: Path) -> None:
    """Unknown tables, and unknown keys of the tables this module knows, are errors
    naming the file, the key and the known one it was most likely meant to be."""
    for section, value in document.items():
        if section not in SECTIONS:
            nearest = closest(section, SECTIONS)
            hint = f"did you mean [{nearest}]? The" if nearest is not None else "the"
            raise ConfigError(
                f"{path}: [{section}] is not a section; {hint} sections are "
                f"{', '.join(f'[{name}]' for name in SECTIONS)}"
            )
        keys = SECTIONS[section]
        if keys is not None and isinstance(value, Mapping):
            for key in value:
                if key not in keys:
                    raise ConfigError(
                        unknown_key_message(
                            f"{section}.{key}", key, keys, kind="setting", file=str(path)
                        )
                    )
    pipelines = _table(document, "pipelines")
    for name, raw in pipelines.items():
        table = table_at(raw, f"pipelines.{name}")
        check_keys(table, f"pipelines.{name}", PIPELINE_KEYS)
        if "compute" in table:
            check_choice(
                table["compute"], f"pipelines.{name}.compute", COMPUTE_CHOICES, kind="place to run"
            )


def pipeline_compute(settings: Settings, name: str) -> str:
    """Where the steps of pipeline ``name`` run unless a step says (``[pipelines.NAME]
    compute``, checked when the file was read): ``local`` by default."""
    table = _table(settings.document, "pipelines").get(name, {})
    value = table.get("compute", "local") if isinstance(table, Mapping) else "local"
    return str(value)


def _warn_of_passwords(store: Mapping[str, Any]) -> None:
    # The workspace file is committed with the pipelines and read by everyone who checks
    # them out; a password written into it is shared with all of them.
    for key, variable in (("metadata", env.METADATA_URL), ("artifacts", env.ARTIFACT_URL)):
        value = store.get(key)
        if isinstance(value, str) and mask_url(value) != value:
            logger.warning(
                "%s holds a password in [store] %s, and the file is shared with the "
                "workspace's repository: set %s instead (or use the database's own "
                "password file) and take the password out of the file",
                WORKSPACE_FILE,
                key,
                variable,
            )


def _read_document(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def _table(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"'{key}' in {WORKSPACE_FILE} must be a table, like [{key}]")
    return cast(dict[str, Any], value)


def _string(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} in {WORKSPACE_FILE} must be a string, not {value!r}")
    return value


def _dataset_settings(section: Mapping[str, Any]) -> dict[str, DatasetSettings]:
    result: dict[str, DatasetSettings] = {}
    for name, raw in section.items():
        raw = table_at(raw, f"datasets.{name}")
        check_keys(raw, f"datasets.{name}", DATASET_KEYS)
        policy = check_choice(
            raw.get("policy", "strict"), f"datasets.{name}.policy", POLICIES, kind="policy"
        )
        max_categories = raw.get("max_categories", 50)
        if not isinstance(max_categories, int) or max_categories < 1:
            raise ConfigError(f"datasets.{name}.max_categories must be a positive integer")
        unseen = check_choice(
            raw.get("unseen_categories", "refuse"),
            f"datasets.{name}.unseen_categories",
            UNSEEN_CATEGORY_RULES,
            kind="rule",
        )
        result[name] = DatasetSettings(
            policy=cast(Policy, policy),
            tags=parse_tags(raw.get("tags", {}), where=f"{WORKSPACE_FILE}: datasets.{name}.tags"),
            max_categories=max_categories,
            unseen_categories=cast(UnseenCategories, unseen),
            bounds=_declared_bounds(raw.get("columns", {}), f"datasets.{name}.columns"),
        )
    return result


def _declared_bounds(raw: object, where: str) -> dict[str, tuple[float | None, float | None]]:
    """``{COL = {min = .., max = ..}}``: numbers, min not above max."""
    bounds: dict[str, tuple[float | None, float | None]] = {}
    for column, entry in table_at(raw, where).items():
        at = f"{where}.{column}"
        entry = table_at(entry, at)
        check_keys(entry, at, _BOUND_KEYS)
        sides: list[float | None] = []
        for key in _BOUND_KEYS:
            value = entry.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ConfigError(f"{at}.{key} must be a number, not {value!r}")
            sides.append(None if value is None else float(value))
        low, high = sides
        if low is None and high is None:
            raise ConfigError(f"{at} declares no bound; set min, max or both")
        if low is not None and high is not None and low > high:
            raise ConfigError(f"{at}: min {low:g} is above max {high:g}; swap them")
        bounds[str(column)] = (low, high)
    return bounds


def table_at(value: object, where: str) -> Mapping[str, Any]:
    """``value``, which the workspace file holds at ``where``, when it is a table; else a
    ``ConfigError`` that says so."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} in {WORKSPACE_FILE} must be a table")
    return value


def check_keys(
    table: Mapping[str, Any], where: str, keys: Sequence[str], *, kind: str = "setting"
) -> None:
    """A ``ConfigError`` naming the first key of the table at ``where`` that is not one of
    ``keys``, and the known key it was most likely meant to be (a misspelt setting must
    not pass for a default)."""
    strays = [key for key in table if key not in keys]
    if strays:
        raise ConfigError(unknown_key_message(f"{where}.{strays[0]}", strays[0], keys, kind=kind))


def unknown_key_message(
    shown: str, key: str, keys: Sequence[str], *, kind: str, file: str = WORKSPACE_FILE
) -> str:
    """ "FILE: SHOWN is not a KIND; did you mean NEAREST? Valid keys: ...", the suggestion
    left out when no known key is close to ``key``."""
    nearest = closest(key, keys)
    listed = f"valid keys: {', '.join(keys)}"
    if nearest is not None:
        listed = f"did you mean {nearest}? V{listed[1:]}"
    return f"{file}: {shown} is not a {kind}; {listed}"


def check_choice(value: object, where: str, choices: Sequence[str], *, kind: str) -> str:
    """``value`` when it is one of ``choices``; else a ``ConfigError`` that lists them, the
    nearest to ``value`` first."""
    if isinstance(value, str) and value in choices:
        return value
    ranked = nearest_first(value, choices) if isinstance(value, str) else list(choices)
    nearest = closest(value, choices) if isinstance(value, str) else None
    listed = f"use one of {', '.join(ranked)}"
    if nearest is not None:
        listed = f"did you mean {nearest!r}? U{listed[1:]}"
    raise ConfigError(f"{WORKSPACE_FILE}: {where} = {value!r} is not a {kind}; {listed}")


def parse_tags(raw: object, *, where: str) -> dict[str, tuple[str, ...]]:
    """Column tags from ``{column = "tag"}`` or ``{column = ["tag", ...]}``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table of column = tag")
    tags: dict[str, tuple[str, ...]] = {}
    for column, value in raw.items():
        values: Sequence[object] = [value] if isinstance(value, str) else value
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{where}.{column} must be a tag or a list of tags")
        unknown = [str(v) for v in values if v not in COLUMN_TAGS]
        if unknown:
            nearest = closest(unknown[0], COLUMN_TAGS)
            hint = f"did you mean {nearest!r}? Use" if nearest is not None else "use"
            raise ConfigError(
                f"{where}.{column}: unknown tag {unknown[0]!r}; {hint} one of "
                f"{', '.join(nearest_first(unknown[0], COLUMN_TAGS))}"
            )
        tags[str(column)] = tuple(str(v) for v in values)
    return tags


def _resolve_sqlite_url(url: str, root: Path) -> str:
    """Make a relative SQLite path relative to the workspace, not the current folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        relative = url[len(prefix) :]
        if relative and relative != ":memory:":
            return prefix + str((root / relative).resolve())
    return url


@dataclass(frozen=True)
class EncryptionSettings:
    """Encryption at rest, from ``[security]``: ``encrypt`` turns it on for new objects;
    the key-encryption key comes from ``PATHTOLIVE_KEK``, ``key_command`` or ``key_file``
    (see :mod:`pathtolive.store.artifacts.keyring`). ``s3_sse`` and ``s3_sse_kms_key_id``
    ask S3 for server-side encryption on top."""

    encrypt: bool = False
    key_file: Path | None = None
    key_command: str | None = None
    s3_sse: str | None = None
    s3_sse_kms_key_id: str | None = None

    @property
    def has_key_source(self) -> bool:
        return self.key_file is not None or self.key_command is not None


def encryption_settings(settings: Settings) -> EncryptionSettings:
    """The ``[security]`` settings of encryption at rest (its keys were checked when the
    file was read: see :data:`SECTIONS`)."""
    table = _table(settings.document, "security")
    encrypt = table.get("encrypt", False)
    if not isinstance(encrypt, bool):
        raise ConfigError(f"security.encrypt in {WORKSPACE_FILE} must be true or false")
    key_file = table.get("key_file")
    path: Path | None = None
    if key_file is not None:
        path = Path(_string(key_file, "security.key_file")).expanduser()
        path = path if path.is_absolute() else settings.root / path
    key_command = table.get("key_command")
    sse = table.get("s3_sse")
    if sse is not None:
        check_choice(sse, "security.s3_sse", S3_SSE_MODES, kind="server-side encryption")
    kms_key = table.get("s3_sse_kms_key_id")
    return EncryptionSettings(
        encrypt=encrypt,
        key_file=path,
        key_command=None if key_command is None else _string(key_command, "security.key_command"),
        s3_sse=sse,
        s3_sse_kms_key_id=None
        if kms_key is None
        else _string(kms_key, "security.s3_sse_kms_key_id"),
    )
