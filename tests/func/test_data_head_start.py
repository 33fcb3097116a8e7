"""`data add`'s head start: a Parquet file's copy and profile pass begun before the
metadata store opens, taken up when they fit the add and dropped when they do not."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from pathtolive import Workspace
from pathtolive.service import head_start as head_start_module
from pathtolive.service.head_start import HeadStart, head_start, profiled_alike
from pathtolive.store.artifacts import FsspecArtifactStore, LocalArtifactStore
from pathtolive.store.artifacts.encryption import EncryptedArtifactStore
from pathtolive.store.artifacts.keyring import Keyring
from tests.func.conftest import CLI
from tests.support.mounts import read_only_view

STORE_ERROR_EXIT = 10


def tumours(rows: slice = slice(None)) -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.iloc[rows].reset_index(drop=True)
    frame.columns = [column.replace(" ", "_") for column in frame.columns]
    frame["clinic"] = [("north", "south", "east", "west")[i % 4] for i in range(len(frame))]
    frame["email"] = [f"patient{i}@example.org" for i in range(len(frame))]
    return frame


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each add took up its head start (True) or did the work itself."""
    calls: list[bool] = []
    real_take = HeadStart.take

    def take(self: HeadStart, *args: Any, **kwargs: Any) -> Any:
        result = real_take(self, *args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr(HeadStart, "take", take)
    return calls


def _leftovers(root: Path) -> list[str]:
    tmp = root / ".pathtolive" / "tmp"
    return sorted(p.name for p in tmp.rglob("*")) if tmp.is_dir() else []


def test_an_add_takes_up_its_head_start_and_stores_what_an_add_without_one_stores(
    cli: CLI, workspace: Path, tmp_path: Path, taken: list[bool]
) -> None:
    source = tmp_path / "tumours.parquet"
    tumours().to_parquet(source, index=False)
    later = tmp_path / "tumours-2.parquet"
    tumours(slice(0, 400)).to_parquet(later, index=False)

    for path in (source, later):
        added = cli("data", "add", path, "--name", "tumours", "--tag", "target=target", "--json")
        assert added.code == 0, added.stderr
    assert taken == [True, True]

    # The same two files through the Python API, which has no head start.
    with Workspace.init(tmp_path / "plain") as plain:
        for path in (source, later):
            plain.add_dataset(path, "tumours", tags={"target": ["target"]})
        expected = [plain.dataset(f"tumours@{n}") for n in (1, 2)]
    with Workspace.open(workspace) as ws:
        stored = [ws.dataset(f"tumours@{n}") for n in (1, 2)]
    for got, want in zip(stored, expected, strict=True):
        assert got.content_hash == want.content_hash
        assert got.profile == want.profile  # the second counted on the first's bins too
        assert got.validation_status == want.validation_status
    assert stored[1].profile["counted_on"] == 1
    assert _leftovers(workspace) == []


def test_a_contract_tagging_a_column_pii_drops_a_head_start_that_kept_its_values(
    cli: CLI, workspace: Path, tmp_path: Path, taken: list[bool]
) -> None:
    first = tmp_path / "first.parquet"
    tumours(slice(0, 300)).to_parquet(first, index=False)
    second = tmp_path / "second.parquet"
    tumours(slice(300, None)).to_parquet(second, index=False)
    assert cli("data", "add", first, "--name", "tumours", "--tag", "email=pii").code == 0
    # No --tag now: the head start profiles every column in full, but the contract says
    # email is pii, so the add profiles the file itself, without email's values.
    added = cli("data", "add", second, "--name", "tumours")
    assert added.code == 0, added.stderr
    assert taken == [True, False]
    with Workspace.open(workspace) as ws:
        profile = ws.dataset("tumours@2").profile
    email = next(column for column in profile["columns"] if column["name"] == "email")
    assert "patient" not in json.dumps(email)
    assert _leftovers(workspace) == []


def test_a_parquet_file_refused_by_its_contract_leaves_the_store_as_it_was(
    cli: CLI, workspace: Path, tmp_path: Path, taken: list[bool]
) -> None:
    first = tmp_path / "first.parquet"
    tumours(slice(0, 300)).to_parquet(first, index=False)
    assert cli("data", "add", first, "--name", "tumours").code == 0
    broken = tumours(slice(300, None)).drop(columns=["mean_radius"])
    broken.to_parquet(tmp_path / "broken.parquet", index=False)
    objects = sorted((workspace / ".pathtolive" / "objects").rglob("*"))

    refused = cli("data", "add", tmp_path / "broken.parquet", "--name", "tumours")

    assert refused.code != 0
    assert "mean_radius" in refused.stderr
    assert taken == [True, True]
    assert sorted((workspace / ".pathtolive" / "objects").rglob("*")) == objects
    assert _leftovers(workspace) == []


@pytest.mark.parametrize(
    ("read_only", "takes"),
    [
        # The copy cannot be staged, and the add fails on its own work folder first.
        ("tmp", []),
        # The copy is staged, then cannot be published: the add discards it.
        ("objects", [True]),
    ],
)
def test_a_store_that_refuses_the_copy_leaves_nothing_behind(
    cli: CLI,
    workspace: Path,
    tmp_path: Path,
    taken: list[bool],
    read_only: str,
    takes: list[bool],
) -> None:
    source = tmp_path / "tumours.parquet"
    tumours().to_parquet(source, index=False)
    folder = workspace / ".pathtolive" / read_only
    folder.mkdir(exist_ok=True)
    with read_only_view(folder):
        added = cli("data", "add", source, "--name", "tumours", "--json")
        leftovers = _leftovers(workspace)
    assert added.code == STORE_ERROR_EXIT, added.stderr
    error = json.loads(added.stdout)
    assert error["error_code"] == "store_error"
    assert str(folder) in error["message"]
    assert taken == takes
    assert leftovers == []


def test_a_head_start_not_taken_is_stopped_and_its_copy_discarded(tmp_path: Path) -> None:
    source = tmp_path / "tumours.parquet"
    tumours().to_parquet(source, index=False)
    with Workspace.init(tmp_path / "ws") as ws:
        settings = ws.context.settings
    store = LocalArtifactStore(tmp_path / "store")
    with head_start(settings, store, source, "tumours", fmt=None, tags=None) as early:
        assert early is not None
        # Another file, or other limits, are not what it prepared.
        assert early.take(tmp_path / "other.parquet", {}, 50) is None
        assert early.take(source, {}, 7) is None
    # Closing does not wait; the copy, which may not even have begun, is discarded when
    # it ends.
    assert early.wait_closed(timeout=60)
    assert list((tmp_path / "store").rglob("*.tmp")) == []
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def test_no_head_start_for_what_the_add_converts_or_cannot_read(tmp_path: Path) -> None:
    with Workspace.init(tmp_path / "ws") as ws:
        settings = ws.context.settings
    store = LocalArtifactStore(tmp_path / "store")
    csv = tmp_path / "tumours.csv"
    tumours().to_csv(csv, index=False)
    indexed = tmp_path / "sampled.parquet"
    tumours().sample(50, random_state=0).to_parquet(indexed)  # an unnamed pandas index
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    for path in (csv, indexed, garbage, tmp_path / "absent.parquet"):
        with head_start(settings, store, path, "tumours", fmt=None, tags=None) as early:
            assert early is None, path
    with head_start(settings, store, csv, "tumours", fmt=None, tags={"nope": ["pii"]}) as early:
        assert early is None


def test_no_upload_to_a_remote_store_begins_on_speculation(tmp_path: Path) -> None:
    source = tmp_path / "tumours.parquet"
    tumours().to_parquet(source, index=False)
    with Workspace.init(tmp_path / "ws") as ws:
        settings = ws.context.settings
    remote = FsspecArtifactStore(f"memory://head-{os.urandom(4).hex()}", cache_dir=tmp_path / "c")
    keys = Keyring((os.urandom(32),))
    for store in (remote, EncryptedArtifactStore(remote, keys)):
        with head_start(settings, store, source, "tumours", fmt=None, tags=None) as early:
            assert early is None
        assert list(store.iter_digests()) == []
    # Encrypting into a local store is staged on this disk: a head start, and nothing left.
    local = LocalArtifactStore(tmp_path / "store")
    with head_start(
        settings, EncryptedArtifactStore(local, keys), source, "tumours", fmt=None, tags=None
    ) as early:
        assert early is not None
    assert early.wait_closed(timeout=60)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []


def test_only_pii_and_id_tags_change_what_a_profile_keeps() -> None:
    assert profiled_alike({"y": ("target",)}, {})
    assert profiled_alike({"a": ("pii", "x")}, {"a": ("pii",)})
    assert not profiled_alike({"a": ("pii",)}, {})
    assert not profiled_alike({"a": ("id",)}, {"a": ("pii",)})
    assert head_start_module.merged_tags({"a": ["pii"]}, {"b": ["target"]}) == {
        "a": ("pii",),
        "b": ("target",),
    }
