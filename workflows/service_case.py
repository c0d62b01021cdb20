"""The service case, declared once: the washing machine run-around, made impossible.

A washing machine is delivered on Tuesday and washes badly. The dealer refers the
buyer to the manufacturer; sales advice hands him to customer service (hold queue,
hang-up, "nothing more to say"), which hands him to order intake: "a technician in three
weeks at the earliest, take it or leave it". In the end the dealer swaps the machine,
and the manufacturer has lost a customer the dealer kept.

In this flow the dealer stays the single point of contact, and at every moment one
party owns the case and has a deadline. A rejection or a silent manufacturer or
technician returns the case to the dealer (``dealer_decision``), never to the
customer; a technician may not push the visit past the service deadline unless the
customer agreed; and the dealer can always take the case over, replace, repair,
refund or close it by agreement. ``check_workflow`` proves all of this on load.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dealercrm.errors import ValidationError
from dealercrm.fields import CASE
from dealercrm.workflow.model import DeadlinePolicy, Guard, GuardContext, ServiceLevel, State, Transition, Workflow

#: One working day of the default 08:00-17:00 calendar.
DAY = timedelta(hours=9)
DEALER, SYSTEM = frozenset({"dealer"}), frozenset({"system"})
MANUFACTURER, TECHNICIAN = frozenset({"manufacturer"}), frozenset({"technician"})
FOR_CUSTOMER = frozenset({"dealer", "system"})  # the dealer, or an inbound reply, speaks for the customer
#: how far before now a visit may be scheduled (entered late, clocks a little apart); earlier is refused
PAST_VISIT = timedelta(days=1)


def _visit_within_deadline(ctx: GuardContext) -> str | None:
    visit_at = ctx.data.get("visit_at")
    if not isinstance(visit_at, datetime) or visit_at.tzinfo is None:
        # A string or naive time would compare wrongly (or not at all) with the deadline.
        raise ValidationError("visit_at", visit_at, "must be an aware date and time")
    if visit_at < ctx.now - PAST_VISIT:
        # 0001-01-01 is "within the deadline" too: a visit is scheduled to come, not backdated
        raise ValidationError("visit_at", visit_at.isoformat(), f"lies in the past (before "
                              f"{(ctx.now - PAST_VISIT):%Y-%m-%d %H:%M %Z}): schedule a visit still to come")
    if ctx.due_at is None or visit_at <= ctx.due_at or ctx.facts.get("customer_agreed_late_slot"):
        return None
    return (f"visit at {visit_at:%Y-%m-%d %H:%M %Z} is after the service deadline {ctx.due_at:%Y-%m-%d %H:%M %Z}: "
            "a later slot needs the customer's recorded agreement, otherwise decline the slot "
            "and the dealer decides")


VISIT_WITHIN_DEADLINE = Guard("visit_within_deadline", _visit_within_deadline,
                              "the visit lies inside the service deadline, or the customer agreed to a later slot")

_RMA = CASE["rma_number"]


def _rma_number_fits(ctx: GuardContext) -> str | None:
    # Checked before the transition, not when the plugin writes it on the case: a bad number is
    # the caller's ValidationError then, and nothing has moved.
    rma = ctx.data.get("rma_number")
    if rma is not None and (not isinstance(rma, (str, int)) or isinstance(rma, bool)
                            or len(str(rma).strip()) > (_RMA.max_length or 0)):
        raise ValidationError("rma_number", str(rma)[:40], f"must be text of at most {_RMA.max_length} characters")
    return None


#: The manufacturer's approval may carry the RMA number that authorises the old unit's return.
RMA_NUMBER_FITS = Guard("rma_number_fits", _rma_number_fits, "an RMA number, if given, is text of at most 64 characters")


def _open(name: str, owner: str, duration: timedelta, description: str, *, business: bool = True,
          waits_on_customer: bool = False) -> State:
    # The dealer may withdraw or take over a case anywhere: it is always the dealer's customer.
    return State(name, owner, DeadlinePolicy(duration, business), waits_on_customer=waits_on_customer,
                 description=description, also_allowed=DEALER)


def _t(trigger: str, source: str, dest: str, allowed: frozenset[str], *required: str, **kw: object) -> Transition:
    return Transition(trigger, source, dest, allowed, required=required, **kw)  # type: ignore[arg-type]


_STATES = (
    _open("reported", "dealer", timedelta(hours=4), "the customer told the dealer; nobody has looked yet"),
    _open("dealer_diagnosis", "dealer", DAY, "the dealer tries advice or its own workshop first"),
    _open("manufacturer_review", "manufacturer", 2 * DAY, "warranty decision: technician, replacement or no"),
    _open("technician_dispatch", "technician", 2 * DAY, "the technician books a visit inside the deadline"),
    _open("visit_scheduled", "technician", 5 * DAY, "the visit is booked; the technician reports back"),
    _open("waiting_for_parts", "manufacturer", 5 * DAY, "the manufacturer ships the parts"),
    _open("dealer_decision", "dealer", DAY, "the safety net: the dealer makes it right"),
    _open("replacement", "dealer", 3 * DAY, "the dealer delivers a new unit"),
    _open("dealer_repair", "dealer", 3 * DAY, "the dealer's own workshop repairs"),
    _open("waiting_for_customer", "customer", timedelta(days=7), "the dealer needs an answer or a photo from "
          "the customer; the dealer's own deadline is paused meanwhile", business=False, waits_on_customer=True),
    _open("awaiting_confirmation", "customer", timedelta(days=14), "the customer confirms it works",
          business=False, waits_on_customer=True),
    State("closed", None, None, final=True, description="fixed and confirmed, or closed by agreement"),
    State("refunded", None, None, final=True, description="the customer got the money back"),
    State("withdrawn", None, None, final=True, resolves=False,
          description="the customer no longer wants the case: it ended, but nobody made it right"),
)

#: Where the case sits with another party and the dealer may stop waiting.
_HANDED_OFF = ("manufacturer_review", "technician_dispatch", "visit_scheduled", "waiting_for_parts")

_TRANSITIONS = (
    _t("start_diagnosis", "reported", "dealer_diagnosis", DEALER),
    _t("escalate", "reported", "dealer_diagnosis", SYSTEM, timeout=True),
    _t("solve_by_advice", "dealer_diagnosis", "awaiting_confirmation", DEALER),
    _t("repair_at_dealer", "dealer_diagnosis", "dealer_repair", DEALER),
    _t("offer_replacement", "dealer_diagnosis", "replacement", DEALER),
    _t("forward_to_manufacturer", "dealer_diagnosis", "manufacturer_review", DEALER),
    _t("escalate", "dealer_diagnosis", "dealer_decision", SYSTEM, timeout=True),
    _t("ask_customer", "dealer_diagnosis", "waiting_for_customer", DEALER, "question"),
    _t("customer_replied", "waiting_for_customer", "dealer_diagnosis", FOR_CUSTOMER,
       description="back to the dealer with the time it had left when it asked"),
    _t("customer_silent", "waiting_for_customer", "dealer_decision", SYSTEM, timeout=True,
       description="no answer in a week: the dealer decides, e.g. closes by agreement"),
    _t("approve_visit", "manufacturer_review", "technician_dispatch", MANUFACTURER, guards=(RMA_NUMBER_FITS,)),
    _t("approve_replacement", "manufacturer_review", "replacement", MANUFACTURER, guards=(RMA_NUMBER_FITS,),
       description="with data rma_number: the return authorisation for the old unit"),
    _t("reject", "manufacturer_review", "dealer_decision", MANUFACTURER, "reason"),
    _t("escalate", "manufacturer_review", "dealer_decision", SYSTEM, timeout=True),
    _t("schedule_visit", "technician_dispatch", "visit_scheduled", TECHNICIAN, "visit_at",
       guards=(VISIT_WITHIN_DEADLINE,)),
    _t("decline_slot", "technician_dispatch", "dealer_decision", TECHNICIAN, "reason"),
    _t("escalate", "technician_dispatch", "dealer_decision", SYSTEM, timeout=True),
    _t("report_fixed", "visit_scheduled", "awaiting_confirmation", TECHNICIAN),
    _t("order_parts", "visit_scheduled", "waiting_for_parts", TECHNICIAN),
    _t("report_not_repairable", "visit_scheduled", "dealer_decision", TECHNICIAN, "reason"),
    _t("escalate", "visit_scheduled", "dealer_decision", SYSTEM, timeout=True),
    _t("parts_arrived", "waiting_for_parts", "technician_dispatch", MANUFACTURER),
    _t("escalate", "waiting_for_parts", "dealer_decision", SYSTEM, timeout=True),
    _t("offer_replacement", "dealer_decision", "replacement", DEALER),
    _t("refund", "dealer_decision", "refunded", frozenset({"dealer:manager"})),
    _t("retry_manufacturer", "dealer_decision", "manufacturer_review", DEALER),
    _t("repair_at_dealer", "dealer_decision", "dealer_repair", DEALER),
    _t("close_by_agreement", "dealer_decision", "closed", DEALER, "note"),
    _t("escalate", "dealer_decision", "dealer_decision", SYSTEM, timeout=True,
       description="overdue again: dealer management is alerted and a fresh deadline starts"),
    _t("deliver_replacement", "replacement", "awaiting_confirmation", DEALER, "new_serial"),
    _t("escalate", "replacement", "dealer_decision", SYSTEM, timeout=True),
    _t("report_fixed", "dealer_repair", "awaiting_confirmation", DEALER),
    _t("escalate", "dealer_repair", "dealer_decision", SYSTEM, timeout=True),
    _t("confirm", "awaiting_confirmation", "closed", FOR_CUSTOMER),
    _t("still_broken", "awaiting_confirmation", "dealer_diagnosis", FOR_CUSTOMER,
       description="reopens at the dealer, never back in a queue elsewhere"),
    _t("auto_close", "awaiting_confirmation", "closed", SYSTEM, timeout=True,
       description="fourteen days without complaint count as confirmed"),
    *(_t("take_over", source, "dealer_decision", DEALER, "reason",
         description="the dealer stops waiting and decides itself")
      for source in _HANDED_OFF),
    *(_t("withdraw", s.name, "withdrawn", DEALER, "reason") for s in _STATES if not s.final),
)

#: Deadlines that depend on the case, the first that applies wins (an installation changes them
#: or adds its own in [cases.service_levels.service_case], see dealercrm.workflow.levels).
#: Each names only the states it speeds up; the others keep the deadlines above.
_LEVELS = (
    ServiceLevel("urgent", {
        "reported": timedelta(hours=1), "dealer_diagnosis": timedelta(hours=4), "manufacturer_review": DAY,
        "technician_dispatch": DAY, "visit_scheduled": 3 * DAY, "waiting_for_parts": 3 * DAY,
        "dealer_decision": timedelta(hours=4), "replacement": 2 * DAY, "dealer_repair": 2 * DAY,
    }, priorities=("urgent",), description="the customer cannot wait: a dealer looks within the hour"),
    ServiceLevel("premium", {
        "reported": timedelta(hours=2), "dealer_diagnosis": timedelta(hours=4), "manufacturer_review": DAY,
        "technician_dispatch": DAY, "visit_scheduled": 3 * DAY, "waiting_for_parts": 3 * DAY,
        "dealer_decision": timedelta(hours=4), "replacement": 2 * DAY, "dealer_repair": 2 * DAY,
    }, contracts=("premium",), description="a premium service contract on the unit or the customer: "
                                          "the manufacturer has one working day"),
    ServiceLevel("essential", {
        "reported": timedelta(hours=2), "dealer_diagnosis": timedelta(hours=6), "manufacturer_review": DAY,
        "technician_dispatch": DAY, "dealer_decision": timedelta(hours=6),
    }, categories=("refrigerator", "freezer", "heating"),
        description="a unit a household cannot do without for long: food spoils, the flat gets cold"),
)

SERVICE_CASE = Workflow(
    name="service_case",
    initial="reported",
    states=_STATES,
    transitions=_TRANSITIONS,
    description="A customer's complaint, from report to a confirmed fix, replacement or refund.",
    levels=_LEVELS,
    # the guard visit_within_deadline lets the technician off its deadline on this fact: the
    # customer's agreement is recorded by the dealer, her single point of contact
    fact_keepers={"customer_agreed_late_slot": ("dealer",)},
)

WORKFLOWS = (SERVICE_CASE,)
