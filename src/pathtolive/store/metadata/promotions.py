"""Queries on gate reports, promotion requests and approvals."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from pathtolive.entities import Approval, Promotion, StoredGateReport
from pathtolive.store.metadata import tables as t
from pathtolive.store.metadata._rows import (
    Queries,
    dumps,
    in_chunks,
    utc,
    utc_or_none,
    with_model_version,
)

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

    def latest_gate_reports(self, promotions: Sequence[Promotion]) -> dict[int, StoredGateReport]:
        """The latest gate report of the version each of ``promotions`` asks to move,
        by promotion id (promotions of a version without a report are left out): two
        queries, whatever the number of promotions."""
        ids = [p.promotion_id for p in promotions]
        reports = t.gate_reports
        versions_of: dict[int, int] = {}
        for chunk in in_chunks(ids):
            query = select(t.promotions.c.id, t.promotions.c.model_version_id).where(
                t.promotions.c.id.in_(list(chunk))
            )
            versions_of.update(
                (row.id, row.model_version_id) for row in self.connection.execute(query)
            )
        version_ids = sorted(set(versions_of.values()))
        found: dict[int, StoredGateReport] = {}
        for chunk in in_chunks(version_ids):
            latest = (
                select(func.max(reports.c.id))
                .where(reports.c.model_version_id.in_(list(chunk)))
                .group_by(reports.c.model_version_id)
            )
            query = self._gate_report_query().where(reports.c.id.in_(latest))
            for row in self.connection.execute(query):
                found[row.model_version_id] = self._gate_report(row)
        return {
            promotion: found[version]
            for promotion, version in versions_of.items()
            if version in found
        }

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

    def _promotions(self, rows: Sequence[Any]) -> list[Promotion]:
        """``rows`` of :meth:`_promotion_query` as promotions, their approvals read in
        one query per chunk of rows (not one per promotion)."""
        approvals: dict[int, list[Approval]] = {}
        for chunk in in_chunks([row.id for row in rows]):
            query = (
                select(t.approvals)
                .where(t.approvals.c.promotion_id.in_(list(chunk)))
                .order_by(t.approvals.c.id)
            )
            for a in self.connection.execute(query):
                approvals.setdefault(a.promotion_id, []).append(
                    Approval(a.approver, a.decision, a.comment, utc(a.at))
                )
        return [
            Promotion(
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
                approvals=tuple(approvals.get(row.id, ())),
            )
            for row in rows
        ]

    def _promotion(self, row: Any) -> Promotion:
        return self._promotions([row])[0]

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
        return self._promotions(list(self.connection.execute(query)))

    def count_promotions(self, *, status: str) -> int:
        query = (
            select(func.count()).select_from(t.promotions).where(t.promotions.c.status == status)
        )
        return int(self.connection.scalar(query) or 0)

    def promotion_page(self, *, status: str, offset: int, limit: int) -> list[Promotion]:
        """Promotions with ``status``, oldest request first, ``limit`` from ``offset``."""
        query = (
            with_model_version(t.promotions)
            .where(t.promotions.c.status == status)
            .order_by(t.promotions.c.id)
            .offset(offset)
            .limit(limit)
        )
        return self._promotions(list(self.connection.execute(query)))

    def decided_promotions(self, *, limit: int) -> list[Promotion]:
        """The ``limit`` promotions decided last (approved, declined, withdrawn…), newest
        first."""
        promotions = t.promotions
        query = (
            with_model_version(promotions)
            .where(promotions.c.status != "pending")
            .order_by(
                func.coalesce(promotions.c.decided_at, promotions.c.requested_at).desc(),
                promotions.c.id.desc(),
            )
            .limit(limit)
        )
        return self._promotions(list(self.connection.execute(query)))

    def promotion_authors(self, promotion_ids: Sequence[int]) -> dict[int, str | None]:
        """Who trained the version each promotion asks to move (the actor of its run;
        None when the run is not recorded), by promotion id: one query per chunk."""
        authors: dict[int, str | None] = {}
        for chunk in in_chunks(list(promotion_ids)):
            query = (
                select(t.promotions.c.id, t.runs.c.actor)
                .join(t.model_versions, t.model_versions.c.id == t.promotions.c.model_version_id)
                .outerjoin(t.runs, t.runs.c.run_id == t.model_versions.c.run_id)
                .where(t.promotions.c.id.in_(list(chunk)))
            )
            authors.update((row.id, row.actor) for row in self.connection.execute(query))
        return authors

    def pending_promotion(self, model: str, version: int, alias: str) -> Promotion | None:
        query = self._promotion_query().where(
            t.models.c.name == model,
            t.model_versions.c.version == version,
            t.promotions.c.alias == alias,
            t.promotions.c.status == "pending",
        )
        row = self.connection.execute(query).first()
        return None if row is None else self._promotion(row)
