"""The numbers a dealer should look at: satisfaction per party, who holds cases how
long, loyal customers at risk, how often each person was contacted, and the key accounts
that hang on a single thread.

Plain data (lists of dicts), so the CLI can print tables, JSON or CSV and draw charts
from the same rows; every figure is computed by set-based queries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, select, true

from ..access import owned_customers, require

from ..db.case_models import Case, CaseEvent
from ..db.models import Actor, Customer, Party
from ..db.outbox_models import ContactLedger
from ..db.rule_models import RuleFiring, SurveyResponse
from ..errors import NotFound, ValidationError
from .base import Service
from .case_report import party_report, resolved_by

SECTIONS = ("satisfaction", "cases", "loyal_at_risk", "contacts", "single_threaded")


def nps(scores: list[int]) -> float | None:
    """Net promoter score: % promoters (9-10) minus % detractors (0-6)."""
    if not scores:
        return None
    return round(100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores), 1)


def satisfaction(crm) -> list[dict[str, Any]]:
    """CSAT and NPS per party, each answer (one per case) counted for two parties at most:

    * the case's **dealer**, always — the customer's single point of contact, whose
      relationship the answer is about whoever did the work;
    * the party that **resolved** the case (``case_report.resolved_by``): the one holding it
      when its own move took the case to the customer's confirmation or closed it — the
      technician who reported it fixed, or the dealer itself.

    A party that only passed the case on — a manufacturer that approved a visit, rejected
    it or let its deadline run out — is not credited with the customer's verdict on the
    end result: its handling shows in the ``cases`` section (time held, deadlines missed).
    A dealer that resolved its own case counts the answer once. ``responses``: answers
    counted for the party; ``resolved``: of those, about cases it resolved itself.
    """
    with crm.read(crm.system) as uow:
        names = {p.id: (p.name, p.kind) for p in uow.session.scalars(select(Party))}
        answers = uow.connection.execute(select(
            SurveyResponse.case_id, SurveyResponse.csat, SurveyResponse.nps, Case.workflow, Case.dealer_party_id)
            .join(Case, Case.id == SurveyResponse.case_id)).all()
        history: dict[int, list] = defaultdict(list)
        for event in uow.connection.execute(
                select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.to_state, CaseEvent.owner_party_id)
                .where(CaseEvent.case_id.in_(select(SurveyResponse.case_id)))
                .order_by(CaseEvent.case_id, CaseEvent.id)):
            history[event.case_id].append(event)
    csat: dict[int, list[int]] = defaultdict(list)
    promoters: dict[int, list[int]] = defaultdict(list)
    counted: dict[int, int] = defaultdict(int)
    resolved: dict[int, int] = defaultdict(int)
    for row in answers:
        try:
            resolver = resolved_by(history[row.case_id], crm.cases.workflow(row.workflow).workflow)
        except NotFound:  # a workflow no longer installed: the dealer's answer all the same
            resolver = None
        for party in {row.dealer_party_id, resolver} - {None}:
            counted[party] += 1
            resolved[party] += party == resolver
            if row.csat is not None:
                csat[party].append(row.csat)
            if row.nps is not None:
                promoters[party].append(row.nps)
    out = []
    for pid in sorted(counted):
        name, kind = names.get(pid, (f"party {pid}", "?"))
        out.append({"party": name, "kind": kind, "responses": counted[pid], "resolved": resolved[pid],
                    "csat": round(sum(csat[pid]) / len(csat[pid]), 2) if csat[pid] else None,
                    "nps": nps(promoters[pid])})
    return out


def nps_by_month(crm) -> list[dict[str, Any]]:
    with crm.read(crm.system) as uow:
        rows = uow.connection.execute(select(SurveyResponse.at, SurveyResponse.nps)
                                      .where(SurveyResponse.nps.is_not(None))).all()
    months: dict[str, list[int]] = defaultdict(list)
    for at, score in rows:
        months[f"{at:%Y-%m}"].append(score)
    return [{"month": m, "responses": len(s), "nps": nps(s)} for m, s in sorted(months.items())]


def cases(crm) -> list[dict[str, Any]]:
    return [{"party": r.name, "kind": r.kind, "cases_held": r.cases_held,
             "median_hours_held": round(r.median_held.total_seconds() / 3600, 1) if r.median_held else None,
             "deadlines_missed": r.deadlines_missed} for r in party_report(crm)]


def loyal_at_risk(crm, limit: int = 50) -> list[dict[str, Any]]:
    """Customers a rule flagged as at risk who have still not been touched since: the rules
    that say so (``at_risk = True``, asked through ``crm.rules.at_risk()``; the built-in
    loyal-going-quiet rule does). With none of them loaded, nobody is listed."""
    flagging = crm.rules.at_risk()
    if not flagging:
        return []
    with crm.read(crm.system) as uow:
        rows = uow.connection.execute(
            select(Customer.id, Customer.name, Customer.last_touch_at, Actor.name.label("owner"),
                   func.max(RuleFiring.at).label("flagged_at"))
            .join(RuleFiring, and_(RuleFiring.customer_id == Customer.id, RuleFiring.rule.in_(flagging)))
            .join(Actor, Actor.id == Customer.account_owner_id, isouter=True)
            .where(Customer.erased_at.is_(None), Customer.merged_into_id.is_(None))
            .group_by(Customer.id, Customer.name, Customer.last_touch_at, Actor.name)
            .having((Customer.last_touch_at.is_(None)) | (Customer.last_touch_at < func.max(RuleFiring.at)))
            .order_by(Customer.last_touch_at.is_(None).desc(), Customer.last_touch_at).limit(limit)).all()
    return [{"customer_id": r.id, "name": r.name, "last_touch": r.last_touch_at.isoformat() if r.last_touch_at else None,
             "account_owner": r.owner, "flagged_at": r.flagged_at.isoformat() if r.flagged_at else None} for r in rows]


def contacts(crm, party_id: int | None = None) -> list[dict[str, Any]]:
    """How many marketing contacts people got in the budget window, against the budget;
    ``party_id``: only that dealer's customers."""
    budget = crm.settings.contact
    since = crm.clock.now() - timedelta(days=budget.window_days)
    mine = true() if party_id is None else Customer.owner_party_id == party_id
    with crm.read(crm.system) as uow:
        per_customer = uow.connection.execute(
            select(ContactLedger.customer_id, func.count()).where(
                ContactLedger.purpose == "marketing", ContactLedger.at > since,
                ContactLedger.customer_id.in_(select(Customer.id).where(mine)))
            .group_by(ContactLedger.customer_id)).all()
        total = uow.connection.execute(select(func.count()).select_from(Customer).where(
            Customer.merged_into_id.is_(None), Customer.erased_at.is_(None), mine)).scalar_one()
    counts = Counter(min(n, budget.budget + 1) for _, n in per_customer)
    counts[0] = total - len(per_customer)
    label = lambda n: f"over budget (> {budget.budget})" if n > budget.budget else str(n)  # noqa: E731
    return [{"marketing_contacts_in_window": label(n), "customers": counts.get(n, 0),
             "budget": budget.budget, "window_days": budget.window_days} for n in range(budget.budget + 2)]


