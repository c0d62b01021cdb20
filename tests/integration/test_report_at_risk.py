"""The report's "loyal customers at risk" asks the rules which of them flag customers at
risk (``at_risk = True``) instead of naming one: the built-in loyal-going-quiet rule, and
a third party's rule as well; a customer stays listed until somebody touches them."""

from __future__ import annotations

from sqlalchemy import select

from dealercrm import hookimpl
from dealercrm.db.models import Customer
from dealercrm.rules import Candidate


class Flagging:
    """A scheduled rule that flags the customers named in its settings, with a check-in task."""

    defaults = {"names": []}

    def __init__(self, name: str, at_risk: bool):
        self.name, self.description, self.at_risk = name, f"{name}: a check-in", at_risk

    def scan(self, ctx):
        query = select(Customer.id).where(Customer.name.in_(ctx.settings["names"]), ctx.not_fired(Customer.id, "now"))
        for (customer_id,) in ctx.connection.execute(query):
            yield Candidate(customer_id, "now", customer_id=customer_id)

    def act(self, candidate, ctx):
        ctx.task(f"{self.name}: check in", purpose="service")


class DealerRules:
    @hookimpl
    def dealercrm_register_rules(self, crm):
        return [Flagging("warranty_ending", at_risk=True), Flagging("birthday_card", at_risk=False)]


def test_the_report_lists_whom_an_at_risk_rule_flagged_until_somebody_touches_them(crm_factory, clock):
    crm = crm_factory(plugins={"dealer_rules": DealerRules()})
    assert crm.rules.at_risk() == ["rule_loyal_quiet", "warranty_ending"]
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    anna = crm.customers.add("Anna Berg", by=crm.system)
    ben = crm.customers.add("Ben Roth", by=crm.system)
    crm.settings.plugins.update(warranty_ending={"names": ["Anna Berg"]}, birthday_card={"names": ["Ben Roth"]})
    crm.rules.run()

    rows = crm.reports.report("loyal_at_risk", by=crm.system)
    assert [(r["customer_id"], r["flagged_at"]) for r in rows] == [(anna.id, clock.now().isoformat())]
    assert ben.id not in [r["customer_id"] for r in rows]  # a birthday card is no risk

    clock.advance(hours=1)
    crm.interactions.record(anna.id, "phone", "outbound", "called about the warranty", by=crm.system)
    assert crm.reports.report("loyal_at_risk", by=crm.system) == []


def test_with_no_at_risk_rule_loaded_nobody_is_listed(crm_factory):
    crm = crm_factory(block=["rule_loyal_quiet"], plugins={"dealer_rules": DealerRules()})
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    anna = crm.customers.add("Anna Berg", by=crm.system)
    crm.settings.plugins.update(warranty_ending={"names": ["Anna Berg"]})
    crm.rules.run()
    assert [r["customer_id"] for r in crm.reports.report("loyal_at_risk", by=crm.system)] == [anna.id]

    crm.unregister("dealer_rules")  # the rule that said she was at risk is gone: so is its say
    assert crm.rules.at_risk() == [] and crm.reports.report("loyal_at_risk", by=crm.system) == []
