"""`pathtolive data …` end to end: real files, the real CLI, a real SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from .conftest import CLI


def wine() -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    frame["cultivar"] = frame.pop("target").map({0: "barolo", 1: "grignolino", 2: "barbera"})
    return frame


def store_state(root: Path) -> tuple[dict[str, int], int]:
    """Row counts of the data tables and the number of stored objects."""
    db = sqlite3.connect(root / ".pathtolive" / "meta.db")
    counts = {
        table: db.execute(f"select count(*) from {table}").fetchone()[0]
        for table in ("datasets", "dataset_schemas", "dataset_versions", "tokens")
    }
    db.close()
    objects = root / ".pathtolive" / "objects"
    n_objects = sum(1 for p in objects.rglob("*") if p.is_file()) if objects.exists() else 0
    return counts, n_objects


def test_quick_start_on_the_wine_data(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    frame = wine()
    frame.to_csv(tmp_path / "wine.csv", index=False)
    first = cli(
        "data", "add", tmp_path / "wine.csv", "--name", "wine", "--tag", "cultivar=target", "--json"
    )
    assert first.code == 0, first.stderr
    v1 = first.json()
    assert v1["created"] is True
    assert v1["version"]["version"] == 1
    assert v1["version"]["rows"] == 178
    assert v1["version"]["validation_status"] == "inferred"
    assert v1["version"]["author"] == "ada"
    assert v1["version"]["source"].endswith("wine.csv")

    again = cli("data", "add", tmp_path / "wine.csv", "--name", "wine", "--json").json()
    assert again["created"] is False
    assert again["version"]["content_hash"] == v1["version"]["content_hash"]

    # A later batch in Parquet that stays inside the contract.
    frame.sample(frac=0.5, random_state=1).to_parquet(tmp_path / "wine-march.parquet")
    second = cli("data", "add", tmp_path / "wine-march.parquet", "--name", "wine", "--json")
    assert second.code == 0, second.stderr
    v2 = second.json()["version"]
    assert (v2["version"], v2["parent_version"], v2["validation_status"]) == (2, 1, "passed")
    assert v2["source_format"] == "parquet"

    listed = cli("data", "list", "--json").json()
    assert [(d["name"], d["latest_version"]) for d in listed] == [("wine", 2)]
    versions = cli("data", "list", "wine", "--json").json()
    assert [v["version"] for v in versions] == [1, 2]
    human = cli("data", "list", "wine")
    assert human.code == 0
    assert "Versions of wine" in human.stdout

    shown = cli("data", "show", "wine@1", "--json").json()
    columns = {c["name"]: c for c in shown["schema"]["columns"]}
    assert columns["cultivar"]["type"] == "category"
    assert set(columns["cultivar"]["categories"]) == {"barolo", "grignolino", "barbera"}
    assert "target" in columns["cultivar"]["tags"]
    assert columns["alcohol"]["type"] == "float"
    assert columns["alcohol"]["minimum"] == pytest.approx(frame["alcohol"].min())
    assert shown["profile"]["rows"] == 178
    human_show = cli("data", "show", "wine@latest")
    assert human_show.code == 0
    assert "alcohol" in human_show.stdout

    diff = cli("data", "diff", "wine@1", "wine@2", "--json")
    assert diff.code == 0, diff.stderr
    assert cli("data", "diff", "wine@1", "wine@2").code == 0

    exported = cli("data", "export", "wine@2", tmp_path / "out.parquet")
    assert exported.code == 0, exported.stderr
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out.parquet"),
        pd.read_parquet(tmp_path / "wine-march.parquet").reset_index(drop=True),
        check_dtype=False,
    )

    assert cli("audit", "verify").code == 0
    actions = [e["action"] for e in cli("audit", "log", "--json").json()]
    assert actions == [
        "dataset.read",  # the export
        "dataset.version_added",
        "dataset.version_added",
        "dataset.schema_inferred",
        "dataset.created",
        "workspace.created",
    ]


def _bad_batch(frame: pd.DataFrame) -> pd.DataFrame:
    bad = frame.head(20).copy()
    bad.loc[bad.index[:3], "alcohol"] = [99.0, 120.0, 130.0]
    bad.loc[bad.index[3], "cultivar"] = "nebbiolo"
    bad["colour_name"] = "red"
    return bad


def test_strict_policy_refuses_a_violating_version_and_loses_nothing(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    frame = wine()
    frame.to_csv(tmp_path / "wine.csv", index=False)
    assert cli("data", "add", tmp_path / "wine.csv", "--name", "wine").code == 0
    before = store_state(workspace)
    _bad_batch(frame).to_csv(tmp_path / "bad.csv", index=False)

    refused = cli("data", "add", tmp_path / "bad.csv", "--name", "wine")
    assert refused.code == 5
    message = refused.stderr
    assert "contract" in message
    # The unseen category and the extra column refuse it; the high alcohol values are
    # beyond an inferred (soft) range: counted, not refusing.
    assert "cultivar" in message
    assert "1 soft finding" in message
    assert store_state(workspace) == before
    assert not any((workspace / ".pathtolive" / "tmp").glob("*/*"))

    event = cli("audit", "log", "--json").json()[0]
    assert event["action"] == "dataset.version_refused"
    kinds = {(v["column"], v["kind"], v["check"]) for v in event["details"]["violations"]}
    assert ("alcohol", "above_maximum", "soft") in kinds
    assert ("cultivar", "unseen_category", "hard") in kinds
    assert ("colour_name", "extra_column", "hard") in kinds

    checked = cli("data", "validate", "wine", tmp_path / "bad.csv", "--json")
    assert checked.code == 1
    report = checked.json()["report"]
    assert report["ok"] is False
    above = next(v for v in report["violations"] if v["kind"] == "above_maximum")
    assert above["count"] == 3
    assert {float(example) for example in above["examples"]} == {99.0, 120.0, 130.0}
    assert cli("data", "validate", "wine", tmp_path / "wine.csv").code == 0


def test_warn_policy_stores_the_version_with_its_report(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    frame = wine()
    frame.to_csv(tmp_path / "wine.csv", index=False)
    assert cli("data", "add", tmp_path / "wine.csv", "--name", "wine").code == 0
    _bad_batch(frame).to_csv(tmp_path / "bad.csv", index=False)
    warned = cli(
        "data", "add", tmp_path / "bad.csv", "--name", "wine", "--policy", "warn", "--json"
    )
    assert warned.code == 0, warned.stderr
    assert warned.json()["version"]["validation_status"] == "warned"
    assert warned.json()["validation"]["ok"] is False

    accepted = cli("data", "schema", "accept", "wine@2", "--reason", "new cellar", "--json")
    assert accepted.code == 0, accepted.stderr
    schema = accepted.json()
    assert schema["version"] == 2
    assert schema["change_kind"] in ("compatible", "breaking")
    history = cli("data", "schema", "history", "wine", "--json").json()
    assert [s["version"] for s in history] == [1, 2]
    assert history[1]["reason"] == "new cellar"
    assert cli("data", "schema", "show", "wine", "--version", "1").code == 0


def test_accept_schema_on_add_makes_a_new_schema_version(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    frame = wine()
    frame.to_csv(tmp_path / "wine.csv", index=False)
    assert cli("data", "add", tmp_path / "wine.csv", "--name", "wine").code == 0
    wider = frame.copy()
    wider["vintage"] = 2020
    wider.to_csv(tmp_path / "wider.csv", index=False)
    added = cli(
        "data",
        "add",
        tmp_path / "wider.csv",
        "--name",
        "wine",
        "--accept-schema",
        "--reason",
        "vintage recorded",
        "--json",
    )
    assert added.code == 0, added.stderr
    result = added.json()
    assert result["version"]["schema_version"] == 2
    assert result["version"]["validation_status"] == "accepted"
    assert result["schema_change"]["kind"] == "compatible"
    events = [e["action"] for e in cli("audit", "log", "--json").json()]
    assert "dataset.schema_accepted" in events


def test_jsonl_and_folder_inputs(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, 300),
            "region": rng.choice(["N", "S"], 300),
            "income": rng.normal(3000, 500, 300),
        }
    )
    frame.to_json(tmp_path / "people.jsonl", orient="records", lines=True)
    added = cli("data", "add", tmp_path / "people.jsonl", "--name", "people", "--json")
    assert added.code == 0, added.stderr
    assert added.json()["version"]["source_format"] == "jsonl"
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        frame.iloc[i * 100 : (i + 1) * 100].to_csv(folder / f"part-{i}.csv", index=False)
    from_folder = cli("data", "add", folder, "--name", "people-csv", "--json")
    assert from_folder.code == 0, from_folder.stderr
    assert from_folder.json()["version"]["rows"] == 300


@pytest.mark.parametrize(
    ("name", "content", "code", "words"),
    [
        ("missing.csv", None, 4, "not found"),
        ("data.xlsx", "x", 4, "format"),
        ("empty.csv", "a,b\n", 4, "no rows"),
        ("broken.csv", "a,b\n1,2\n3,4,5\n", 4, "broken.csv"),
        ("bad.parquet", "not parquet at all", 4, "bad.parquet"),
    ],
)
def test_bad_files_are_one_clear_line_and_change_nothing(
    cli: CLI,
    workspace: Path,
    tmp_path: Path,
    name: str,
    content: str | None,
    code: int,
    words: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    before = store_state(workspace)
    result = cli("data", "add", path, "--name", "things")
    assert result.code == code, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store_state(workspace) == before


def test_unknown_references_are_clear(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "x.csv", index=False)
    assert cli("data", "add", tmp_path / "x.csv", "--name", "x").code == 0
    no_dataset = cli("data", "show", "y@1")
    assert no_dataset.code == 3
    assert "known datasets: x" in no_dataset.stderr
    no_version = cli("data", "show", "x@7")
    assert no_version.code == 3
    assert "newest is 1" in no_version.stderr
    assert cli("data", "show", "x@zero").code == 4
    assert cli("data", "add", tmp_path / "x.csv", "--name", "bad name!").code == 4
    assert cli("data", "add", tmp_path / "x.csv", "--name", "x", "--tag", "x").code == 4
    assert cli("data", "add", tmp_path / "x.csv", "--name", "z", "--tag", "nope=pii").code == 4


def test_unknown_store_scheme_is_a_config_error(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "x.csv", index=False)
    before = store_state(workspace)
    result = cli(
        "--artifact-url", "ftp2://host/x", "data", "add", tmp_path / "x.csv", "--name", "x"
    )
    assert result.code == 8
    assert "ftp2" in result.stderr
    assert store_state(workspace) == before
    wrong_db = cli("--metadata-url", "mysql://x/y", "data", "list")
    assert wrong_db.code == 8


def test_tampered_audit_row_is_found(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "x.csv", index=False)
    assert cli("data", "add", tmp_path / "x.csv", "--name", "x").code == 0
    assert cli("audit", "verify").code == 0
    db = sqlite3.connect(workspace / ".pathtolive" / "meta.db")
    db.execute("update audit_events set actor = 'mallory' where seq = 2")
    db.commit()
    db.close()
    result = cli("audit", "verify", "--json")
    assert result.code == 1
    assert result.json()["first_bad_seq"] == 2
    human = cli("audit", "verify")
    assert "event 2" in human.stdout


def test_corrupted_object_is_refused_on_read(cli: CLI, workspace: Path, tmp_path: Path) -> None:
    pd.DataFrame({"x": range(100)}).to_csv(tmp_path / "x.csv", index=False)
    version = cli("data", "add", tmp_path / "x.csv", "--name", "x", "--json").json()["version"]
    digest = version["content_hash"]
    path = workspace / ".pathtolive" / "objects" / digest[:2] / digest[2:]
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    result = cli("data", "export", "x@1", tmp_path / "out.parquet")
    assert result.code == 9
    assert digest[:12] in result.stderr


def test_identifier_columns_are_tagged_and_pii_stays_out_of_later_profiles(
    cli: CLI, workspace: Path, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    first = pd.DataFrame(
        {
            "customer_id": np.arange(500),
            "email": [f"u{i}@x.org" for i in range(500)],
            "spend": rng.normal(100, 10, 500),
        }
    )
    first.to_csv(tmp_path / "a.csv", index=False)
    added = cli("data", "add", tmp_path / "a.csv", "--name", "c", "--tag", "email=pii", "--json")
    assert added.code == 0, added.stderr
    schema = {
        c["name"]: c
        for c in cli("data", "schema", "show", "c", "--json").json()["schema"]["columns"]
    }
    assert schema["customer_id"]["tags"] == ["id"]
    assert schema["customer_id"]["minimum"] is None  # new ids must not break the contract
    # The next batch has new ids and new addresses, and is tagged nowhere on the command line.
    second = first.assign(
        customer_id=first["customer_id"] + 10_000, email=[f"v{i}@y.org" for i in range(500)]
    )
    second.to_csv(tmp_path / "b.csv", index=False)
    added = cli("data", "add", tmp_path / "b.csv", "--name", "c", "--json")
    assert added.code == 0, added.stderr
    shown = cli("data", "show", "c@2", "--json")
    assert "v1@y.org" not in shown.stdout
    email = next(c for c in shown.json()["profile"]["columns"] if c["name"] == "email")
    assert email["categorical"]["categories"] == []
