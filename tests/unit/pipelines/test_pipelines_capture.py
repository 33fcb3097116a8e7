"""What a run records about where it ran: the environment, and the code version in a
real git repository."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import pytest

from pathtolive.pipelines import (
    CodeVersion,
    Environment,
    capture_code_version,
    capture_environment,
    package_changes,
)
from tests.unit.pipelines.fakes import write_files


def test_the_environment_lists_interpreter_platform_and_packages() -> None:
    environment = capture_environment()

    assert environment.python == platform.python_version()
    assert environment.implementation == platform.python_implementation()
    assert environment.platform == f"{platform.system()}-{platform.machine()}"
    assert f"numpy=={importlib.metadata.version('numpy')}" in environment.packages
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in environment.packages
    assert list(environment.packages) == sorted(environment.packages)
    assert capture_environment().digest == environment.digest
    assert Environment.from_dict(environment.to_dict()) == environment
    assert environment.to_dict()["digest"] == environment.digest


def test_environment_changes_are_listed() -> None:
    before = Environment("3.11.7", "CPython", "Linux-x86_64", ("numpy==2.0.1", "xgboost==2.1.1"))
    after = Environment("3.12.1", "CPython", "Linux-x86_64", ("lightgbm==4.5.0", "numpy==2.1.0"))

    assert package_changes(before, after) == [
        "python 3.11.7 -> 3.12.1",
        "+ lightgbm 4.5.0",
        "numpy 2.0.1 -> 2.1.0",
        "- xgboost 2.1.1",
    ]
    assert before.digest != after.digest


def _git(root: Path, *args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True, timeout=30
    )
    return completed.stdout.strip()


def _init(root: Path) -> None:
    _git(root, "init", "--quiet", "--initial-branch=main")
    _git(root, "config", "user.name", "Ada Lovelace")
    _git(root, "config", "user.email", "ada@example.com")
    _git(root, "config", "commit.gpgsign", "false")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A workspace in a fresh git repository with one pipeline module, not yet committed."""
    root = write_files(
        tmp_path / "workspace",
        {
            "pathtolive.toml": "[workspace]\n",
            "pipelines/risk.py": "N_ESTIMATORS = 10\n",
        },
    )
    _init(root)
    return root


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", message)
    return _git(root, "rev-parse", "HEAD")


def test_a_clean_checkout_records_its_commit(repo: Path) -> None:
    commit = _commit(repo, "first")

    version = capture_code_version(repo)

    assert version == CodeVersion(commit, False, None, version.pipelines_hash)
    assert version.describe() == commit[:12]
    assert CodeVersion.from_dict(version.to_dict()) == version


def test_uncommitted_changes_make_it_dirty_and_the_diff_hash_follows_them(repo: Path) -> None:
    commit = _commit(repo, "first")
    module = repo / "pipelines" / "risk.py"

    module.write_text("N_ESTIMATORS = 20\n")
    twenty = capture_code_version(repo)
    module.write_text("N_ESTIMATORS = 30\n")
    thirty = capture_code_version(repo)
    module.write_text("N_ESTIMATORS = 20\n")
    twenty_again = capture_code_version(repo)

    assert (twenty.commit, twenty.dirty) == (commit, True)
    assert twenty.diff_hash is not None
    assert thirty.diff_hash is not None
    assert twenty.diff_hash != thirty.diff_hash
    assert twenty_again.diff_hash == twenty.diff_hash
    assert twenty.describe() == f"{commit[:12]} + changes {twenty.diff_hash[:8]}"


def test_untracked_files_count_and_their_content_too(repo: Path) -> None:
    _commit(repo, "first")
    notes = repo / "pipelines" / "features.py"

    notes.write_text("COLUMNS = ['a']\n")
    one = capture_code_version(repo)
    notes.write_text("COLUMNS = ['a', 'b']\n")
    two = capture_code_version(repo)

    assert one.dirty
    assert two.dirty
    assert one.diff_hash != two.diff_hash


def test_state_and_bytecode_are_not_changes(repo: Path) -> None:
    _commit(repo, "first")
    write_files(
        repo,
        {
            ".pathtolive/meta.db": "database",
            ".pathtolive/objects/ab/cdef": "object",
            "pipelines/__pycache__/risk.cpython-311.pyc": "bytecode",
        },
    )

    version = capture_code_version(repo)

    assert (version.dirty, version.diff_hash) == (False, None)


def test_a_deleted_file_is_a_change(repo: Path) -> None:
    _commit(repo, "first")
    (repo / "pathtolive.toml").unlink()

    version = capture_code_version(repo)

    assert version.dirty
    assert version.diff_hash is not None


def test_a_repository_without_commits_has_no_commit_but_is_dirty(repo: Path) -> None:
    version = capture_code_version(repo)

    assert version.commit is None
    assert version.dirty
    assert version.describe().startswith("no git commit + changes ")


def test_a_workspace_in_a_bigger_repository_looks_only_at_itself(tmp_path: Path) -> None:
    outer = tmp_path / "monorepo"
    root = write_files(outer / "workspace", {"pipelines/risk.py": "N = 1\n"})
    _init(outer)
    commit = _commit(outer, "workspace")
    (outer / "elsewhere.txt").write_text("not part of the workspace")

    version = capture_code_version(root)

    assert version.commit == commit
    assert not version.dirty  # elsewhere.txt is untracked, but outside the workspace


def test_without_git_only_the_pipelines_hash_is_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_files(tmp_path, {"pipelines/risk.py": "N = 1\n"})

    outside_a_repo = capture_code_version(root)
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    without_git = capture_code_version(root)

    for version in (outside_a_repo, without_git):
        assert (version.commit, version.dirty, version.diff_hash) == (None, False, None)
        assert version.pipelines_hash == outside_a_repo.pipelines_hash


def test_the_pipelines_hash_covers_the_pipeline_code_only(tmp_path: Path) -> None:
    root = write_files(tmp_path, {"pipelines/risk.py": "N = 1\n", "README.md": "hello\n"})
    before = capture_code_version(root).pipelines_hash

    (root / "README.md").write_text("changed\n")
    write_files(root, {"pipelines/__pycache__/risk.cpython-311.pyc": "bytecode"})
    assert capture_code_version(root).pipelines_hash == before

    (root / "pipelines" / "risk.py").write_text("N = 2\n")
    assert capture_code_version(root).pipelines_hash != before

    (root / "pipelines" / "risk.py").write_text("N = 1\n")
    write_files(root, {"pipelines/lib/helpers.py": "X = 1\n"})
    assert capture_code_version(root).pipelines_hash != before
