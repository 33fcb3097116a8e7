"""Drift verdicts: when a column's figures mean that it drifted, and which rule decided.

A column has drifted when its move is large enough to matter and more than
chance would give — both, under the default ``verdict = "effect+significance"`` of
:class:`DriftThresholds`:

- **Effect**: one of its effect sizes is at or above its threshold — ``psi`` or
  ``wasserstein`` for numbers, ``psi`` or ``js`` for categories (0.1 each by default; see
  :class:`DriftThresholds` for where those lines come from). A PSI counts only when it
  is also above ``psi_noise`` (reported with it): the PSI that two samples of these
  sizes from one distribution exceed one time in a hundred, so that on a few dozen rows,
  or against a small reference such as a version's first outputs, sampling noise does
  not pass for an effect.
- **Significance**: the column's test rejects "the same distribution" — the KS p-value
  for numbers, the chi-square p-value for categories, below its threshold. p-value
  thresholds are family-wise by default (``correction="bonferroni"``): a column's
  p-value is held against the threshold divided by the number of columns tested with
  that test, so that a comparison of many columns of unchanged data flags none with the
  probability the threshold says, not one per hundred columns.

Why both: with the tens of thousands of rows a busy service logs in a day, every test
rejects on the mild movement any live data has (a shift of a hundredth of a standard
deviation), and a p-value says nothing of how far the data moved; an effect size alone,
on the few hundred rows of a quiet window, is mostly sampling noise. ``verdict =
"significance"`` (every move beyond chance) and ``"effect"`` (every large move, as
Evidently judges large data) remain available. Whatever the rule, the missing share
moving by more than ``null_rate_change`` and, for categories, an ``unseen_share`` above
its threshold flag a column too: those are a broken feed. Each
:class:`~pathtolive.monitoring.drift.FeatureDrift` says which rule decided (``rule``),
whether the move is beyond chance (``significant``) and large (``large_effect``), in a
sentence (``explanation``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from pathtolive.config import check_keys
from pathtolive.errors import ConfigError
from pathtolive.monitoring.sketch import FeatureKind

__all__ = [
    "EFFECT_NAMES",
    "EFFECT_STATISTICS",
    "VERDICTS",
    "DriftThresholds",
    "Judgement",
    "Verdict",
    "judge",
    "rule_text",
]

Verdict = Literal["effect+significance", "significance", "effect"]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
"""The rules a drift verdict can follow (see the module docs); the first is the default."""

EFFECT_STATISTICS: Mapping[FeatureKind, tuple[str, ...]] = {
    # Not the Jensen-Shannon distance for numbers: on binned numbers its 0.1 line is about
    # a PSI of 0.055, and it flagged neighbouring stretches of weather data where the
    # Wasserstein was 0.04-0.09 (benchmarks/drift_calibration.py); Evidently, too, judges
    # numbers by Wasserstein and categories by Jensen-Shannon. It is still reported.
    "numeric": ("psi", "wasserstein"),
    "categorical": ("psi", "js"),
}
"""The effect sizes that can decide a column's verdict, by kind of column."""

Correction = Literal["bonferroni", "none"]


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


