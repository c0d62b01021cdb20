"""The portal in a real browser: Chromium, driven by Playwright, against a real server.

The washing-machine story with three people of three parties, each in a browser context
of their own, and the customer with the link from their notice; the refusals a browser
meets; keyboard use; axe-core on every kind of page. Screenshots of each step are kept in
``test-artifacts/portal/<test>/``.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from portal_world import EMAILS

from dealercrm.db.outbox_models import OutboxMessage

pytestmark = pytest.mark.browser
PASSWORD = "washes-badly-since-tuesday"
LATE_SLOT, GOOD_SLOT = "2026-03-06T10:00", "2026-03-03T14:00"  # the deadline is Wed 4 Mar, 10:00 in Berlin


def outbox(crm, **where) -> list[OutboxMessage]:
    """What the outbox holds once the dispatcher queued the hand-offs' notices (its first step)."""
    crm.outbox.queue_notices()
    with crm.read(crm.system) as uow:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list(uow.session.scalars(query))


def link_of(message: OutboxMessage) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def act(page, trigger: str, **fields: str) -> None:
    """Open an action's form on the case page, fill it and send it."""
    form = page.locator(f"#action-{trigger}")
    if form.get_attribute("open") is None:
        form.locator("summary").click()
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()


def shoot(page, folder, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


@pytest.fixture
def people(browser, live):
    """One browser context per person, all speaking English."""
    made = []

    def context(**options):
        made.append(browser.new_context(base_url=live.url, locale="en-GB", **options))
        return made[-1]

    yield context
    for c in made:
        c.close()


def test_the_washing_machine_story_through_the_portal(live, people, artifacts):
    world, crm = live.world, live.world.crm
    case = world.open_case("washes badly: the laundry comes out grey")
    crm.sign_in.set_password(world.service.id, PASSWORD, by=world.manager.id)

    # the dealer signs in with the password the manager set, and forwards the case
    dealer = people().new_page()
    dealer.goto("/portal/sign-in?lang=en")
    dealer.get_by_label("E-mail address", exact=True).first.fill(EMAILS["service"])
    dealer.get_by_label("Password", exact=True).fill(PASSWORD)
    dealer.get_by_role("button", name="Sign in").click()
    assert dealer.get_by_role("heading", level=1).inner_text() == "My queue: Elektro Schmidt"
    shoot(dealer, artifacts, "01-dealer-queue")
    dealer.get_by_role("link", name=f"Case {case.id}").click()
    act(dealer, "start_diagnosis")
    act(dealer, "forward_to_manufacturer", note="programme and dosage checked: not a user error")
    assert "The case is now with Brioche Hausgeräte" in dealer.get_by_role("status").inner_text()
    shoot(dealer, artifacts, "02-dealer-forwarded")

    # the manufacturer's desk asks for a sign-in link by e-mail, opens it, and approves a visit
    maker = people().new_page()
    maker.goto("/portal/sign-in?lang=en")
    maker.locator("#link-email").fill(EMAILS["warranty_desk"])
    maker.get_by_role("button", name="Send link").click()
    mail = outbox(crm, recipient=EMAILS["warranty_desk"])[-1]
    maker.goto(link_of(mail))
    maker.get_by_role("button", name="Sign in").click()
    maker.get_by_role("link", name=f"Case {case.id}").click()
    assert "erika@example.org" not in maker.content()  # no contact data for the manufacturer
    act(maker, "approve_visit", technician_party_id="Technik-Service Nord")
    assert "The case is now with Technik-Service Nord" in maker.get_by_role("status").inner_text()
    shoot(maker, artifacts, "03-manufacturer-approved")

    # the technician, signed in through a link the operator printed, tries a slot after the deadline
    fitter = people().new_page()
    fitter.goto(f"/portal/sign-in/link/{crm.sign_in.issue_link(world.fitter.id, by=crm.system)}")
    fitter.get_by_role("button", name="Sign in").click()
    fitter.get_by_role("link", name=f"Case {case.id}").click()
    act(fitter, "schedule_visit", visit_at=LATE_SLOT)
    refusal = fitter.get_by_role("alert").inner_text()
    assert "after the service deadline" in refusal and "Wed 4 Mar 2026, 10:00 CET (Europe/Berlin)" in refusal
    shoot(fitter, artifacts, "04-technician-slot-refused")
    act(fitter, "schedule_visit", visit_at=GOOD_SLOT)
    assert "Done: Book a visit" in fitter.get_by_role("status").inner_text()
    act(fitter, "report_fixed", note="detergent drawer blocked; cleaned, test wash fine")
    shoot(fitter, artifacts, "05-technician-fixed")

    # the customer follows the link in the last notice, confirms, and answers the survey
    notice = outbox(crm, case_id=case.id, origin="case_notifications")[-1]
    customer = people().new_page()
    customer.goto(link_of(notice))
    assert "You: we are waiting for your answer" in customer.locator("#who-now").inner_text()
    shoot(customer, artifacts, "06-customer-status")
    customer.get_by_role("button", name="It works").click()
    assert "your answer has arrived" in customer.get_by_role("status").inner_text()
    customer.get_by_role("group", name=re.compile("Satisfaction")).get_by_label("5", exact=True).check()
    customer.get_by_role("group", name=re.compile("recommend")).get_by_label("9", exact=True).check()
    customer.get_by_role("button", name="Send").click()
    assert "Thank you for your answer!" in customer.get_by_role("status").inner_text()
    shoot(customer, artifacts, "07-customer-survey-answered")

    closed = crm.cases.get(case.id, by=crm.system)
    assert closed.state == "closed"
    assert [(a.csat, a.nps) for a in crm.surveys.of_case(case.id, by=crm.system)] == [(5, 9)]
    triggers = [e.trigger for e in crm.cases.history(case.id, by=crm.system)]
    assert triggers == [None, "start_diagnosis", "forward_to_manufacturer", "approve_visit", "schedule_visit",
                        "report_fixed", "confirm"]


def test_refusals_a_browser_meets(live, people, clock, artifacts):
    world, crm = live.world, live.world.crm
    unsent, case = world.open_case("not forwarded yet"), world.open_case()
    world.to_manufacturer(case.id)
    maker = people().new_page()
    maker.goto(f"/portal/sign-in/link/{crm.sign_in.issue_link(world.warranty_desk.id, by=crm.system)}")
    maker.get_by_role("button", name="Sign in").click()

    # another party's case: the same 404 as a case that does not exist
    answer = maker.goto(f"/portal/cases/{unsent.id}")
    assert answer.status == 404 and "Not found." in maker.content()
    shoot(maker, artifacts, "01-other-partys-case-404")

    # a form posted without its anti-forgery token (the session cookie goes along)
    forged = maker.context.request.post(f"/portal/cases/{case.id}/fire", form={"trigger": "reject", "reason": "x"})
    assert forged.status == 403
    assert crm.cases.get(case.id, by=crm.system).state == "manufacturer_review"

    # a version conflict: the dealer acted in another tab first
    dealer_context = people()
    dealer_context.new_page().goto(f"/portal/sign-in/link/{crm.sign_in.issue_link(world.service.id, by=crm.system)}")
    dealer_context.pages[0].get_by_role("button", name="Sign in").click()
    first, second = dealer_context.pages[0], dealer_context.new_page()
    first.goto(f"/portal/cases/{case.id}")
    second.goto(f"/portal/cases/{case.id}")
    act(first, "take_over", reason="the customer is waiting")
    act(second, "take_over", reason="me too")
    assert "Someone else acted first" in second.get_by_role("alert").inner_text()
    shoot(second, artifacts, "02-version-conflict")
    second.get_by_role("link", name="Reload the page").click()
    assert "dealer decides" in second.content()

    # a revoked link, and an expired one
    customer = people().new_page()
    link = link_of(outbox(crm, case_id=case.id, origin="case_notifications")[-1])
    assert customer.goto(link).status == 200
    first.goto(f"/portal/cases/{case.id}")
    first.get_by_role("button", name="Revoke the status links").click()
    assert customer.goto(link).status == 410 and "This link was withdrawn." in customer.content()
    shoot(customer, artifacts, "03-revoked-link")
    other = world.open_case("a second machine")
    world.to_manufacturer(other.id)
    later = link_of(outbox(crm, case_id=other.id, origin="case_notifications")[-1])
    assert customer.goto(later).status == 200
    clock.advance(days=31)
    assert customer.goto(later).status == 410 and "This link has expired." in customer.content()

    # a deactivated person's session stops working
    manager = people().new_page()
    manager.goto(f"/portal/sign-in/link/{crm.sign_in.issue_link(world.manager.id, by=crm.system)}")
    manager.get_by_role("button", name="Sign in").click()
    first.goto("/portal/queue")
    manager.goto("/portal/people")
    manager.get_by_role("button", name=re.compile(r"Deactivate\W+Jonas Weber")).click()
    assert "Saved." in manager.get_by_role("status").inner_text()
    first.goto("/portal/queue")
    assert first.url.endswith("/portal/sign-in?m=session_over")
    shoot(first, artifacts, "04-deactivated-signed-out")


def test_the_portal_works_with_the_keyboard_alone(live, people):
    world, crm = live.world, live.world.crm
    case = world.open_case()
    crm.sign_in.set_password(world.service.id, PASSWORD, by=world.manager.id)
    page = people().new_page()
    page.goto("/portal/sign-in?lang=en")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    def tab_to(selector: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(f"document.activeElement === document.querySelector({json.dumps(selector)})"):
                return
        raise AssertionError(f"{selector} cannot be reached with Tab")

    tab_to("#email")
    page.keyboard.type(EMAILS["service"])
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/queue")
    tab_to(f"a[href='/portal/cases/{case.id}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/portal/cases/{case.id}")
    tab_to("#action-start_diagnosis summary")
    page.keyboard.press("Enter")  # opens the form
    tab_to("#action-start_diagnosis button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url("**done=start_diagnosis")
    assert crm.cases.get(case.id, by=crm.system).state == "dealer_diagnosis"


def test_no_serious_or_critical_accessibility_violations(live, people, axe_js, artifacts, clock):
    world, crm = live.world, live.world.crm
    case = world.open_case()
    world.to_technician(case.id)
    crm.tasks.create("call Erika back about the visit", clock.now(), customer_id=world.customer.id,
                     case_id=case.id, by=world.service.id)
    link = link_of(outbox(crm, case_id=case.id, origin="case_notifications")[-1])
    pages = {}
    for who, actor in (("dealer", world.service), ("technician", world.fitter)):
        page = people(bypass_csp=True).new_page()  # axe is injected as a script, which the CSP forbids
        page.goto(f"/portal/sign-in/link/{crm.sign_in.issue_link(actor.id, by=crm.system)}")
        page.get_by_role("button", name="Sign in").click()
        pages[who] = page
    customer = people(bypass_csp=True).new_page()
    visits = [("sign-in", customer, "/portal/sign-in"), ("queue", pages["technician"], "/portal/queue"),
              ("case-technician", pages["technician"], f"/portal/cases/{case.id}"),
              ("case-dealer", pages["dealer"], f"/portal/cases/{case.id}"),
              ("my-day", pages["dealer"], "/portal/my-day"),
              ("customer", pages["dealer"], f"/portal/customers/{world.customer.id}"),
              ("people", pages["dealer"], "/portal/people"), ("status", customer, link)]
    found = {}
    for name, page, url in visits:
        for language in ("en", "de"):
            page.goto(f"{url}{'&' if '?' in url else '?'}lang={language}")
            page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")  # the forms too
            page.add_script_tag(path=str(axe_js))
            result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
                   if v["impact"] in ("serious", "critical")]
            found[f"{name}-{language}"] = bad
            (artifacts / f"axe-{name}-{language}.json").write_text(json.dumps(result["violations"], indent=1))
        shoot(page, artifacts, f"axe-{name}")
    assert {k: v for k, v in found.items() if v} == {}
