"""Who may name the parties of a case, and who speaks for the customer.

A case's manufacturer decided the warranty and pays for it; its technician was sent by the
manufacturer. Neither may be swapped by a party that is not entitled to choose: a
technician cannot hand the case (and the customer's name and address) to a manufacturer of
its choosing, nor stretch its own deadlines by opening half an hour a week. And only the customer's own answer through their status link reads as
theirs on their page: no party can make its step look like the customer's, and the
technician cannot certify the customer's agreement to its own late slot.
"""

from __future__ import annotations

from datetime import date, timedelta

from api_world import assigned


def test_a_technician_cannot_hand_the_case_to_a_manufacturer_of_its_choosing(api):
    """**Medium.** Firing ``order_parts`` (visit_scheduled -> waiting_for_parts), the
    technician may name ``manufacturer_party_id`` in the data, and ``case_rules.owner_party``
    accepts any manufacturer: the case's manufacturer *column* is overwritten. The
    manufacturer that made the warranty decision (and pays for it) loses the case at once
    (404), and an unrelated manufacturer gets it, with the customer's name, postcode and
    city, the unit and the whole history.

    Reproduce: as the assigned technician, ``POST /cases/{id}/transitions {"trigger":
    "order_parts", "data": {"manufacturer_party_id": <Frostkalt>}}``; Brioche's
    ``GET /cases/{id}`` is 404, Frostkalt's is 200.

    Suggested fix: a party column already set on the case (the manufacturer from the asset)
    is changed only by the case's dealer or the system; the data of another party's
    transition may fill an empty column (the manufacturer naming the technician) but not
    overwrite one."""
    world = api.world
    case_id = assigned(world)
    visit = (world.crm.clock.now() + timedelta(hours=5)).isoformat()
    fitter = api.as_("fitter")
    assert api.post(f"/cases/{case_id}/transitions", headers=fitter,
                    json={"trigger": "schedule_visit", "data": {"visit_at": visit}}).status_code == 200

    api.post(f"/cases/{case_id}/transitions", headers=fitter,
             json={"trigger": "order_parts", "data": {"manufacturer_party_id": world.other_manufacturer.id}})

    assert api.get(f"/cases/{case_id}", headers=api.as_("other_maker")).status_code == 404, \
        "an unrelated manufacturer was handed the case and the customer's data"
    assert api.get(f"/cases/{case_id}", headers=api.as_("warranty")).status_code == 200, \
        "the manufacturer that decided the warranty lost its case"


def test_no_party_can_make_its_own_step_look_like_the_customers_answer(api):
    """**Medium.** The customer's status page (``case_links.status``) marks a history step
    as the customer's own ("you") when its data holds ``"via": "status link"`` — a key any
    party may put into the data of any transition it fires (``FireIn.data`` is free). The
    dealer closes the case with ``confirm`` and ``{"via": "status link"}``: the customer's
    page says *they* confirmed the repair, and the history every party reads over the API
    carries the same claim (the portal's case page even hides the key). Only the audit row
    still names the dealer's clerk.

    Reproduce: ``POST /cases/{id}/transitions {"trigger": "confirm", "data": {"via":
    "status link"}}`` as the dealer; ``crm.case_links.status(token).history[-1].by`` is
    ``"customer"``.

    Suggested fix: refuse reserved keys (``via``) in transition data from callers, and/or
    decide "the customer did it" from the operation (``case_links.respond``) or a column the
    caller cannot set, not from caller-supplied data."""
    world = api.world
    case = world.open_case()
    token = world.crm.case_links.issue(case.id, by=world.service.id)
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "solve_by_advice", world.service)

    api.post(f"/cases/{case.id}/transitions", headers=api.as_("service"),
             json={"trigger": "confirm", "data": {"via": "status link"}})

    last = world.crm.case_links.status(token).history[-1]
    assert last.trigger != "confirm" or last.by == "dealer", \
        "the customer's page says the customer confirmed what the dealer fired"


