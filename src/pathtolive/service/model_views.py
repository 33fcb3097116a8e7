"""What the console's Model and Model version pages show, gathered with indexed queries.

Nothing here reads a dataset or the prediction log: a model page is its versions (one
page of them at a time, with the verdict of each one's latest stored gate report and
the data its run read), its aliases' latest moves and its open alerts; a version page is
its stored gate report, its lineage and its model card. Only :func:`explain_row` loads
the model, to explain the one row a person typed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pathtolive.auth import Permission
from pathtolive.data.profile import Profile
from pathtolive.entities import Alert, AliasMove, Model, ModelVersion, StoredGateReport
from pathtolive.errors import InvalidInputError, NotFoundError
from pathtolive.lineage import LineageNode
from pathtolive.refs import check_name
from pathtolive.registry.explainers import occlusion_attributions
from pathtolive.registry.signature import FieldSpec, Signature
from pathtolive.service.card import ModelCard, model_card
from pathtolive.service.context import ServiceContext
from pathtolive.service.lineage import model_lineage
from pathtolive.service.models import load_model, model_version

__all__ = [
    "LINEAGE_PARENTS",
    "MAX_PAGE_SIZE",
    "TIMELINE_MOVES",
    "Explanation",
    "ModelView",
    "PageSpan",
    "VersionRow",
    "VersionView",
    "explain_row",
    "model_view",
    "version_view",
]

MAX_PAGE_SIZE = 100
"""The most versions one page of a model lists."""

TIMELINE_MOVES = 50
"""The alias moves a model page shows: the latest ones."""

LINEAGE_PARENTS = 5
"""The parents of each dataset version a version page's lineage shows: the nearest."""


@dataclass(frozen=True)
class PageSpan:
    """Page ``number`` (from 1) of ``size`` items out of ``total``."""

    number: int
    size: int
    total: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


@dataclass(frozen=True)
class VersionRow:
    """One version in a model's list: the version, whether its latest gate report
    passed (None without one), the dataset versions its run read, and its run's id."""

    version: ModelVersion
    passed: bool | None
    data: dict[str, str]
    previous_run: str | None = None
    """The run of the version before it (to compare the two runs), None for the first."""


@dataclass(frozen=True)
class ModelView:
    """A model page: the model, one page of its versions (newest first), the latest
    alias moves (oldest first) and the model's open alerts."""

    model: Model
    rows: tuple[VersionRow, ...]
    span: PageSpan
    timeline: tuple[AliasMove, ...]
    open_alerts: tuple[Alert, ...]

    @property
    def live(self) -> int | None:
        return self.model.aliases.get("live")

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """The features with an open drift alert, by name."""
        return tuple(
            sorted(
                alert.key.partition(":")[2] for alert in self.open_alerts if alert.kind == "drift"
            )
        )


def _span(page: int, size: int, total: int) -> PageSpan:
    if page < 1:
        raise InvalidInputError(f"page {page}: pages are numbered from 1")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"page size {size}: give 1 to {MAX_PAGE_SIZE}")
    return PageSpan(page, size, total)


def model_view(ctx: ServiceContext, name: str, *, page: int = 1, size: int = 25) -> ModelView:
    """Model ``name``'s page ``page`` of ``size`` versions (see :class:`ModelView`)."""
    ctx.require(Permission.READ, "read models")
    check_name(name, kind="model")
    with ctx.metadata.read() as session:
        model = session.get_model(name)
        if model is None:
            raise NotFoundError(f"no model {name!r}")
        span = _span(page, size, session.count_model_versions(name))
        # One more than the page: the run of the version before the page's last one.
        versions = session.model_versions_page(name, offset=span.offset, limit=span.size + 1)
        shown = versions[: span.size]
        verdicts = session.gate_verdicts(name, [version.version for version in shown])
        inputs = session.runs_inputs([version.run_id for version in shown])
        rows = []
        for index, version in enumerate(shown):
            before = versions[index + 1].run_id if index + 1 < len(versions) else None
            data = inputs.get(version.run_id, {})
            rows.append(VersionRow(version, verdicts.get(version.version), data, before))
        timeline = session.alias_history(name, newest=TIMELINE_MOVES)
        alerts = session.list_alerts(name, status="open", limit=MAX_PAGE_SIZE)
    return ModelView(model, tuple(rows), span, tuple(timeline), tuple(alerts))


