"""Data contracts that take the next month of the same data and still refuse a broken file:
inferred ranges are soft, declared bounds hard, and the reports say which is which."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from .conftest import CLI, WorkspaceTemplates, initialise
from .test_cli_data import store_state

GRADES = ["A", "B", "C", "D", "E"]


def loans_month(rows: int, seed: int, year: int) -> pd.DataFrame:
    """One month of loans from one generator: every month differs by chance alone."""
    rng = np.random.default_rng(seed)
    owed = rng.lognormal(6, 1.5, rows).round(0)
    return pd.DataFrame(
        {
            "loan_id": np.arange(rows) + seed * 100_000,
            "income": rng.lognormal(10.8, 0.5, rows).round(2),
            "age": rng.integers(21, 90, rows),
            "delinq_amnt": np.where(rng.random(rows) < 0.97, 0.0, owed),
            "grade": rng.choice(GRADES, rows),
            "issue_year": np.full(rows, year),
            "defaulted": rng.integers(0, 2, rows),
        }
    )


def _with_loans(cli: CLI, root: Path, scratch: Path) -> None:
    initialise(cli, root, scratch)
    loans_month(300, 1, 2015).to_csv(scratch / "january.csv", index=False)
    added = cli("data", "add", scratch / "january.csv", "--name", "loans")
    assert added.code == 0, added.stderr


@pytest.fixture
def loans(cli: CLI, tmp_path: Path, workspace_templates: WorkspaceTemplates) -> Path:
    """A workspace with one month of loans as ``loans@1`` (its schema inferred)."""
    return workspace_templates.copy("loans-month", _with_loans, tmp_path / "ws")


def test_the_next_month_is_accepted_and_its_news_reported_once(
    cli: CLI, loans: Path, tmp_path: Path
) -> None:
    january = loans_month(300, 1, 2015)
    february = loans_month(600, 4, 2016)
    # By chance alone, the second month holds incomes beyond the first one's range.
    assert february["income"].min() < january["income"].min()
    assert february["income"].max() > january["income"].max()
    february.to_csv(tmp_path / "february.csv", index=False)

    added = cli("data", "add", tmp_path / "february.csv", "--name", "loans")
    assert added.code == 0, added.stderr
    assert "(passed)" in added.stdout
    assert "warning" not in added.stderr
    report = cli("data", "show", "loans@2", "--json").json()["validation"]
    assert report["ok"] is True
    soft = [v for v in report["violations"] if v["check"] == "soft"]
    assert {v["column"] for v in soft} >= {"income", "issue_year"}
    assert all(v["kind"] in ("below_minimum", "above_maximum") for v in report["violations"])
    assert all(v["count"] > 0 and v["examples"] for v in soft)
    # Each finding is printed once, marked soft.
    for violation in soft:
        assert added.stderr.count(violation["message"]) == 1
    assert "soft finding" in added.stderr

    schema = cli("data", "schema", "show", "loans", "--json").json()["schema"]
    income = next(c for c in schema["columns"] if c["name"] == "income")
    assert (income["minimum_check"], income["maximum_check"]) == ("soft", "soft")
    assert "soft" in cli("data", "schema", "show", "loans").stdout

    # The diff ranks columns by how far they moved and takes the PSI on the bins of
    # monitoring; a year reads as a year.
    diff = cli("data", "diff", "loans@1", "loans@2", "--json").json()
    methods = {c["column"]: c["psi_method"] for c in diff["columns"]}
    assert methods["income"] == methods["delinq_amnt"] == "parent_bins"
    human = cli("data", "diff", "loans@1", "loans@2").stdout
    shown = [line.split(":")[0] for line in human.splitlines()[2:]]
    movement = {
        c["column"]: max(c["psi"] or 0.0, abs(c["null_rate_after"] - c["null_rate_before"]))
        for c in diff["columns"]
    }
    assert [movement[name] for name in shown] == sorted(
        (movement[name] for name in shown), reverse=True
    )
    assert "min 2015 → 2016" in human


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        ("drop", "column 'age' is missing"),
        ("retype", "column 'income': expected float, found string"),
        ("nulls", "column 'grade': 2 null values but the column is not nullable"),
        ("category", "not among the allowed categories"),
    ],
)
def test_a_broken_file_is_still_refused_and_the_store_unchanged(
    cli: CLI, loans: Path, tmp_path: Path, breakage: str, expected: str
) -> None:
    month = loans_month(200, 3, 2016)
    if breakage == "drop":
        month = month.drop(columns="age")
    elif breakage == "retype":
        month["income"] = month["income"].astype(str).where(month.index != 5, "unknown")
    elif breakage == "nulls":
        month.loc[[3, 7], "grade"] = None
        month.to_parquet(tmp_path / "broken.parquet")  # CSV would read "" back
    else:
        month.loc[4, "grade"] = "Z"
    broken = tmp_path / "broken.parquet"
    if breakage != "nulls":
        broken = tmp_path / "broken.csv"
        month.to_csv(broken, index=False)
    before = store_state(loans)

    refused = cli("data", "add", broken, "--name", "loans")

    assert refused.code == 5, refused.stdout
    assert expected in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert store_state(loans) == before
    event = cli("audit", "log", "--json").json()[0]
    assert event["action"] == "dataset.version_refused"
    assert any(v["check"] == "hard" for v in event["details"]["violations"])


def test_unseen_categories_may_be_reported_instead(cli: CLI, loans: Path, tmp_path: Path) -> None:
    config = loans / "pathtolive.toml"
    config.write_text(
        config.read_text() + '\n[datasets.loans]\nunseen_categories = "warn"\n', encoding="utf-8"
    )
    month = loans_month(200, 3, 2015)
    month.loc[4, "grade"] = "Z"
    month.to_csv(tmp_path / "march.csv", index=False)

    added = cli("data", "add", tmp_path / "march.csv", "--name", "loans", "--json")

    assert added.code == 0, added.stderr
    unseen = [v for v in added.json()["validation"]["violations"] if v["column"] == "grade"]
    assert [(v["kind"], v["check"]) for v in unseen] == [("unseen_category", "soft")]
    assert added.json()["version"]["validation_status"] == "passed"


def test_declared_bounds_are_hard(cli: CLI, loans: Path, tmp_path: Path) -> None:
    config = loans / "pathtolive.toml"
    config.write_text(
        config.read_text() + "\n[datasets.loans.columns.age]\nmin = 18\nmax = 85\n",
        encoding="utf-8",
    )
    month = loans_month(200, 4, 2015)
    assert month["age"].max() > 85
    month.to_csv(tmp_path / "april.csv", index=False)
    before = store_state(loans)

    refused = cli("data", "add", tmp_path / "april.csv", "--name", "loans")
    assert refused.code == 5
    assert "above the maximum 85" in refused.stderr
    assert store_state(loans) == before

    # A bound set with `data schema set` is hard too, stored in a new, audited version.
    config.write_text(config.read_text().split("\n[datasets.loans.columns")[0], encoding="utf-8")
    stored = cli(
        "data", "schema", "set", "loans", "--column", "income", "--min", "0", "--max", "1e9",
        "--reason", "incomes are positive", "--json",
    )  # fmt: skip
    assert stored.code == 0, stored.stderr
    assert stored.json()["version"] == 2
    income = next(c for c in stored.json()["schema"]["columns"] if c["name"] == "income")
    assert (income["minimum"], income["minimum_check"]) == (0, "hard")
    event = cli("audit", "log", "--json").json()[0]
    assert (event["action"], event["details"]["reason"]) == (
        "dataset.schema_edited",
        "incomes are positive",
    )
    month.assign(income=-month["income"]).to_csv(tmp_path / "negative.csv", index=False)
    negative = cli("data", "add", tmp_path / "negative.csv", "--name", "loans")
    assert negative.code == 5
    assert "below the minimum 0" in negative.stderr
    assert cli("data", "add", tmp_path / "april.csv", "--name", "loans").code == 0

    bad = cli("data", "schema", "set", "loans", "--column", "grade", "--min", "1", "--reason", "x")
    assert bad.code != 0
    assert "bounds apply to integer and float columns only" in bad.stderr


def test_schemas_stored_before_soft_ranges_stay_hard_until_softened(
    cli: CLI, loans: Path, tmp_path: Path
) -> None:
    # A schema stored by an earlier release: bounds without a strength.
    db = sqlite3.connect(loans / ".pathtolive" / "meta.db")
    (text,) = db.execute("select schema_json from dataset_schemas").fetchone()
    old = json.loads(text)
    for column in old["columns"]:
        column.pop("minimum_check", None)
        column.pop("maximum_check", None)
    db.execute("update dataset_schemas set schema_json = ?", (json.dumps(old),))
    db.commit()
    db.close()
    loans_month(600, 4, 2016).to_csv(tmp_path / "february.csv", index=False)

    refused = cli("data", "add", tmp_path / "february.csv", "--name", "loans")
    assert refused.code == 5
    assert "hard violation" in refused.stderr or "schema violation" in refused.stderr

    softened = cli(
        "data", "schema", "soften", "loans", "--reason", "ranges are only what we saw", "--json"
    )
    assert softened.code == 0, softened.stderr
    assert softened.json()["change_kind"] == "compatible"
    assert any("maximum check hard → soft" in c["description"] for c in softened.json()["changes"])
    assert cli("audit", "log", "--json").json()[0]["details"]["edit"] == "soften"
    again = cli("data", "schema", "soften", "loans", "--reason", "twice")
    assert again.code != 0
    assert "nothing to change" in again.stderr

    accepted = cli("data", "add", tmp_path / "february.csv", "--name", "loans", "--json")
    assert accepted.code == 0, accepted.stderr
    assert accepted.json()["version"]["validation_status"] == "passed"


def test_accept_schema_says_what_it_accepted_without_a_warning(
    cli: CLI, loans: Path, tmp_path: Path
) -> None:
    month = loans_month(200, 5, 2015)
    month.loc[4, "grade"] = "F"
    month.to_csv(tmp_path / "may.csv", index=False)

    added = cli(
        "data", "add", tmp_path / "may.csv", "--name", "loans", "--accept-schema",
        "--reason", "grade F introduced",
    )  # fmt: skip

    assert added.code == 0, added.stderr
    assert "(accepted)" in added.stdout
    assert "accepts what broke the previous one" in added.stdout
    assert "new categories 'F'" in added.stdout
    assert "warning" not in added.stderr
    assert "violation" not in added.stderr
