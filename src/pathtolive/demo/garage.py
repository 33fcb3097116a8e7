"""Synthetic garage risk-rating data, in the spirit of a national vehicle-testing authority
that rates its approved test centres ("garages") for inspection.

Nothing here is real data: every row is drawn, from a seed, by the process below, so the
demo ships code, not data, and the same seed gives the same rows.

One row is one garage in one month: what the authority's testing system recorded that
month (test volume, failure rates by defect category, re-tests, testers, the mean time a
test took, complaints), what it knows of the garage (region, size, past enforcement,
months since its last inspection), and the label ``high_risk``: an inspection of the
garage that month found serious non-compliance.

The generating process
======================

Garages. Each garage gets a region, a size (``small`` 55%, ``medium`` 33%, ``large``
12%) and testers by size (1 to 2, 2 to 4, 4 to 9). Its customers' cars have an age
profile that raises or lowers all its failure rates legitimately (a log-normal factor,
sd 0.25), and its staff a level of care (standard normal). One garage in eight (one in
five in the region that joins later) is a bad actor, of one of two kinds in equal shares:

- *pass-through*: passes vehicles that should fail. Its failure rates are 40 to 50% of
  what its cars warrant, its tests are short (34 minutes on average against 45), few of
  its failures are re-tested on its premises (20%), and its volume runs past what its
  testers can do (1.2 to 1.7 times their capacity of 95 tests a month);
- *upselling*: fails vehicles to sell repairs. Its failure rates are 1.5 to 1.8 times
  what its cars warrant, its tests are long (56 minutes), 85% of its failures are
  re-tested on its premises, and its volume is low (0.4 to 0.65 of capacity).

An honest garage works at 0.65 to 1.1 of capacity, tests in 45 minutes (two more per
unit of care), and re-tests 40 to 70% of its failures. So the signals are two-sided — a
failure rate, a test time, a volume or a re-test share is suspect when it is too low *or*
too high for the garage — which is why a tree ensemble beats a logistic regression on
this data by a clear margin. Bad actors also draw more complaints (0.6 per hundred tests
against 0.2; careless staff add 0.3) and more past enforcement actions (Poisson, mean 1.0
against 0.2).

Months. Each failure rate of a month is a binomial draw around the garage's own rate, as
are the overall failures (a test fails when any category does) and the re-tests. The
months since the last inspection start geometric (an inspection comes at about 6% a
month), count up, and reset when an inspection happens: at random (5% a month) or when
one finds non-compliance.

Label. ``high_risk`` is drawn with log-odds ``-4.4 + 5·bad + 0.6·max(0, -care) +
0.25·past_enforcement + 0.03·months_since_inspection`` (+0.4 in the region that joins
later): a bad actor is caught about three months in four, an honest garage about one
month in fifty (more often when careless).

The change. From :data:`CHANGE_MONTH` the world moves: the garages of a new region
(:data:`NEW_REGION`, 15% more garages) join the scheme; a stricter emissions test
multiplies emissions failures by 2.4 and adds ten minutes to every test; LED lamps cut
lighting failures by 40%; one honest garage in eight starts cheating on the new
emissions test, half of them waving failing cars through (15% of the emissions failures
their cars warrant), half failing good ones to sell repairs (2.5 times as many): a new,
two-sided kind of bad actor; and the testing system starts reporting ``ev_share``, the
share of tests on electric vehicles (missing for 6% of garages). A model trained before
the change has never seen the new region or the new fraud, and reads the longer tests
and the new failure mix through the old norms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "CHANGE_MONTH",
    "DEFECTS",
    "FIRST_MONTH",
    "NEW_REGION",
    "REGIONS",
    "SIZES",
    "TARGET",
    "GarageData",
    "feature_records",
    "simulate",
]

REGIONS: tuple[str, ...] = (
    "London",
    "South East",
    "South West",
    "East of England",
    "Midlands",
    "North West",
    "North East",
    "Yorkshire",
    "Wales",
    "Scotland",
)
NEW_REGION = "Northern Ireland"
"""The region whose garages join the scheme at :data:`CHANGE_MONTH`."""
SIZES: tuple[str, ...] = ("small", "medium", "large")
DEFECTS: tuple[str, ...] = ("lighting", "suspension", "brakes", "tyres", "emissions")
TARGET = "high_risk"
FIRST_MONTH = pd.Timestamp("2023-01-01")
CHANGE_MONTH = pd.Timestamp("2024-02-01")
_MONTHS = 20  # 2023-01 to 2024-08

_SIZE_SHARES = (0.55, 0.33, 0.12)
_TESTERS = {"small": (1, 2), "medium": (2, 4), "large": (4, 9)}
_BASE_RATES = {
    "lighting": 0.18,
    "suspension": 0.12,
    "brakes": 0.10,
    "tyres": 0.08,
    "emissions": 0.05,
}
_PASS_THROUGH = {"lighting": 0.4, "suspension": 0.5, "brakes": 0.5, "tyres": 0.4, "emissions": 0.5}
_UPSELL = {"lighting": 1.5, "suspension": 1.8, "brakes": 1.8, "tyres": 1.7, "emissions": 1.5}
_CHANGED = {"lighting": 0.6, "emissions": 2.4}
_EMISSIONS_CHECK_MINUTES = 10.0  # the stricter emissions test makes every test longer
_CHEAT_SHARE = 0.125  # of honest garages, once the stricter emissions test comes in
_CHEAT_FACTORS = (0.15, 2.5)  # emissions failures: waved through, or failed to sell repairs
_CAPACITY = 95.0  # tests a tester can do in a month
_HONEST, _PASS, _UPSELLING = 0, 1, 2


@dataclass(frozen=True)
class GarageData:
    """The simulated months of every garage, with the label and ``ev_share``.

    :meth:`months` cuts it into what the demo needs: the first data version (the year
    before the change), live traffic of one month, the second version (the months since
    the change)."""

    frame: pd.DataFrame

    def months(self, first: str | pd.Timestamp, last: str | pd.Timestamp) -> pd.DataFrame:
        """The rows from ``first`` to ``last`` (inclusive), in order, indexed from 0;
        ``ev_share`` only when some row in the span has it."""
        stamps = self.frame["month"]
        chosen = self.frame[(stamps >= pd.Timestamp(first)) & (stamps <= pd.Timestamp(last))]
        if chosen["ev_share"].isna().all():
            chosen = chosen.drop(columns=["ev_share"])
        return chosen.reset_index(drop=True)


def simulate(*, garages: int = 1000, seed: int = 0) -> GarageData:
    """Twenty months (2023-01 to 2024-08) of ``garages`` garages, and from
    :data:`CHANGE_MONTH` the new region's garages (an extra 15%), drawn from ``seed``."""
    if garages < 20:
        raise ValueError(f"simulate at least 20 garages, not {garages}")
    rng = np.random.default_rng(seed)
    old = _garages(rng, garages, REGIONS, bad_share=0.125, start=0)
    new = _garages(rng, max(garages * 15 // 100, 3), (NEW_REGION,), bad_share=0.2, start=garages)
    change = _month_index(CHANGE_MONTH)
    frames = []
    active = old
    for index in range(_MONTHS):
        if index == change:
            active = _concat(old, new)
        frames.append(_month(rng, active, index, changed=index >= change))
    frame = pd.concat(frames, ignore_index=True)
    return GarageData(frame)


def feature_records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The ``columns`` of ``frame`` as JSON-ready records (plain Python values), one per
    row: the body of a prediction request."""
    records = frame[list(columns)].to_dict(orient="records")
    return [{str(key): _plain(value) for key, value in record.items()} for record in records]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _month_index(month: pd.Timestamp) -> int:
    return (month.year - FIRST_MONTH.year) * 12 + month.month - FIRST_MONTH.month


Garages = dict[str, np.ndarray[Any, Any]]


def _garages(
    rng: np.random.Generator, count: int, regions: tuple[str, ...], *, bad_share: float, start: int
) -> Garages:
    size = rng.choice(np.array(SIZES), size=count, p=_SIZE_SHARES)
    testers = np.empty(count, dtype=np.int64)
    for name, (low, high) in _TESTERS.items():
        chosen = size == name
        testers[chosen] = rng.integers(low, high + 1, chosen.sum())
    kind = rng.choice(
        [_HONEST, _PASS, _UPSELLING], size=count, p=[1 - bad_share, bad_share / 2, bad_share / 2]
    )
    bad = kind != _HONEST
    care = rng.normal(0.0, 1.0, count)
    # Honest garages that start cheating on emissions once the stricter test comes in.
    cheats = (kind == _HONEST) & (rng.random(count) < _CHEAT_SHARE)
    # Half of them pass failing cars, half fail passing ones to sell emissions repairs.
    cheat_factor = rng.choice(np.array(_CHEAT_FACTORS), size=count)
    return {
        "garage_id": np.array([f"G{start + i + 1:05d}" for i in range(count)]),
        "region": rng.choice(np.array(regions), size=count),
        "garage_size": size,
        "testers": testers,
        "kind": kind,
        "cheats": cheats,
        "cheat_factor": cheat_factor,
        "care": care,
        "fleet_age": rng.lognormal(0.0, 0.25, count),
        "past_enforcement": rng.poisson(np.where(bad, 1.0, 0.2) + 0.2 * (care < -1)),
        # Inspections come at about 6% a month, so the months since the last one are
        # (roughly) geometric from the start: the count does not drift on its own.
        "months_since_inspection": np.minimum(rng.geometric(0.06, count) - 1, 60),
        "region_risk": np.full(count, 0.4 if regions == (NEW_REGION,) else 0.0),
    }


def _concat(first: Garages, second: Garages) -> Garages:
    return {key: np.concatenate([first[key], second[key]]) for key in first}


def _month(
    rng: np.random.Generator, garages: Garages, index: int, *, changed: bool
) -> pd.DataFrame:
    count = len(garages["garage_id"])
    kind = garages["kind"]
    passes, upsells = kind == _PASS, kind == _UPSELLING
    cheats = garages["cheats"] & changed
    bad = passes | upsells | cheats
    care = garages["care"]
    load = np.select(
        [passes, upsells],
        [rng.uniform(1.2, 1.7, count), rng.uniform(0.4, 0.65, count)],
        rng.uniform(0.65, 1.1, count),
    )
    tests = np.maximum(rng.poisson(garages["testers"] * _CAPACITY * load), 5)
    minutes = rng.normal(np.select([passes, upsells], [34.0, 56.0], 45.0 + 2.0 * care), 5.0)
    if changed:
        minutes += _EMISSIONS_CHECK_MINUTES
    columns: dict[str, Any] = {}
    survive = np.ones(count)
    for defect, base in _BASE_RATES.items():
        rate = base * garages["fleet_age"] * (_CHANGED.get(defect, 1.0) if changed else 1.0)
        rate = rate * np.where(passes, _PASS_THROUGH[defect], 1.0)
        rate = rate * np.where(upsells, _UPSELL[defect], 1.0)
        if defect == "emissions":
            rate = rate * np.where(cheats, garages["cheat_factor"], 1.0)
        rate = np.clip(rate, 0.001, 0.9)
        columns[f"fail_rate_{defect}"] = rng.binomial(tests, rate) / tests
        survive *= 1.0 - rate
    failures = rng.binomial(tests, 1.0 - survive)
    retest_share = np.select([passes, upsells], [0.2, 0.85], rng.uniform(0.4, 0.7, count))
    retested = rng.binomial(failures, retest_share)
    complaints = rng.poisson(tests / 100 * (0.2 + 0.3 * (care < -1) + 0.4 * bad))
    since = garages["months_since_inspection"]
    logit = (
        -4.4
        + 5.0 * bad
        + 0.6 * np.maximum(0.0, -care)
        + 0.25 * garages["past_enforcement"]
        + 0.03 * since
        + garages["region_risk"]
    )
    high_risk = rng.random(count) < 1.0 / (1.0 + np.exp(-logit))
    ev_share = np.round(rng.beta(2.0, 18.0, count), 3) if changed else np.full(count, np.nan)
    if changed:
        ev_share[rng.random(count) < 0.06] = np.nan
    month = FIRST_MONTH + pd.DateOffset(months=index)
    frame = pd.DataFrame(
        {
            "garage_id": garages["garage_id"],
            "month": np.full(count, month, dtype="datetime64[ns]"),
            "region": garages["region"],
            "garage_size": garages["garage_size"],
            "testers": garages["testers"],
            "tests": tests,
            "mean_test_minutes": np.round(np.clip(minutes, 8.0, 90.0), 1),
            "fail_rate": np.round(failures / tests, 4),
            **{name: np.round(values, 4) for name, values in columns.items()},
            "retest_rate": np.round(retested / np.maximum(failures, 1), 4),
            "complaints": complaints,
            "past_enforcement": garages["past_enforcement"],
            "months_since_inspection": since.copy(),
            "ev_share": ev_share,
            TARGET: high_risk.astype(np.int64),
        }
    )
    # The one piece of state a month leaves to the next: the inspection clock.
    inspected = high_risk | (rng.random(count) < 0.05)
    garages["months_since_inspection"] = np.where(inspected, 0, since + 1)
    return frame