def single_threaded(crm, party_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Single-threaded accounts: company customers (on file for a whole ``[relationships]
    window_days``) whose personal touches of that window involve one of our people or one of
    their functions, the highest revenue first — the key accounts that are lost when one
    person leaves, on either side. Each row names the thread (``Sabine Krüger (sales) ↔
    buyer``) and what is missing per level (``service: our Jonas Weber has never met their
    Petra Koch (technician)``); ``party_id``: only that dealer's customers."""
    from .relationships import single_threaded_accounts

    settings = crm.settings.relationships
    mine = true() if party_id is None else Customer.owner_party_id == party_id
    with crm.read(crm.system) as uow:
        return single_threaded_accounts(uow, settings.window_days, settings.levels, mine, limit)


def report(crm, only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    builders = {"satisfaction": satisfaction, "cases": cases, "loyal_at_risk": loyal_at_risk, "contacts": contacts,
                "single_threaded": single_threaded}
    chosen = [only] if only else list(SECTIONS)
    return {name: builders[name](crm) for name in chosen}


class ReportService(Service):
    """The reports as one party may read them: its own figures, its own customers.

    Satisfaction and case handling are reported per party: a party sees its own row (the
    system actor every row). Loyal customers at risk, the contact budget and single-threaded
    accounts are about customers, so a dealer sees them for the customers it owns; the
    other parties own no customers and are refused.
    """

    def report(self, section: str, *, by: int) -> list[dict[str, Any]]:
        """One section of the management report as rows (``dealercrm report --only SECTION``).

        Each party sees its own rows, the system every party's; the sections about customers
        (``loyal_at_risk``, ``contacts``) are a dealer's, for the customers it owns.

        Args:
            section: ``"satisfaction"`` (CSAT and NPS per party), ``"cases"`` (time held,
                deadlines missed), ``"loyal_at_risk"`` or ``"contacts"`` (marketing contacts
                against the budget).
            by: The acting actor's id.

        Returns:
            The rows, as dicts (tables, JSON or CSV alike).

        Raises:
            ValidationError: An unknown section.
            NotFound: ``by`` is no actor.
            NotPermitted: A section about customers for an actor that is no dealer's, or
                ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> _ = crm.surveys.record(case.id, csat=5, nps=10, channel="phone", by=lea)
            >>> [(row["party"], row["csat"], row["nps"]) for row in crm.reports.report("satisfaction", by=lea)]
            [('Autohaus Berg', 5.0, 100.0)]
        """
        if section not in SECTIONS:
            raise ValidationError("section", section, f"must be one of {', '.join(SECTIONS)}")
        with self.read(by) as uow:
            p = uow.principal
            if section in ("loyal_at_risk", "contacts", "single_threaded"):
                require(p, "dealer", doing="read reports about customers")
            own_name = None if p.is_system else uow.session.scalar(select(Party.name).where(Party.id == p.party_id))
            own = None if p.is_system else set(uow.connection.execute(
                select(Customer.id).where(owned_customers(p))).scalars())
        if section in ("satisfaction", "cases"):
            rows = satisfaction(self.crm) if section == "satisfaction" else cases(self.crm)
            return rows if own_name is None else [row for row in rows if row["party"] == own_name]
        if section == "loyal_at_risk":
            if own is None:
                return loyal_at_risk(self.crm)
            # the report is ordered by urgency: filtering keeps that order
            return [row for row in loyal_at_risk(self.crm, limit=10_000) if row["customer_id"] in own][:50]
        if section == "single_threaded":
            return single_threaded(self.crm, None if p.is_system else p.party_id)
        return contacts(self.crm, None if p.is_system else p.party_id)