def test_a_technician_naming_the_manufacturer_the_case_already_has_changes_nothing_and_goes_ahead(api):
    world = api.world
    case_id = assigned(world)
    visit = (world.crm.clock.now() + timedelta(hours=5)).isoformat()
    assert api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                    json={"trigger": "schedule_visit", "data": {"visit_at": visit}}).status_code == 200
    same = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                    json={"trigger": "order_parts", "data": {"manufacturer_party_id": world.manufacturer.id}})
    assert same.status_code == 200, same.text  # naming the party the case has is no change


def test_a_refused_hand_over_names_who_may_do_it_and_changes_nothing(api):
    world = api.world
    case_id = assigned(world)
    visit = (world.crm.clock.now() + timedelta(hours=5)).isoformat()
    api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
             json={"trigger": "schedule_visit", "data": {"visit_at": visit}})
    before = world.crm.cases.get(case_id, by=world.crm.system)
    answer = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                      json={"trigger": "order_parts", "data": {"manufacturer_party_id": world.other_manufacturer.id}})
    assert answer.status_code == 403, answer.text
    assert "only by the case's dealer" in answer.json()["detail"]
    after = world.crm.cases.get(case_id, by=world.crm.system)
    assert (after.state, after.version, after.manufacturer_party_id) == (before.state, before.version,
                                                                          before.manufacturer_party_id)


