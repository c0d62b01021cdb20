"""The portal over HTTP, without a browser: sign-in, sessions, forms, refusals, the pages.

Each party's person works through the portal as they would in a browser (cookies, the
anti-forgery token of the last page); what each sees and may do must be exactly what the
services decide for them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal_world import EMAILS, signed_in, visitor

from dealercrm.db.models import AuditRecord
from dealercrm.db.sign_in_models import ActorPassword
from dealercrm.plugins.portal.routes import ROUTES

PASSWORD = "a long enough secret"


def audit_rows(crm) -> int:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(AuditRecord))


def alerts(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(r'role="alert"[^>]*>(.*?)</p>', html, re.S)]


def forwarded(world) -> int:
    case = world.open_case()
    world.to_manufacturer(case.id)
    return case.id


# -- forgery ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted({path for method, path, _, _ in ROUTES if method == "POST"}))
def test_every_form_posted_without_its_anti_forgery_token_is_refused_and_changes_nothing(app, world, path):
    case_id = forwarded(world)
    task = world.crm.tasks.create("call back", world.crm.clock.now(), by=world.service.id)
    person = signed_in(app, world.crm, world.service)
    person.open("/portal/queue")
    url = "/portal" + path.format(case_id=case_id, task_id=task.id, actor_id=world.service.id, token="x.1.y")
    before = audit_rows(world.crm)
    answer = person.post(url, data={"trigger": "take_over", "reason": "mine", "password": PASSWORD, "email": "a@b.c",
                                    "until": "2030-01-01T08:00", "active": "0"}, follow_redirects=False)
    assert answer.status_code == 403
    assert audit_rows(world.crm) == before
    forged = person.post(url, data={"csrf": "0" * 64, "trigger": "take_over", "reason": "mine"},
                         follow_redirects=False)
    assert forged.status_code == 403 and audit_rows(world.crm) == before


def test_one_persons_form_token_does_not_work_in_another_persons_session(app, world):
    case_id = forwarded(world)
    jonas, petra = signed_in(app, world.crm, world.service), signed_in(app, world.crm, world.manager)
    jonas.open(f"/portal/cases/{case_id}")
    petra.open(f"/portal/cases/{case_id}")
    answer = petra.post(f"/portal/cases/{case_id}/fire", data={"csrf": jonas.csrf, "trigger": "take_over",
                                                               "reason": "x", "version": "3"})
    assert answer.status_code == 403
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "manufacturer_review"


# -- seeing only one's own ---------------------------------------------------------------------------


def test_another_partys_case_is_a_404_like_a_case_that_does_not_exist(app, world):
    case = world.open_case()
    others = [signed_in(app, world.crm, a) for a in (world.other_dealer_service, world.warranty_desk,
                                                     world.fitter)]
    for person in others:  # the manufacturer and technician: the case was never sent to them
        assert person.open(f"/portal/cases/{case.id}").status_code == 404
    assert others[0].open("/portal/cases/999999").status_code == 404
    assert others[0].open(f"/portal/customers/{world.customer.id}").status_code == 404
    assert others[0].page.count("Erika") == 0
    world.to_manufacturer(case.id)
    assert others[1].open(f"/portal/cases/{case.id}").status_code == 200  # now it is the manufacturer's too


def test_the_case_page_shows_the_customer_as_the_service_returns_it_to_each_party(app, world):
    case_id = forwarded(world)
    dealer = signed_in(app, world.crm, world.service).open(f"/portal/cases/{case_id}").text
    maker = signed_in(app, world.crm, world.warranty_desk).open(f"/portal/cases/{case_id}").text
    assert "erika@example.org" in dealer
    assert "Erika Musterfrau" in maker and "erika@example.org" not in maker  # no contact data for the maker
    seen = world.crm.customers.get(world.customer.id, by=world.warranty_desk.id)
    assert "email" not in seen  # the page shows what the service gives, no more


# -- sessions -------------------------------------------------------------------------------------------


def test_signing_in_with_a_password_a_manager_set_starts_an_httponly_samesite_session(app, world):
    world.crm.sign_in.set_password(world.service.id, PASSWORD, by=world.manager.id)
    person = visitor(app)
    person.open("/portal/sign-in")
    answer = person.submit("/portal/sign-in", {"email": EMAILS["service"].upper(), "password": PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/queue"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("dcrm_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie and "Secure" not in cookie
    assert person.open("/portal/queue").status_code == 200 and "Jonas Weber" in person.page


def test_behind_https_the_session_cookie_is_secure(app, world):
    person = visitor(app)
    person.base_url = "https://testserver"
    token = world.crm.sign_in.issue_link(world.fitter.id, by=world.crm.system)
    person.open(f"https://testserver/portal/sign-in/link/{token}")
    answer = person.submit(f"https://testserver/portal/sign-in/link/{token}")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("dcrm_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_wrong_password_and_an_unknown_address_get_one_answer(app, world):
    world.crm.sign_in.set_password(world.service.id, PASSWORD, by=world.manager.id)
    person = visitor(app)
    answers = []
    for email, password in ((EMAILS["service"], "wrong password!"), ("nobody@nowhere.example", PASSWORD)):
        person.open("/portal/sign-in")
        answer = person.submit("/portal/sign-in", {"email": email, "password": password})
        assert answer.status_code == 401
        answers.append(alerts(answer.text))
    assert answers[0] == answers[1] and "dcrm_session" not in person.cookies


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(app, world):
    person = signed_in(app, world.crm, world.service)
    stolen = person.cookies.get("dcrm_session")
    person.open("/portal/queue")
    answer = person.submit("/portal/sign-out")
    assert answer.headers["location"] == "/portal/sign-in?m=signed_out"
    replay = visitor(app)
    replay.cookies.set("dcrm_session", stolen, path="/portal")
    assert replay.open("/portal/queue", follow_redirects=False).headers["location"].startswith("/portal/sign-in")


def test_a_session_ends_after_its_lifetime_and_after_idling(app, world, clock):
    person = signed_in(app, world.crm, world.service)
    clock.advance(minutes=119)
    assert person.open("/portal/queue", follow_redirects=False).status_code == 200  # idle 2 h: still in
    clock.advance(minutes=119)
    assert person.open("/portal/queue", follow_redirects=False).status_code == 200
    clock.advance(minutes=121)
    assert person.open("/portal/queue", follow_redirects=False).status_code == 303  # idled out
    busy = signed_in(app, world.crm, world.manager)
    for _ in range(8):
        clock.advance(minutes=61)
        answer = busy.open("/portal/queue", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/sign-in?m=session_over"


def test_a_deactivated_persons_session_stops_working_at_once(app, world):
    fitter = signed_in(app, world.crm, world.fitter)
    assert fitter.open("/portal/queue").status_code == 200
    world.crm.parties.set_actor_active(world.fitter.id, False, by=world.crm.system)
    answer = fitter.open("/portal/queue", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/sign-in")


def test_sign_in_attempts_are_throttled_per_client_address(app, world):
    person = visitor(app)
    statuses = []
    for i in range(11):
        person.open("/portal/sign-in")
        statuses.append(person.submit("/portal/sign-in", {"email": f"guess{i}@x.example", "password": "x" * 12}))
    assert [a.status_code for a in statuses] == [401] * 10 + [429]
    assert int(statuses[-1].headers["retry-after"]) > 0


def test_a_sign_in_link_goes_through_the_outbox_to_the_persons_address_and_works_once(app, world):
    person = visitor(app)
    person.open("/portal/sign-in")
    answer = person.submit("/portal/sign-in/link", {"email": EMAILS["warranty_desk"]})
    assert answer.status_code == 200
    person.open("/portal/sign-in")
    unknown = person.submit("/portal/sign-in/link", {"email": "nobody@nowhere.example"})
    assert re.sub(r"\s+", " ", unknown.text) == re.sub(r"\s+", " ", answer.text)  # says nothing of who exists
    sent = [m for m in _outbox(world.crm) if m.recipient == EMAILS["warranty_desk"]]
    assert len(sent) == 1 and sent[0].channel == "email" and sent[0].customer_id is None
    url = re.search(r"http://\S+", sent[0].body).group(0)
    path = url.removeprefix("http://127.0.0.1:8000")
    person.open(path)
    assert person.submit(path).status_code == 303
    assert person.open("/portal/queue").status_code == 200 and "Claire Dubois" in person.page
    again = visitor(app)
    again.open(path)
    assert again.submit(path).status_code == 401


def _outbox(crm):
    from dealercrm.db.outbox_models import OutboxMessage
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_a_password_is_set_by_a_manager_of_the_party_not_by_a_clerk(app, world):
    manager, clerk = signed_in(app, world.crm, world.manager), signed_in(app, world.crm, world.service)
    clerk.open("/portal/people")
    refused = clerk.submit(f"/portal/people/{world.manager.id}/password", {"password": PASSWORD})
    assert refused.status_code == 403 and alerts(refused.text)
    manager.open("/portal/people")
    assert manager.submit(f"/portal/people/{world.service.id}/password", {"password": PASSWORD}).status_code == 200
    with world.crm.read(world.crm.system) as uow:
        stored = uow.session.get(ActorPassword, world.service.id).password_hash
        trail = " ".join(str(r.changes) for r in uow.session.scalars(select(AuditRecord)))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored and stored not in trail
    assert world.crm.sign_in.with_password(EMAILS["service"], PASSWORD).actor_id == world.service.id
    other = signed_in(app, world.crm, world.other_dealer_service)
    other.open("/portal/people")
    # another dealer's person: not there for them, like an id never used (managed_person)
    assert other.submit(f"/portal/people/{world.service.id}/password", {"password": PASSWORD}).status_code == 404


# -- the queue and the case ---------------------------------------------------------------------------------


def test_the_queue_shows_the_partys_cases_most_urgent_first_in_its_zone_with_who_held_them(app, world, clock):
    first = world.open_case("first")
    clock.advance(hours=2)
    second = world.open_case("second")
    world.fire(second.id, "start_diagnosis", world.service)  # a later deadline
    clock.advance(hours=5)  # the first is overdue (4 h working time), the second is not
    page = signed_in(app, world.crm, world.service).open("/portal/queue").text
    assert page.index(f"/portal/cases/{first.id}") < page.index(f"/portal/cases/{second.id}")
    assert "(Europe/Berlin)" in page and ("MEZ" in page or "CET" in page)
    assert page.count('class="late"') == 1 and "Elektro Schmidt" in page
    overdue = signed_in(app, world.crm, world.service).open("/portal/queue?overdue=1").text
    assert f"/portal/cases/{first.id}" in overdue and f"/portal/cases/{second.id}" not in overdue
    by_state = signed_in(app, world.crm, world.service).open("/portal/queue?state=dealer_diagnosis").text
    assert f"/portal/cases/{second.id}" in by_state and f"/portal/cases/{first.id}" not in by_state
    maker = signed_in(app, world.crm, world.warranty_desk).open("/portal/queue").text
    assert "/portal/cases/" not in maker  # nothing was forwarded to it


def test_the_action_forms_come_from_the_workflows_data_requirements(app, world):
    case_id = forwarded(world)
    page = signed_in(app, world.crm, world.warranty_desk).open(f"/portal/cases/{case_id}").text
    assert set(re.findall(r'name="trigger" value="(\w+)"', page)) == {"approve_visit", "approve_replacement", "reject"}
    approve = page.split('id="action-approve_visit"')[1].split("</details>")[0]
    assert 'name="technician_party_id"' in approve and "Technik-Service Nord" in approve and "required" in approve
    reject = page.split('id="action-reject"')[1].split("</details>")[0]
    assert re.search(r'<textarea id="reject-reason" name="reason"[^>]*required', reject)
    world.fire(case_id, "approve_visit", world.warranty_desk, technician_party_id=world.technician.id)
    fitter_page = signed_in(app, world.crm, world.fitter).open(f"/portal/cases/{case_id}").text
    assert re.search(r'name="visit_at" type="datetime-local"[^>]*required', fitter_page)
    assert "Europe/Berlin" in fitter_page.split('id="action-schedule_visit"')[1].split("</details>")[0]


def test_a_guards_refusal_is_shown_in_words_and_the_entered_slot_kept(app, world):
    case_id = forwarded(world)
    world.fire(case_id, "approve_visit", world.warranty_desk, technician_party_id=world.technician.id)
    fitter = signed_in(app, world.crm, world.fitter)
    fitter.open(f"/portal/cases/{case_id}?lang=en")
    answer = fitter.submit(f"/portal/cases/{case_id}/fire", {"trigger": "schedule_visit", "version": "4",
                                                              "visit_at": "2026-03-20T10:00"})
    assert answer.status_code == 409
    said = " ".join(alerts(answer.text))
    assert "after the service deadline" in said and "(Europe/Berlin)" in said and "hand the case back" in said
    assert 'value="2026-03-20T10:00"' in answer.text
    assert world.crm.cases.get(case_id, by=world.crm.system).state == "technician_dispatch"
    booked = fitter.submit(f"/portal/cases/{case_id}/fire", {"trigger": "schedule_visit", "version": "4",
                                                              "visit_at": "2026-03-03T10:00"})
    assert booked.status_code == 303
    case = world.crm.cases.get(case_id, by=world.crm.system)
    assert case.state == "visit_scheduled"
    event = world.crm.cases.history(case_id, by=world.crm.system)[-1]
    assert event.data["visit_at"] == "2026-03-03T10:00:00+01:00"  # read in the viewer's zone


def test_a_version_conflict_says_someone_else_acted_first_with_a_reload_link(app, world):
    case = world.open_case()
    jonas, petra = signed_in(app, world.crm, world.service), signed_in(app, world.crm, world.manager)
    jonas.open(f"/portal/cases/{case.id}")
    petra.open(f"/portal/cases/{case.id}")
    assert petra.submit(f"/portal/cases/{case.id}/fire", {"trigger": "start_diagnosis", "version": "1"}).status_code == 303
    answer = jonas.submit(f"/portal/cases/{case.id}/fire", {"trigger": "start_diagnosis", "version": "1"})
    assert answer.status_code == 409
    assert f'<a href="/portal/cases/{case.id}">' in answer.text.split('role="alert"')[1].split("</p>")[0]


def test_the_workflow_is_drawn_on_the_server_with_the_current_state_highlighted(app, world):
    case_id = forwarded(world)
    page = signed_in(app, world.crm, world.warranty_desk).open(f"/portal/cases/{case_id}?lang=en").text
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in svg and "manufacturer's review" in svg
    assert svg.count('stroke-width="3"') == 1  # one box drawn as the current state
    assert re.search(r"aria-current=\"step\" class=\"current\">\s*<strong>manufacturer(&#39;|')s review", page)


# -- my day and the customer -------------------------------------------------------------------------------


def test_my_day_lists_tasks_due_today_with_done_and_snooze(app, world, clock):
    crm, now = world.crm, clock.now()
    today = crm.tasks.create("call Erika back", now + timedelta(hours=3), customer_id=world.customer.id,
                             by=world.service.id)
    late = crm.tasks.create("send the invoice", now - timedelta(days=1), by=world.service.id)
    later = crm.tasks.create("next month", now + timedelta(days=30), by=world.service.id)
    colleague = crm.tasks.create("Petra's own", now, assigned_actor_id=world.manager.id, by=world.service.id)
    person = signed_in(app, crm, world.service)
    page = person.open("/portal/my-day").text
    assert "call Erika back" in page and "send the invoice" in page
    assert "next month" not in page and "Petra&#39;s own" not in page and "Petra's own" not in page
    assert person.submit(f"/portal/tasks/{late.id}/done").status_code == 303
    person.open("/portal/my-day")
    until = re.search(rf'id="snooze-{today.id}" name="until">\s*<option value="([^"]+)"', person.page).group(1)
    assert person.submit(f"/portal/tasks/{today.id}/snooze", {"until": until}).status_code == 303
    assert crm.tasks.get(late.id, by=world.service.id).status == "done"
    assert crm.tasks.get(today.id, by=world.service.id).due_at > now + timedelta(hours=12)
    page = person.open("/portal/my-day").text
    assert "call Erika back" not in page and "send the invoice" not in page
    assert later.id and colleague.id


def test_the_customer_page_is_the_dealers_whole_file_and_a_case_partys_minimum(app, world):
    case_id = forwarded(world)
    world.crm.interests.note(world.customer.id, "skiing", by=world.service.id)
    dealer = signed_in(app, world.crm, world.service).open(f"/portal/customers/{world.customer.id}").text
    assert "skiing" in dealer and "Brioche Lavande 7 kg" in dealer and "erika@example.org" in dealer
    maker = signed_in(app, world.crm, world.warranty_desk).open(f"/portal/customers/{world.customer.id}").text
    assert "skiing" not in maker and "erika@example.org" not in maker and f"/portal/cases/{case_id}" in maker


# -- language, headers, nothing from elsewhere ---------------------------------------------------------------


def test_pages_speak_german_and_english(app, world):
    person = visitor(app)
    assert "Anmelden" in person.open("/portal/sign-in", headers={"accept-language": "de-DE,de;q=0.9"}).text
    assert "Sign in" in person.open("/portal/sign-in?lang=en").text
    assert '<html lang="en">' in person.open("/portal/sign-in").text  # the choice is kept in a cookie
    assert '<html lang="de">' in person.open("/portal/sign-in?lang=de").text


def test_pages_load_nothing_from_another_host_and_keep_links_out_of_referers(app, world):
    case_id = forwarded(world)
    person = signed_in(app, world.crm, world.service)
    for path in ("/portal/queue", f"/portal/cases/{case_id}", "/portal/my-day", "/portal/sign-in"):
        answer = person.open(path)
        assert not re.search(r'(src|href)="(https?:)?//', answer.text), path
        assert "<script" not in answer.text
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
    css = person.get("/portal/static/portal.css")
    assert css.status_code == 200 and "url(" not in css.text and "@import" not in css.text
    assert person.get("/portal/static/..%2Fweb.py").status_code == 404


def test_the_case_page_says_by_when_the_case_is_resolved_at_the_latest_and_on_which_level(app, world):
    case_id = forwarded(world)
    world.crm.cases.set_priority(case_id, "urgent", by=world.service.id)
    promised = world.crm.cases.promise(case_id, by=world.service.id).resolved_by
    page = signed_in(app, world.crm, world.service).open(f"/portal/cases/{case_id}?lang=en").text
    shown = re.search(r'<dd id="promise">(.*?)</dd>', page, re.S).group(1)
    local = promised.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{local:%H:%M} {local.tzname()} (Europe/Berlin)" in shown and "(service level urgent)" in shown