@dataclass(frozen=True)
class DriftThresholds:
    """When figures mean drift, and which rule combines them (``verdict``).

    Effect sizes, drift at or above: ``psi`` (both kinds of column), ``js``
    (categorical columns) and ``wasserstein`` (numeric columns); None leaves that
    statistic a figure only. The defaults, 0.1 each, are the field's usual lines of a
    practically meaningful move:

    - ``wasserstein`` 0.1 and ``js`` 0.1: Evidently's defaults for columns of more than
      1,000 rows (normed Wasserstein for numbers, Jensen-Shannon distance for
      categories), where it judges by distance rather than by p-value because with tens
      of thousands of rows every test rejects. A normed Wasserstein of 0.1 is a shift of
      the mean by a tenth of a standard deviation.
    - ``psi`` 0.1: the start of a "moderate shift" in the credit-scoring reading of the
      PSI (Siddiqi, *Credit Risk Scorecards*, 2006: below 0.1 none, 0.1 to 0.25
      moderate, above 0.25 major).

    Chance, drift below: ``ks_pvalue`` (numeric columns) and ``chi2_pvalue`` (categorical),
    family-wise under ``correction="bonferroni"`` (see the module docs).

    Integrity, drift in every ``verdict``: ``unseen_share`` above (the share of live
    values the reference never had) and the missing share moving by more than
    ``null_rate_change``: a broken feed, not a slow move, so no chance test is needed.

    ``verdict``: ``"effect+significance"`` (the default) flags a column when an effect
    size is at or above its threshold and the shift is beyond chance;
    ``"significance"`` when the shift is beyond chance, however small;
    ``"effect"`` when an effect size is at or above its threshold, however few the rows.
    """

    psi: float | None = 0.1
    js: float | None = 0.1
    wasserstein: float | None = 0.1
    ks_pvalue: float = 0.01
    chi2_pvalue: float = 0.01
    unseen_share: float = 0.05
    null_rate_change: float = 0.1
    correction: Correction = "bonferroni"
    verdict: Verdict = "effect+significance"

    def __post_init__(self) -> None:
        for name in ("psi", "js", "wasserstein", "unseen_share", "null_rate_change"):
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value >= 0):
                raise ConfigError(f"drift threshold {name} must be a number >= 0, not {value!r}")
        for name in ("ks_pvalue", "chi2_pvalue"):
            value = getattr(self, name)
            if not (_is_number(value) and 0 < value <= 1):
                raise ConfigError(
                    f"drift threshold {name} must be a p-value in (0, 1], not {value!r}"
                )
        if self.correction not in ("bonferroni", "none"):
            raise ConfigError(
                f"drift threshold correction must be 'bonferroni' or 'none', "
                f"not {self.correction!r}"
            )
        if self.verdict not in VERDICTS:
            raise ConfigError(
                f"drift verdict {self.verdict!r} is not known; use one of "
                + ", ".join(f'"{verdict}"' for verdict in VERDICTS)
            )

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys of a ``drift_threshold`` table."""
        return tuple(item.name for item in fields(cls) if item.name != "verdict")

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, verdict: Verdict = "effect+significance"
    ) -> DriftThresholds:
        """From a TOML table such as ``{psi = 0.2, ks_pvalue = 0.01}``; an unknown key is
        a ``ConfigError`` naming it. ``false`` for an effect size (``psi``, ``js``,
        ``wasserstein``) leaves it a figure only. The verdict rule is its own setting."""
        check_keys(data, "drift_threshold", cls.keys(), kind="drift threshold")
        values = dict(data)
        for key, value in values.items():
            if key in ("psi", "js", "wasserstein") and value is False:
                values[key] = None  # TOML has no null: false turns an effect size off
            elif key != "correction" and _is_number(value):
                values[key] = float(value)
        return cls(**values, verdict=verdict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


EFFECT_NAMES = {
    "psi": "PSI",
    "js": "Jensen-Shannon distance",
    "wasserstein": "normed Wasserstein",
}


def rule_text(thresholds: DriftThresholds) -> str:
    """The drift rule in force, in a sentence with its thresholds."""
    effects = [
        f"{EFFECT_NAMES[name]} ≥ {limit:g}"
        for name in ("psi", "js", "wasserstein")
        if (limit := getattr(thresholds, name)) is not None
    ]
    effect = (
        f"an effect size reaches its threshold ({', '.join(effects)})"
        if effects
        else "an effect size reaches its threshold (none is set)"
    )
    family = ", Bonferroni over the features" if thresholds.correction == "bonferroni" else ""
    chance = (
        f"the shift is beyond chance (KS p < {thresholds.ks_pvalue:g} for numbers, "
        f"chi-square p < {thresholds.chi2_pvalue:g} for categories{family})"
    )
    rule = {
        "effect+significance": f"{effect} and {chance}",
        "significance": chance,
        "effect": effect,
    }[thresholds.verdict]
    return (
        f"Rule {thresholds.verdict}: a feature drifts when {rule}, or when its missing "
        f"share moves by more than {thresholds.null_rate_change:g} or more than "
        f"{thresholds.unseen_share:g} of its values are unseen."
    )


@dataclass(frozen=True)
class Judgement:
    """One column's verdict and how it was reached (the fields of the same names in
    :class:`~pathtolive.monitoring.drift.FeatureDrift`)."""

    drifted: bool
    reasons: tuple[str, ...]
    rule: str
    significant: bool | None
    large_effect: bool
    explanation: str


@dataclass(frozen=True)
class _Effect:
    """One effect size against its threshold, and whether it counts."""

    name: str
    value: float
    limit: float
    noise: float | None

    @property
    def crossed(self) -> bool:
        # A PSI counts only above what chance alone gives at these sizes (psi_noise).
        return self.value >= self.limit and (self.noise is None or self.value > self.noise)

    def line(self) -> str:
        if self.value < self.limit:
            return f"{self.name} {self.value:.3g} < {self.limit:g}"
        if self.noise is None:
            return f"{self.name} {self.value:.3g} >= {self.limit:g}"
        relation = ">" if self.crossed else "<="
        return (
            f"{self.name} {self.value:.3g} >= {self.limit:g} "
            f"and {relation} {self.noise:.3g} (chance alone)"
        )


def _effects(
    kind: FeatureKind, figures: Mapping[str, float], thresholds: DriftThresholds
) -> list[_Effect]:
    found: list[_Effect] = []
    for name in EFFECT_STATISTICS[kind]:
        limit: float | None = getattr(thresholds, name)
        value = figures.get(name)
        if limit is not None and value is not None and math.isfinite(value):
            found.append(_Effect(name, value, limit, figures.get(f"{name}_noise")))
    return found


def _chance(
    kind: FeatureKind,
    figures: Mapping[str, float],
    thresholds: DriftThresholds,
    tested: Mapping[str, int],
) -> tuple[bool | None, str]:
    """Whether the column's shift is beyond chance, and the line that says so: its test's
    p-value (Kolmogorov-Smirnov for numbers, chi-square for categories) against the
    threshold, family-wise under Bonferroni."""
    test, limit = (
        ("ks", thresholds.ks_pvalue) if kind == "numeric" else ("chi2", thresholds.chi2_pvalue)
    )
    pvalue = figures.get(f"{test}_pvalue")
    if pvalue is None:
        return None, "no test of chance"
    family = tested.get(test, 1)
    if thresholds.correction == "bonferroni" and family > 1:
        limit, against = limit / family, f"{limit:g}/{family} columns"
    else:
        against = f"{limit:g}"
    if pvalue < limit:
        return True, f"{test} p={pvalue:.2g} < {against}"
    return False, f"{test} p={pvalue:.2g}"


def _integrity(
    kind: FeatureKind, figures: Mapping[str, float], thresholds: DriftThresholds
) -> list[tuple[str, str]]:
    """(rule, reason) of each integrity threshold the column crosses."""
    crossed: list[tuple[str, str]] = []
    unseen = figures.get("unseen_share")
    if kind == "categorical" and unseen is not None and unseen > thresholds.unseen_share:
        crossed.append(("unseen_share", f"unseen share {unseen:.3g} > {thresholds.unseen_share:g}"))
    before, after = figures.get("null_rate_reference"), figures.get("null_rate_current")
    change = thresholds.null_rate_change
    if before is not None and after is not None and abs(after - before) > change:
        crossed.append(
            ("null_rate", f"null rate {before:.3g} -> {after:.3g} (moved more than {change:g})")
        )
    return crossed


def judge(
    kind: FeatureKind,
    figures: Mapping[str, float],
    thresholds: DriftThresholds,
    tested: Mapping[str, int],
    *,
    values: int,
    min_rows: int,
) -> Judgement:
    """The verdict on one column of ``kind`` with these ``figures`` (see the module
    docs). ``tested`` counts the columns each test ran on (for the family-wise
    correction); ``values`` is the number of current values, and fewer than
    ``min_rows`` give no verdict."""
    effects = _effects(kind, figures, thresholds)
    large = [effect for effect in effects if effect.crossed]
    significant, chance_line = _chance(kind, figures, thresholds, tested)
    integrity = _integrity(kind, figures, thresholds)
    verdict = thresholds.verdict
    moved = {
        "effect+significance": bool(large) and significant is True,
        "significance": significant is True,
        "effect": bool(large),
    }[verdict]

    if large:
        effect_part = "large effect (" + "; ".join(effect.line() for effect in large) + ")"
    elif effects:
        effect_part = "too small to matter (" + ", ".join(e.line() for e in effects) + ")"
    else:
        effect_part = "no effect size"
    if significant is None:
        chance_part = chance_line
    else:
        chance_part = f"{'beyond' if significant else 'within'} chance ({chance_line})"
    if verdict == "effect+significance":
        joint = " but " if bool(large) != (significant is True) else " and "
        explanation = effect_part + joint + chance_part
    elif verdict == "significance":
        explanation = f"{chance_part}; {effect_part}"
    else:
        explanation = f"{effect_part}; {chance_part}"

    reasons: list[str] = []
    if moved:
        if verdict != "significance":
            reasons += [effect.line() for effect in large]
        if verdict != "effect":
            reasons.append(chance_line)
    reasons += [reason for _, reason in integrity]
    explanation = "; ".join([explanation, *(reason for _, reason in integrity)])
    rule: str = verdict if moved or not integrity else integrity[0][0]
    drifted = bool(reasons)
    if values < min_rows:
        reasons = [f"too few rows ({values} < {min_rows})"]
        explanation = f"{reasons[0]} for a verdict; {explanation}"
        drifted, rule = False, "min_rows"
    return Judgement(
        drifted=drifted,
        reasons=tuple(reasons),
        rule=rule,
        significant=significant,
        large_effect=bool(large),
        explanation=explanation,
    )
