"""The web portal: a page for every party, and one for the customer (built-in plugin ``portal``).

Served by ``dealercrm serve`` under ``/portal`` (through ``dealercrm_register_routes``):
server-rendered HTML (Jinja2), no script, nothing loaded from another host.

* **Sign-in** for people: a password a manager of their party set (``/portal/people``, or
  ``dealercrm portal password``), or a one-time link to the e-mail on their actor record,
  sent through the outbox (``[plugins.channel_email]`` must be configured). The operator
  prints links with ``dealercrm portal links``. Sessions are the core's (``crm.sign_in``):
  an HttpOnly, SameSite=Lax cookie, Secure over https; they end at sign-out, after
  ``session_hours``, after ``idle_minutes`` without use, or when the person is deactivated.
  Every form carries an anti-forgery token; sign-in attempts are throttled per client
  address and per e-mail address.
* **My queue** (``/portal/queue``): the cases the person's party holds, most urgent first,
  due times in the party's zone with the zone's name, who held each case for how long.
* **The case** (``/portal/cases/<id>``): the customer as the service returns them for this
  party, the history, the workflow drawn with the current state, and a form per action the
  person may take now, made from the workflow's data requirements; a guard's refusal in
  words, a version conflict with a reload link.
* **My day** (``/portal/my-day``): tasks due today or overdue with done and snooze, the
  party's cases due today, customers at risk; the customer page (``/portal/customers/<id>``).
* **The customer's status page** (``/portal/status/<signed link>``): the link is in every
  hand-off notice (``case_notifications``); see ``dealercrm.services.case_links``.

German and English (``?lang=de|en``, then the browser's wish, then ``[dealercrm] language``).

Settings, ``[plugins.portal]``::

    public_url = "https://crm.example.org"   # where links in e-mails point (default http://127.0.0.1:8000)
    time_zone = "Europe/Berlin"              # for parties without a zone of their own
    session_hours = 8
    idle_minutes = 120
    link_minutes = 15                        # one-time sign-in links
    status_link_days = 30                    # the customer's link, from each notice
    secure_cookies = "auto"                  # auto (when served over https), always, never
    sign_in_attempts = 10                    # per client address and per e-mail address ...
    sign_in_window_seconds = 300             # ... in this window (per server process)
"""

from __future__ import annotations

import logging
import weakref

from dealercrm import DealerCrmError, hookimpl

from .security import PATH, PortalSettings

log = logging.getLogger("dealercrm.portal")
_SETTINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def settings(crm) -> PortalSettings:
    found = _SETTINGS.get(crm)
    if found is None:
        found = _SETTINGS[crm] = PortalSettings.of(crm)
    return found


def status_link(uow, case_id: int) -> str | None:
    """The customer's link to ``case_id``, made inside ``uow`` (a hand-off's): for the notices.

    A mistake in ``[plugins.portal]`` stops ``dealercrm serve`` at start-up; here it is logged
    and the notice goes without a link — a hand-off must not fail over a setting of the portal."""
    try:
        chosen = settings(uow.crm)
    except DealerCrmError as exc:
        log.error("no status link in the notice for case %s: %s", case_id, exc)
        return None
    token = uow.crm.case_links.issue_in(uow, case_id, chosen.status_link)
    return f"{chosen.public_url}{PATH}/status/{token}" if token else None


@hookimpl(trylast=True)
def dealercrm_register_routes(crm):
    if crm is None:  # the OpenAPI document: the portal's pages are no part of the API
        return None
    from .routes import ROUTES  # FastAPI is the server extra's: a host without it never gets here
    from .web import Portal
    router = Portal(crm).router(ROUTES)
    router.dealercrm_authenticates_itself = True  # session cookies and signed links, not API keys
    return [router]


@hookimpl(trylast=True)
def dealercrm_register_commands(cli):
    from .commands import register
    register(cli)


@hookimpl(trylast=True)
def dealercrm_seed_demo(crm, rng):
    from .commands import seed_demo
    return seed_demo(crm)


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {"portal": PortalSettings}
