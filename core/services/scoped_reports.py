"""The reports as one party may read them: its own figures, its own customers.

Satisfaction and case handling are reported per party: a party sees its own row (the
system actor every row). Loyal customers at risk and the contact budget are about
customers, so a dealer sees them for the customers it owns; the other parties own no
customers and are refused.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from ..db.models import Customer, Party
from ..db.outbox_models import ContactLedger
from ..errors import ValidationError
from . import reports

SECTIONS = reports.SECTIONS


class ScopedReports:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def report(self, section: str) -> list[dict[str, Any]]:
        if section not in SECTIONS:
            raise ValidationError("section", section, f"must be one of {', '.join(SECTIONS)}")
        return getattr(self, section)()

    def _own_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.p.kind == "system":
            return rows
        with self.crm.read() as uow:
            name = uow.session.scalar(select(Party.name).where(Party.id == self.p.party_id))
        return [row for row in rows if row["party"] == name]

    def satisfaction(self) -> list[dict[str, Any]]:
        return self._own_rows(reports.satisfaction(self.crm))

    def cases(self) -> list[dict[str, Any]]:
        return self._own_rows(reports.cases(self.crm))

    def _own_customers(self):
        self.scope.require("dealer", doing="read reports about customers")
        if self.p.kind == "system":
            return None
        return select(Customer.id).where(Customer.owner_party_id == self.p.party_id)

    def loyal_at_risk(self, limit: int = 50) -> list[dict[str, Any]]:
        mine = self._own_customers()
        if mine is None:
            return reports.loyal_at_risk(self.crm, limit)
        with self.crm.read() as uow:
            own = set(uow.connection.execute(mine).scalars())
        # the report is ordered by urgency: filtering keeps that order
        return [row for row in reports.loyal_at_risk(self.crm, limit=10_000) if row["customer_id"] in own][:limit]

    def contacts(self) -> list[dict[str, Any]]:
        mine = self._own_customers()
        if mine is None:
            return reports.contacts(self.crm)
        budget = self.crm.settings.contact
        since = self.crm.clock.now() - timedelta(days=budget.window_days)
        with self.crm.read() as uow:
            per_customer = uow.connection.execute(
                select(ContactLedger.customer_id, func.count()).where(
                    ContactLedger.purpose == "marketing", ContactLedger.at > since, ContactLedger.customer_id.in_(mine))
                .group_by(ContactLedger.customer_id)).all()
            total = uow.connection.execute(select(func.count()).select_from(Customer).where(
                Customer.merged_into_id.is_(None), Customer.erased_at.is_(None),
                Customer.owner_party_id == self.p.party_id)).scalar_one()
        counts = Counter(min(n, budget.budget + 1) for _, n in per_customer)
        counts[0] = total - len(per_customer)
        return [{"marketing_contacts_in_window": f"over budget (> {budget.budget})" if n > budget.budget else str(n),
                 "customers": counts.get(n, 0), "budget": budget.budget, "window_days": budget.window_days}
                for n in range(budget.budget + 2)]