def test_via_is_refused_in_a_partys_transition_data_naming_the_key(api):
    world = api.world
    case = world.open_case()
    answer = api.post(f"/cases/{case.id}/transitions", headers=api.as_("service"),
                      json={"trigger": "start_diagnosis", "data": {"via": "status link"}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "via"
    assert world.crm.cases.get(case.id, by=world.crm.system).state == "reported"


def test_the_customers_own_answer_through_the_link_still_reads_as_theirs(api):
    world = api.world
    case = world.open_case()
    token = world.crm.case_links.issue(case.id, by=world.service.id)
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "solve_by_advice", world.service)
    world.crm.case_links.respond(token, "confirm", note="works again")
    assert world.crm.case_links.status(token).history[-1].by == "customer"


def test_a_party_cannot_stretch_its_own_deadlines_by_shrinking_its_opening_hours(api):
    """**Medium.** ``PUT /parties/{id}/calendar`` lets a party's manager set its own opening
    hours with no lower bound (and any number of closed days). Brioche's manager sets
    "Mondays 09:00-09:30": the manufacturer's review, two working days, now ends nine
    months later. Its cases never escalate back to the dealer (the timeout that keeps
    "nobody's silence keeps a case waiting forever"), the customer is told to expect an
    answer in November, and the "deadlines missed" report never counts Brioche again. With
    "09:00-09:01" the dealer can no longer forward a case to Brioche at all (422: no working
    time within 3660 days).

    Reproduce: as a manufacturer's manager, ``PUT /parties/<self>/calendar {"hours": {"mon":
    "09:00-09:30"}}``; forward a case; its ``due_at`` is 2026-11-23.

    Suggested fix: a floor on working time (e.g. some hours on several days a week) and a cap
    on closed days; or a wall-clock ceiling on every deadline (e.g. the duration counted in
    the default calendar, times a factor); or calendars of case parties set by the operator
    only."""
    world = api.world
    boss = world.crm.parties.add_actor(world.manufacturer.id, "Bernard Brioche", "manager", by=world.crm.system)
    api.keys["maker_manager"] = world.crm.api_keys.create(boss.party_id, actor_id=boss.id, by=world.crm.system).key
    refused = api.put(f"/parties/{world.manufacturer.id}/calendar", headers=api.as_("maker_manager"),
                      json={"hours": {"mon": "09:00-09:30"}})
    assert refused.status_code == 422 and refused.json()["field"] == "hours", refused.text
    assert "at least 20" in refused.json()["detail"]

    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    forwarded = api.post(f"/cases/{case.id}/transitions", headers=api.as_("service"),
                         json={"trigger": "forward_to_manufacturer"})
    assert forwarded.status_code == 200, forwarded.text
    due = world.crm.cases.get(case.id, by=world.crm.system).due_at
    assert due - world.crm.clock.now() <= timedelta(days=30), \
        f"the manufacturer gave itself until {due:%Y-%m-%d} for a two-working-day review"


def test_a_party_cannot_close_its_way_out_of_its_deadlines_either(api):
    world = api.world
    boss = world.crm.parties.add_actor(world.manufacturer.id, "Bernard Brioche", "manager", by=world.crm.system)
    api.keys["maker_manager"] = world.crm.api_keys.create(boss.party_id, actor_id=boss.id, by=world.crm.system).key
    every_day = [(date(2026, 3, 1) + timedelta(days=n)).isoformat() for n in range(200)]
    refused = api.put(f"/parties/{world.manufacturer.id}/calendar", headers=api.as_("maker_manager"),
                      json={"closed": every_day})
    assert refused.status_code == 422 and refused.json()["field"] == "closed", refused.text
    holidays = api.put(f"/parties/{world.manufacturer.id}/calendar", headers=api.as_("maker_manager"),
                       json={"hours": {"mon-fri": "08:00-12:00"}, "closed": every_day[:30]})
    assert holidays.status_code == 200, holidays.text  # a four-hour day and a month's works holiday: fine


def test_the_technician_cannot_record_the_customers_agreement_to_its_own_late_slot(api):
    """The guard ``visit_within_deadline``
    lets a visit after the service deadline only with the fact ``customer_agreed_late_slot``
    — "a later slot needs the customer's agreement or goes back to the dealer" (DOMAIN.md).
    But the technician whose deadline it is may record that fact itself (``POST
    /cases/{id}/facts`` is open to every party of the case), and then book the late slot:
    the guard is self-certified by the party it constrains, and the dealer — the customer's
    single point of contact — is never asked.

    Reproduce: as the fitter, a visit 20 days after the deadline is refused (409); ``POST
    /cases/{id}/facts {"key": "customer_agreed_late_slot", "value": true}`` succeeds; the
    same visit is then booked.

    Suggested fix: facts a guard consults name who may record them (the dealer, the system,
    the customer through their link), or the customer's own answer on the status page."""
    world = api.world
    case_id = assigned(world)
    fitter = api.as_("fitter")
    late = (world.crm.cases.get(case_id, by=world.crm.system).due_at + timedelta(days=20)).isoformat()
    refused = api.post(f"/cases/{case_id}/transitions", headers=fitter,
                       json={"trigger": "schedule_visit", "data": {"visit_at": late}})
    assert refused.status_code == 409

    certified = api.post(f"/cases/{case_id}/facts", headers=fitter,
                         json={"key": "customer_agreed_late_slot", "value": True})
    assert certified.status_code == 403 and "recorded by the case's dealer" in certified.json()["detail"]
    api.post(f"/cases/{case_id}/transitions", headers=fitter,
             json={"trigger": "schedule_visit", "data": {"visit_at": late}})

    assert world.crm.cases.get(case_id, by=world.crm.system).state == "technician_dispatch", \
        "the technician certified the customer's agreement itself and booked the late slot"


def test_the_dealer_records_the_customers_agreement_and_the_technician_books_the_late_slot(api):
    world = api.world
    case_id = assigned(world)
    late = (world.crm.cases.get(case_id, by=world.crm.system).due_at + timedelta(days=20)).isoformat()
    agreed = api.post(f"/cases/{case_id}/facts", headers=api.as_("service"),
                      json={"key": "customer_agreed_late_slot", "value": True, "note": "Erika on the phone"})
    assert agreed.status_code == 200, agreed.text
    booked = api.post(f"/cases/{case_id}/transitions", headers=api.as_("fitter"),
                      json={"trigger": "schedule_visit", "data": {"visit_at": late}})
    assert booked.status_code == 200, booked.text
