"""Who resolved a case, read from its history alone (the rule the satisfaction report credits)."""

from __future__ import annotations

from types import SimpleNamespace

from dealercrm.services.case_report import resolved_by
from dealercrm.workflows.service_case import SERVICE_CASE

DEALER, MAKER, TECH = 1, 2, 3


def history(*moves):
    """(kind, to_state, owner party) per row, as the case history holds them."""
    return [SimpleNamespace(kind=kind, to_state=state, owner_party_id=owner) for kind, state, owner in moves]


OPENED = (("opened", "reported", DEALER), ("transition", "dealer_diagnosis", DEALER),
          ("transition", "manufacturer_review", MAKER), ("transition", "technician_dispatch", TECH),
          ("transition", "visit_scheduled", TECH))


def test_the_technician_who_reports_it_fixed_resolves_it_and_the_customers_confirmation_does_not():
    events = history(*OPENED, ("transition", "awaiting_confirmation", DEALER), ("transition", "closed", None))
    assert resolved_by(events, SERVICE_CASE) == TECH
    assert resolved_by(events[:-2], SERVICE_CASE) is None  # not yet resolved


def test_the_clock_resolves_nothing_a_silent_technician_is_not_credited():
    # a plugin's workflow might let the deadline push the case on to the customer's confirmation
    events = history(*OPENED, ("timeout", "awaiting_confirmation", DEALER), ("timeout", "closed", None))
    assert resolved_by(events, SERVICE_CASE) is None


def test_waiting_for_the_customers_answer_is_no_resolution_but_facts_and_returns_change_nothing():
    events = history(("opened", "reported", DEALER), ("transition", "dealer_diagnosis", DEALER),
                     ("transition", "waiting_for_customer", DEALER), ("fact", "waiting_for_customer", DEALER),
                     ("transition", "dealer_diagnosis", DEALER))
    assert resolved_by(events, SERVICE_CASE) is None
    done = events + history(("transition", "awaiting_confirmation", DEALER), ("credit", "awaiting_confirmation", DEALER))
    assert resolved_by(done, SERVICE_CASE) == DEALER