@dataclass(frozen=True)
class VersionView:
    """A model version page: the version, its latest stored gate report (None without
    one), its lineage and its model card."""

    version: ModelVersion
    report: StoredGateReport | None
    lineage: LineageNode
    card: ModelCard
    previous_run: str | None = None
    """The run of the version before it, None for the first."""

    @property
    def latency(self) -> dict[str, Any]:
        """The latency measurements the latency gate kept (empty when not measured)."""
        return self._gate_data("latency")

    def _gate_data(self, gate: str) -> dict[str, Any]:
        if self.report is None:
            return {}
        for result in self.report.report.get("results", []):
            if result.get("gate") == gate:
                return dict(result.get("data") or {})
        return {}

    @property
    def inputs(self) -> tuple[str, ...]:
        """The version's input columns (from its signature; empty without one)."""
        if self.version.signature is None:
            return ()
        return Signature.from_dict(self.version.signature).input_names


def version_view(ctx: ServiceContext, ref: str) -> VersionView:
    """The page of model version ``ref`` (``risk@3``, ``risk@live``)."""
    version = model_version(ctx, ref)
    with ctx.metadata.read() as session:
        report = session.latest_gate_report(version.model, version.version)
        before = session.get_model_version(version.model, version.version - 1)
    lineage = model_lineage(ctx, version.ref, parents=LINEAGE_PARENTS)
    card = model_card(ctx, version.ref, lineage=lineage)
    return VersionView(version, report, lineage, card, None if before is None else before.run_id)


@dataclass(frozen=True)
class Explanation:
    """One row explained: the model's output for it (the last class's probability, or
    the predicted value) and each input's occlusion attribution, largest effect first."""

    output: float
    attributions: tuple[tuple[str, float], ...]


def explain_row(ctx: ServiceContext, ref: str, values: Mapping[str, str]) -> Explanation:
    """Explain the row ``values`` (text per input, as a form sends it) for model version
    ``ref``: each input's attribution is how much the output moves when that input alone
    is set to its typical value in the stored profile of the training data (its median,
    or its most frequent value), so no dataset is read."""
    version = model_version(ctx, ref)
    if version.signature is None:
        raise InvalidInputError(f"{version.ref} has no signature: there are no inputs to explain")
    signature = Signature.from_dict(version.signature)
    row = _typed_row(signature, values)
    reference = _typed_row(signature, _typical(ctx, version), row)
    model = load_model(ctx, version)
    attributions, outputs = occlusion_attributions(model, row, reference)
    pairs = [
        (str(name), float(value))
        for name, value in zip(row.columns, attributions[0], strict=True)
        if np.isfinite(value)
    ]
    pairs.sort(key=lambda pair: -abs(pair[1]))
    return Explanation(float(outputs[0]), tuple(pairs))


def _typed_row(
    signature: Signature, values: Mapping[str, Any], fallback: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row of ``values`` with the types of the signature's inputs; a value missing
    is refused, or taken from ``fallback``'s row when given."""
    missing = [name for name in signature.input_names if str(values.get(name, "")).strip() == ""]
    if missing and fallback is None:
        raise InvalidInputError(f"give a value for every input; missing: {', '.join(missing)}")
    columns: dict[str, Any] = {}
    for field in signature.inputs:
        if field.name in missing:
            assert fallback is not None
            columns[field.name] = fallback[field.name]
            continue
        columns[field.name] = pd.Series([_typed(field, values[field.name])])
    frame = pd.DataFrame(columns)
    for field in signature.inputs:
        if field.type == "category" and field.categories:
            frame[field.name] = pd.Categorical(frame[field.name], categories=field.categories)
    return frame[list(signature.input_names)]


def _typed(field: FieldSpec, value: Any) -> Any:
    text = str(value).strip()
    try:
        if field.type == "integer":
            return int(float(text))
        if field.type == "float":
            return float(text)
        if field.type == "boolean":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if field.type == "datetime":
            return pd.Timestamp(text)
    except ValueError:
        raise InvalidInputError(
            f"{field.name} takes a {field.type}; {text!r:.40} is not one"
        ) from None
    return text


def _typical(ctx: ServiceContext, version: ModelVersion) -> dict[str, Any]:
    """Each input's typical value in the stored profile of the first dataset version the
    version's run read that profiles it: a numeric column's median, another's most
    frequent value."""
    typical: dict[str, Any] = {}
    with ctx.metadata.read() as session:
        run = session.get_run(version.run_id)
        for ref in [] if run is None else run.inputs.values():
            name, _, number = ref.partition("@")
            found = session.get_version(name, int(number)) if number.isdigit() else None
            if found is None:
                continue
            for column in Profile.from_dict(found.profile).columns:
                if column.name in typical:
                    continue
                numeric, categorical = column.numeric, column.categorical
                if numeric is not None and numeric.quantiles:
                    typical[column.name] = numeric.quantiles[len(numeric.quantiles) // 2]
                elif categorical is not None and categorical.categories:
                    typical[column.name] = categorical.categories[0][0]
    return typical
