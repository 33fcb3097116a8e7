"""Who read a dataset version (``data access``), and erasing one (``data forget``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathtolive import Workspace
from pathtolive.store.artifacts.base import object_key

from .conftest import CLI, WorkspaceTemplates
from .test_cli_gates import build_candidate, configure


@pytest.fixture
def candidate(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """cancer@1 and risk-model@1 trained on it by a pipeline run."""
    return workspace_templates.copy("candidate", build_candidate, tmp_path / "ws")


def _object(workspace: Path, digest: str) -> Path:
    return workspace / ".pathtolive" / object_key(digest)


def test_every_read_of_a_versions_rows_is_audited_with_actor_and_purpose(
    cli: CLI, candidate: Path, tmp_path: Path
) -> None:
    run_id = cli("runs", "list", "--json").json()[0]["run_id"]
    configure(candidate, "majority")
    assert cli("gates", "check", "risk-model@1").code == 0
    exported = cli("data", "export", "cancer@1", tmp_path / "out.parquet")
    assert exported.code == 0, exported.stderr
    frame = Workspace.open(candidate, environ={"PATHTOLIVE_USER": "nb"}).load(
        "cancer@1", ["target"], purpose="eda"
    )
    assert list(frame.columns) == ["target"]

    access = cli("data", "access", "cancer@1", "--json")
    assert access.code == 0, access.stderr
    reads = [(row["actor"], row["purpose"]) for row in access.json()]
    assert reads == [
        ("nb", "eda"),
        ("ada", "export"),
        # The explainer serving will use is built on the training rows it will use.
        ("ada", "gates explainer background of risk-model@1"),
        ("ada", "gates baseline majority of risk-model@1"),
        ("ada", "gates holdout of risk-model@1"),
        ("ada", "model signature sample"),  # registering the run's model
        ("ada", f"run {run_id}"),  # one event for the run, however many steps read it
    ]
    assert access.json()[0]["columns"] == ["target"]
    with Workspace.open(candidate, environ={"PATHTOLIVE_USER": "nb"}) as ws:
        assert [e.details["purpose"] for e in ws.data_access("cancer@1")][:2] == ["eda", "export"]
    human = cli("data", "access", "cancer@1")
    assert "eda" in human.stdout
    assert "nb" in human.stdout
    # A prefix is not a match: cancer@1's reads are not another version's.
    assert cli("data", "access", "cancer@10").code == 3
    assert cli("audit", "verify").code == 0


def test_forgetting_a_version_erases_its_bytes_and_keeps_a_tombstone(
    cli: CLI, candidate: Path, tmp_path: Path
) -> None:
    version = cli("data", "show", "cancer@1", "--json").json()
    stored = _object(candidate, version["content_hash"])
    assert stored.exists()
    run_id = cli("runs", "list", "--json").json()[0]["run_id"]
    steps = cli("runs", "show", run_id, "--json").json()["steps"]
    split = next(step["output_digest"] for step in steps if step["name"] == "split")
    artifact = cli("models", "show", "risk-model@1", "--json").json()["version"]
    assert _object(candidate, split).exists()

    forgot = cli("data", "forget", "cancer@1", "--reason", "erasure request 42", "--json")
    assert forgot.code == 0, forgot.stderr
    result = forgot.json()
    assert result["bytes_deleted"] is True
    assert result["model_versions"] == ["risk-model@1"]
    assert result["derived_outputs_deleted"] >= 1  # the split frames made from its rows
    assert result["forgotten_by"] == "ada"
    assert not stored.exists()
    assert not _object(candidate, split).exists()  # its rows, split into train and test
    assert _object(candidate, artifact["artifact_digest"]).exists()  # the model stays

    # The tombstone: metadata, contract and profile stay.
    shown = cli("data", "show", "cancer@1", "--json").json()
    assert shown["forgotten_reason"] == "erasure request 42"
    assert shown["rows"] == version["rows"]
    assert shown["profile"] == version["profile"]
    assert "erased" in cli("data", "show", "cancer@1").stdout
    assert cli("data", "schema", "show", "cancer").code == 0

    # Reading its rows is one clear line and exit 3, whichever way it is asked.
    for args in (
        ("data", "export", "cancer@1", tmp_path / "x.parquet"),
        ("run", "risk", "--data", "cancer@1"),
        ("gates", "check", "risk-model@1"),
    ):
        refused = cli(*args)
        assert refused.code == 3, (args, refused.stdout, refused.stderr)
        assert "erased" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    with pytest.raises(Exception, match="erased"):
        Workspace.open(candidate, environ={"PATHTOLIVE_USER": "nb"}).load("cancer@1")

    # The model versions trained on it are marked.
    model = cli("models", "show", "risk-model@1", "--json").json()
    assert model["erased_data"] == ["cancer@1"]
    assert "trained on erased data cancer@1" in cli("models", "show", "risk-model@1").stdout
    assert "erased" in cli("lineage", "risk-model@1").stdout
    reverse = cli("lineage", "cancer@1", "--reverse", "--json").json()
    assert "erased" in reverse["attributes"]
    card = cli("models", "card", "risk-model@1", "--out", tmp_path / "card", "--json").json()
    assert "Trained on erased data cancer@1" in Path(card["markdown"]).read_text()

    # Audited, once; a second erasure is refused and changes nothing.
    events = cli("audit", "log", "--action", "dataset.forgotten", "--json").json()
    assert [(e["subject"], e["details"]["reason"]) for e in events] == [
        ("dataset:cancer@1", "erasure request 42")
    ]
    again = cli("data", "forget", "cancer@1", "--reason", "again")
    assert again.code == 6
    assert "erased already" in again.stderr
    assert len(cli("audit", "log", "--action", "dataset.forgotten", "--json").json()) == 1
    assert cli("audit", "verify").code == 0


def test_erased_rows_cannot_be_added_back_to_the_same_dataset(
    cli: CLI, candidate: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.parquet"
    assert cli("data", "export", "cancer@1", copy).code == 0
    assert cli("data", "forget", "cancer@1", "--reason", "request").code == 0
    version = cli("data", "show", "cancer@1", "--json").json()
    again = cli("data", "add", copy, "--name", "cancer")
    assert again.code == 6, again.stderr
    assert "erased" in again.stderr
    assert not _object(candidate, version["content_hash"]).exists()
    assert "erased" in cli("data", "list", "cancer").stdout


def test_bytes_shared_with_a_kept_version_are_not_deleted(
    cli: CLI, candidate: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.parquet"
    assert cli("data", "export", "cancer@1", copy).code == 0
    assert cli("data", "add", copy, "--name", "twin").code == 0
    added = cli("data", "show", "twin@1", "--json").json()
    original = cli("data", "show", "cancer@1", "--json").json()
    assert added["content_hash"] == original["content_hash"]

    forgot = cli("data", "forget", "cancer@1", "--reason", "request", "--json").json()
    assert forgot["bytes_deleted"] is False
    assert cli("data", "export", "twin@1", tmp_path / "twin.parquet").code == 0
    assert cli("data", "export", "cancer@1", tmp_path / "gone.parquet").code == 3
    # Profiles hold no rows: comparing with a tombstone still works.
    assert cli("data", "diff", "cancer@1", "twin@1").code == 0

    last = cli("data", "forget", "twin@1", "--reason", "request", "--json").json()
    assert last["bytes_deleted"] is True
    assert not _object(candidate, original["content_hash"]).exists()


def test_only_an_admin_erases_with_a_reason_and_an_exact_version(cli: CLI, candidate: Path) -> None:
    scientist = cli("tokens", "create", "--user", "sam", "--role", "scientist", "--json").json()
    refused = cli(
        "data",
        "forget",
        "cancer@1",
        "--reason",
        "mine",
        extra_env={"PATHTOLIVE_TOKEN": scientist["secret"]},
    )
    assert refused.code == 7
    assert "admin" in refused.stderr
    assert cli("data", "forget", "cancer@1", "--reason", " ").code == 4
    latest = cli("data", "forget", "cancer", "--reason", "request")
    assert latest.code == 4
    assert "cancer@1" in latest.stderr
    assert cli("data", "show", "cancer@1", "--json").json()["forgotten_at"] is None
    assert cli("audit", "log", "--action", "dataset.forgotten", "--json").json() == []
