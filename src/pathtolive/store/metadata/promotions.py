"""Queries on gate reports, promotion requests and approvals."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from pathtolive.entities import Approval, Promotion, StoredGateReport
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import Queries, dumps, utc, utc_or_none, with_model_version

__all__ = ["PromotionQueries"]


class PromotionQueries(Queries):
    # -- gate reports ------------------------------------------------------------------

    def insert_gate_report(
        self,
        model: str,
        version: int,
        *,
        passed: bool,
        report: Mapping[str, Any],
        at: datetime,
        by: str,
    ) -> int:
        return self._insert_row(
            t.gate_reports,
            model_version_id=self._model_version_id(model, version),
            passed=passed,
            report_json=dumps(dict(report)),
            created_at=at,
            created_by=by,
        )

    def _gate_report_query(self) -> Any:
        return with_model_version(t.gate_reports)

    def _gate_report(self, row: Any) -> StoredGateReport:
        return StoredGateReport(
            report_id=row.id,
            model=row.name,
            version=row.version,
            passed=bool(row.passed),
            report=json.loads(row.report_json),
            created_at=utc(row.created_at),
            created_by=row.created_by,
        )

    def latest_gate_report(self, model: str, version: int) -> StoredGateReport | None:
        query = (
            self._gate_report_query()
            .where(t.models.c.name == model, t.model_versions.c.version == version)
            .order_by(t.gate_reports.c.id.desc())
            .limit(1)
        )
        row = self.connection.execute(query).first()
        return None if row is None else self._gate_report(row)

    def gate_verdicts(self, model: str, versions: Sequence[int]) -> dict[int, bool]:
        """Whether the latest gate report of each of ``versions`` of ``model`` passed
        (versions without a report are left out): one query on the report index."""
        if not versions:
            return {}
        reports, model_versions = t.gate_reports, t.model_versions
        latest = (
            select(func.max(reports.c.id))
            .join(model_versions, model_versions.c.id == reports.c.model_version_id)
            .join(t.models, t.models.c.id == model_versions.c.model_id)
            .where(t.models.c.name == model, model_versions.c.version.in_(list(versions)))
            .group_by(reports.c.model_version_id)
        )
        query = (
            select(model_versions.c.version, reports.c.passed)
            .join(model_versions, model_versions.c.id == reports.c.model_version_id)
            .where(reports.c.id.in_(latest))
        )
        return {row.version: bool(row.passed) for row in self.connection.execute(query)}

    def gate_report(self, report_id: int) -> StoredGateReport | None:
        query = self._gate_report_query().where(t.gate_reports.c.id == report_id)
        row = self.connection.execute(query).first()
        return None if row is None else self._gate_report(row)

    # -- promotions --------------------------------------------------------------------

    def insert_promotion(
        self,
        model: str,
        version: int,
        *,
        alias: str,
        policy: str,
        status: str,
        requested_by: str,
        requested_at: datetime,
        reason: str,
        gate_report_id: int | None,
        override_reason: str | None = None,
    ) -> int:
        return self._insert_row(
            t.promotions,
            model_version_id=self._model_version_id(model, version),
            alias=alias,
            policy=policy,
            status=status,
            gate_report_id=gate_report_id,
            requested_by=requested_by,
            requested_at=requested_at,
            reason=reason,
            override_reason=override_reason,
        )

    def decide_promotion(
        self, promotion_id: int, *, status: str, decided_by: str, decided_at: datetime
    ) -> None:
        self.connection.execute(
            update(t.promotions)
            .where(t.promotions.c.id == promotion_id)
            .values(status=status, decided_by=decided_by, decided_at=decided_at)
        )

    def add_approval(
        self, promotion_id: int, *, approver: str, decision: str, comment: str, at: datetime
    ) -> None:
        self.connection.execute(
            insert(t.approvals).values(
                promotion_id=promotion_id,
                approver=approver,
                decision=decision,
                comment=comment,
                at=at,
            )
        )

    def _promotion_query(self) -> Any:
        return with_model_version(t.promotions).order_by(t.promotions.c.id)

    def _promotion(self, row: Any) -> Promotion:
        approvals = tuple(
            Approval(a.approver, a.decision, a.comment, utc(a.at))
            for a in self.connection.execute(
                select(t.approvals)
                .where(t.approvals.c.promotion_id == row.id)
                .order_by(t.approvals.c.id)
            )
        )
        return Promotion(
            promotion_id=row.id,
            model=row.name,
            version=row.version,
            alias=row.alias,
            policy=row.policy,
            status=row.status,
            requested_by=row.requested_by,
            requested_at=utc(row.requested_at),
            reason=row.reason,
            override_reason=row.override_reason,
            decided_by=row.decided_by,
            decided_at=utc_or_none(row.decided_at),
            gate_report_id=row.gate_report_id,
            approvals=approvals,
        )

    def get_promotion(self, promotion_id: int, *, lock: bool = False) -> Promotion | None:
        query = self._promotion_query().where(t.promotions.c.id == promotion_id)
        if lock and self.connection.dialect.name != "sqlite":
            query = query.with_for_update(of=t.promotions)
        row = self.connection.execute(query).first()
        return None if row is None else self._promotion(row)

    def list_promotions(
        self, *, status: str | None = None, model: str | None = None
    ) -> list[Promotion]:
        query = self._promotion_query()
        if status is not None:
            query = query.where(t.promotions.c.status == status)
        if model is not None:
            query = query.where(t.models.c.name == model)
        return [self._promotion(row) for row in self.connection.execute(query)]

    def pending_promotion(self, model: str, version: int, alias: str) -> Promotion | None:
        query = self._promotion_query().where(
            t.models.c.name == model,
            t.model_versions.c.version == version,
            t.promotions.c.alias == alias,
            t.promotions.c.status == "pending",
        )
        row = self.connection.execute(query).first()
        return None if row is None else self._promotion(row)
