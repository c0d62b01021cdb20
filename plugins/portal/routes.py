"""Every page of the portal: (method, path under /portal, page, open without signing in)."""

from __future__ import annotations

from . import customer, pages

#: (method, path, page, anonymous)
ROUTES = [
    ("GET", "", pages.home, True),
    ("GET", "/", pages.home, True),
    ("GET", "/sign-in", pages.show_sign_in, True),
    ("POST", "/sign-in", pages.password_sign_in, True),
    ("POST", "/sign-in/link", pages.send_link, True),
    ("GET", "/sign-in/link/{token}", pages.confirm_link, True),
    ("POST", "/sign-in/link/{token}", pages.redeem_link, True),
    ("POST", "/sign-out", pages.sign_out, False),
    ("GET", "/queue", pages.queue, False),
    ("GET", "/cases/{case_id}", pages.case_page, False),
    ("POST", "/cases/{case_id}/fire", pages.fire, False),
    ("POST", "/cases/{case_id}/status-link", pages.issue_status_link, False),
    ("POST", "/cases/{case_id}/status-link/revoke", pages.revoke_status_link, False),
    ("GET", "/my-day", pages.my_day, False),
    ("POST", "/tasks/{task_id}/done", pages.task_done, False),
    ("POST", "/tasks/{task_id}/snooze", pages.task_snooze, False),
    ("GET", "/customers/{customer_id}", pages.customer_page, False),
    ("GET", "/people", pages.people, False),
    ("POST", "/people/{actor_id}/password", pages.set_password, False),
    ("POST", "/people/{actor_id}/active", pages.set_active, False),
    ("GET", "/status/{token}", customer.status_page, True),
    ("POST", "/status/{token}/respond", customer.respond, True),
    ("POST", "/status/{token}/survey", customer.survey, True),
]
