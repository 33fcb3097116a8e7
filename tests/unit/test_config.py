"""Settings: precedence flag > environment > file > default, and clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pathtolive import env
from pathtolive.config import (
    DEFAULT_ARTIFACT_URL,
    WORKSPACE_FILE,
    default_config_text,
    find_workspace,
    load_settings,
)
from pathtolive.errors import ConfigError, WorkspaceNotFoundError


def make_workspace(root: Path, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / WORKSPACE_FILE).write_text(default_config_text("w") + extra, encoding="utf-8")
    return root


def test_defaults_resolve_inside_the_workspace(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    settings = load_settings(root, environ={})
    assert settings.metadata_url == f"sqlite:///{root / '.pathtolive' / 'meta.db'}"
    assert settings.artifact_url == DEFAULT_ARTIFACT_URL
    assert settings.local_role == "admin"
    assert settings.dataset("anything").policy == "strict"


def test_precedence_flag_over_environment_over_file(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    text = (
        (root / WORKSPACE_FILE)
        .read_text()
        .replace('artifacts = ".pathtolive"', 'artifacts = "from-file"')
    )
    (root / WORKSPACE_FILE).write_text(text)
    assert load_settings(root, environ={}).artifact_url == "from-file"
    environ = {env.ARTIFACT_URL: "from-env"}
    assert load_settings(root, environ=environ).artifact_url == "from-env"
    assert (
        load_settings(root, environ=environ, artifact_url="from-flag").artifact_url == "from-flag"
    )


def test_workspace_is_found_from_a_subfolder_and_from_the_environment(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    sub = root / "a" / "b"
    sub.mkdir(parents=True)
    assert find_workspace(sub) == root.resolve()
    assert load_settings(environ={env.WORKSPACE: str(root)}).root == root.resolve()


def test_missing_workspace_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="pathtolive init"):
        find_workspace(tmp_path)


def test_dataset_settings_and_tags(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws",
        '\n[datasets.loans]\npolicy = "warn"\nmax_categories = 7\n'
        'tags = { at_risk = "target", email = ["pii", "id"] }\n',
    )
    loans = load_settings(root, environ={}).dataset("loans")
    assert loans.policy == "warn"
    assert loans.max_categories == 7
    assert dict(loans.tags) == {"at_risk": ("target",), "email": ("pii", "id")}
    assert loans.unseen_categories == "refuse"
    assert dict(loans.bounds) == {}


def test_declared_bounds_and_the_unseen_category_rule(tmp_path: Path) -> None:
    root = make_workspace(
        tmp_path / "ws",
        '\n[datasets.loans]\nunseen_categories = "warn"\n'
        "[datasets.loans.columns.age]\nmin = 18\nmax = 120\n"
        "[datasets.loans.columns.income]\nmin = 0\n",
    )
    loans = load_settings(root, environ={}).dataset("loans")
    assert loans.unseen_categories == "warn"
    assert dict(loans.bounds) == {"age": (18.0, 120.0), "income": (0.0, None)}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('\n[datasets.loans]\npolicy = "lenient"\n', "not a policy"),
        ('\n[datasets.loans]\ntags = { a = "secret" }\n', "unknown tag 'secret'"),
        ("\n[datasets.loans]\nmax_categories = 0\n", "positive integer"),
        ("\n[datasets\n", "not valid TOML"),
        ('\n[datasets.loans]\nunseen_categories = "ignore"\n', "use one of refuse, warn"),
        ("\n[datasets.loans.columns.age]\nmin = 9\nmax = 3\n", "min 9 is above max 3"),
        ('\n[datasets.loans.columns.age]\nmin = "0"\n', "must be a number"),
        ("\n[datasets.loans.columns.age]\nminimum = 0\n", "minimum is not a setting"),
        ("\n[datasets.loans]\npolcy = 'warn'\n", "polcy is not a setting"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path: Path, extra: str, message: str) -> None:
    root = make_workspace(tmp_path / "ws", extra)
    with pytest.raises(ConfigError, match=message):
        load_settings(root, environ={})


def test_unknown_local_role_is_refused(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    path = root / WORKSPACE_FILE
    path.write_text(path.read_text().replace('# local_role = "admin"', 'local_role = "boss"'))
    with pytest.raises(ConfigError, match="not a role"):
        load_settings(root, environ={})


def test_local_users_are_trusted_on_sqlite_and_on_a_shared_database_only_when_set(
    tmp_path: Path,
) -> None:
    """A new workspace leaves local_role unset: admin on its SQLite file, but on a shared
    database (PostgreSQL) local users are trusted only when an admin writes the key."""
    root = make_workspace(tmp_path / "ws")
    shared = "postgresql+psycopg://team@db.example/ml"
    local = load_settings(root, environ={})
    assert (local.local_role, local.local_role_set, local.local_users_trusted) == (
        "admin",
        False,
        True,
    )
    assert not load_settings(root, environ={}, metadata_url=shared).local_users_trusted
    path = root / WORKSPACE_FILE
    path.write_text(path.read_text().replace('# local_role = "admin"', 'local_role = "viewer"'))
    explicit = load_settings(root, environ={}, metadata_url=shared)
    assert (explicit.local_role, explicit.local_users_trusted) == ("viewer", True)


def test_environment_names_live_in_one_module() -> None:
    names = set(env.ENVIRONMENT_VARIABLES)
    assert all(name.startswith("PATHTOLIVE_") for name in names)
    assert {env.WORKSPACE, env.METADATA_URL, env.ARTIFACT_URL, env.USER, env.TOKEN} <= names
    src = Path(env.__file__).parent
    for path in src.rglob("*.py"):
        if path.name == "env.py":
            continue
        found = re.findall(r"[\"']PATHTOLIVE_[A-Z_]+[\"']", path.read_text())
        assert found == [], f"{path} names environment variables {found}; use pathtolive.env"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("\n[serv]\nworkers = 2\n", r"\[serv\] is not a section; did you mean \[serve\]\?"),
        ("\n[datsets.loans]\n", r"\[datsets\] is not a section; did you mean \[datasets\]\?"),
        ("\n[colour]\n", r"\[colour\] is not a section; the sections are \[workspace\]"),
        (
            "\n[security]\nencrpyt = true\n",
            r"security.encrpyt is not a setting; did you mean encrypt\?",
        ),
        (
            "\n[datasets.loans]\npolicy = 'strickt'\n",
            r"datasets.loans.policy = 'strickt' is not a policy; did you mean 'strict'\? "
            "Use one of strict, warn",
        ),
        ("\n[datasets.loans]\npolcy = 'warn'\n", r"datasets.loans.polcy .* did you mean policy\?"),
        ("\n[pipelines.risk]\nparam = { a = 1 }\n", r"pipelines.risk.param .* mean params\?"),
        ("\n[datasets.loans]\ntags = { a = 'pi' }\n", r"unknown tag 'pi'; did you mean 'pii'\?"),
    ],
)
def test_typos_name_the_file_the_key_and_the_nearest_known_one(
    tmp_path: Path, extra: str, message: str
) -> None:
    root = make_workspace(tmp_path / "ws", extra)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(root, environ={})
    assert WORKSPACE_FILE in caught.value.message
    assert caught.value.exit_code == 8


def test_allowed_values_are_listed_nearest_first(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws")
    path = root / WORKSPACE_FILE
    path.write_text(path.read_text().replace('# local_role = "admin"', 'local_role = "aprover"'))
    with pytest.raises(ConfigError) as caught:
        load_settings(root, environ={})
    listed = caught.value.message.split("one of ")[1].split(", ")
    assert listed[0] == "approver"
    assert sorted(listed) == sorted(("viewer", "scientist", "approver", "admin"))
