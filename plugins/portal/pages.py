"""The pages of the people who work on cases: sign-in, the queue, the case, my day, the
customer, the party's people.

Each page asks the services as the signed-in person (``visit.me``, which is
``crm.as_actor``): whatever the page shows or does, the service decided it may. The
portal adds no rule of its own — a page shows what the service returned and says in words
why the service refused.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from dealercrm.errors import Conflict, DealerCrmError, NotFound, NotPermitted, TransitionNotAllowed, ValidationError

from . import diagram, forms
from .security import PATH, SESSION_COOKIE
from .web import SignInFirst, Visit

QUEUE_PAGE = 50


# -- signing in and out ---------------------------------------------------------------------------


def sign_in_page(visit: Visit, form: dict, error: str | None = None, status: int = 200):
    message = visit.query("m")
    known = {"signed_out": "signed_out", "session_over": "session_over"}
    return visit.render("sign_in.html", status, error=error, message=visit.words(known[message]) if message in known
                        else None, email=form.get("email", ""))


def show_sign_in(visit: Visit, form: dict):
    return sign_in_page(visit, form)


def _throttled(visit: Visit, form: dict, *keys: str):
    wait = visit.portal.throttle.wait(f"ip:{visit.portal.client(visit)}", *keys)
    if wait:
        response = sign_in_page(visit, form, visit.words("too_many", seconds=wait), 429)
        response.headers["Retry-After"] = str(wait)
        return response
    return None


def password_sign_in(visit: Visit, form: dict):
    email = form.get("email", "").strip().lower()
    refused = _throttled(visit, form, f"email:{email}")
    if refused:
        return refused
    crm = visit.portal.crm
    try:
        principal = crm.sign_in.with_password(email, form.get("password", ""))
        signed = crm.sign_in.start_session(principal, method="password", lifetime=visit.portal.settings.session)
    except DealerCrmError as exc:
        return sign_in_page(visit, form, str(exc), 401)
    visit.portal.start_session(visit, signed)
    return visit.redirect(f"{PATH}/queue")


def send_link(visit: Visit, form: dict):
    email = form.get("email", "").strip().lower()
    refused = _throttled(visit, form, f"email:{email}")
    if refused:
        return refused
    settings, w = visit.portal.settings, visit.words
    try:
        visit.portal.crm.sign_in.send_link(
            email, url=f"{settings.public_url}{PATH}/sign-in/link/{{token}}", subject=w("sign_in_subject"),
            body=w("sign_in_body", minutes=int(settings.link_minutes), url="{url}"), lifetime=settings.link)
    except ValidationError as exc:
        return sign_in_page(visit, form, exc.reason, 503)
    return visit.render("message.html", title=w("sign_in_link"), text=w("link_sent", minutes=int(settings.link_minutes)),
                        back=f"{PATH}/sign-in")


def confirm_link(visit: Visit, form: dict, token: str):
    return visit.render("link.html", token=token)


def redeem_link(visit: Visit, form: dict, token: str):
    refused = _throttled(visit, form)
    if refused:
        return refused
    try:
        signed = visit.portal.crm.sign_in.redeem_link(token, lifetime=visit.portal.settings.session)
    except DealerCrmError as exc:
        return sign_in_page(visit, form, str(exc), 401)
    visit.portal.start_session(visit, signed)
    return visit.redirect(f"{PATH}/queue")


def sign_out(visit: Visit, form: dict):
    visit.portal.crm.sign_in.end_session(visit.session)
    visit.cookies.append((SESSION_COOKIE, None, None))
    return visit.redirect(f"{PATH}/sign-in?m=signed_out")


def home(visit: Visit, form: dict):
    try:
        visit.portal._sign_in(visit)
    except SignInFirst:
        return visit.redirect(f"{PATH}/sign-in")
    return visit.redirect(f"{PATH}/queue")


# -- helpers ----------------------------------------------------------------------------------------


def _names(visit: Visit) -> dict[int, str]:
    return {p.id: p.name for p in visit.me.parties.list()}


def _held(visit: Visit, held: dict, names: dict[int, str]) -> str:
    w = visit.words
    parts = [f"{w('lane_customer') if key == 'customer' else names.get(key, '?')} {w.span(length)}"
             for key, length in held.items()]
    return " · ".join(parts) or "—"


def _shown(key: str, value, names: dict[int, str], w) -> str:
    """A value of a transition's data as a person reads it: a party by name, a time in their zone."""
    if key.endswith("_party_id") and isinstance(value, int):
        return names.get(value, str(value))
    if key.endswith("_at") and isinstance(value, str):
        try:
            return w.when(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def _int(value: str) -> int:
    if not (value or "").isdigit() or len(value) > 12:
        raise NotFound("page", value)
    return int(value)


def _end_of_today(visit: Visit) -> datetime:
    local = visit.words.local(visit.now)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=visit.words.zone)


# -- the queue ----------------------------------------------------------------------------------------


def queue(visit: Visit, form: dict):
    me, w = visit.me, visit.words
    state = visit.query("state") or None
    overdue = visit.query("overdue") == "1"
    offset = _int(visit.query("offset", "0") or "0")
    cases = me.cases.list(held=True, state=state, overdue=overdue, sort="due", limit=QUEUE_PAGE + 1, offset=offset)
    more, cases = len(cases) > QUEUE_PAGE, cases[:QUEUE_PAGE]
    customers = {c.id: c.name for c in me.customers.list(ids={c.customer_id for c in cases}, limit=QUEUE_PAGE)}
    held = me.cases.held([c.id for c in cases]) if cases else {}
    names = _names(visit)
    rows = []
    for case in cases:
        due, late = w.due(case.due_at, visit.now)
        rows.append(dict(id=case.id, state=w.state(case.state), customer=customers.get(case.customer_id, "—"),
                         summary=case.summary, due=due, late=late, held=_held(visit, held.get(case.id, {}), names)))
    states = sorted({s.name for wf in me.workflow_definitions.list() for s in wf.states if not s.final})
    more_url = f"{PATH}/queue?" + "&".join(p for p in (f"state={state}" if state else "", "overdue=1" if overdue else "",
                                                           f"offset={offset + QUEUE_PAGE}") if p)
    return visit.render("queue.html", rows=rows, states=[(s, w.state(s)) for s in states], state=state,
                        overdue=overdue, more_url=more_url if more else None)


# -- the case -------------------------------------------------------------------------------------------


def case_page(visit: Visit, form: dict, case_id: str, *, error: str | None = None, conflict: bool = False,
              status: int = 200, entered: dict | None = None, link: tuple[str, str] | None = None,
              notice: str | None = None):
    me, w = visit.me, visit.words
    case = me.cases.get(_int(case_id))
    customer = me.customers.get(case.customer_id)
    product = None
    if case.asset_id is not None:
        try:
            asset = me.assets.get(case.asset_id)
            product = dict(name=me.products.get(asset.product_id).name, serial=asset.serial_number,
                           warranty=asset.warranty_until)
        except NotFound:
            pass
    names = _names(visit)
    people = {a.id: a.name for a in me.parties.actors(visit.principal.party_id)}
    history = [dict(when=w.when(e.at), what=w.trigger(e.trigger) if e.trigger else w("opened"), kind=e.kind,
                    state=w.state(e.to_state), who=" – ".join(x for x in (names.get(e.party_id), people.get(e.actor_id))
                                                              if x) or "dealercrm",
                    note=e.note, data=[(w.field(k), _shown(k, v, names, w)) for k, v in (e.data or {}).items()
                                       if k != "via"])
               for e in me.cases.history(case.id)]
    definition = me.workflow_definitions.definition(case.workflow)
    workflow = me.workflow_definitions.get(case.workflow)
    parties: dict[str, list] = {}
    for p in me.parties.list():
        parties.setdefault(p.kind, []).append(p)
    allowed = me.cases.allowed_triggers(case.id)
    due, late = w.due(case.due_at, visit.now)
    promised = me.cases.promise(case.id) if case.closed_at is None else None
    promise = w("promise_level", when=w.when(promised.resolved_by), level=case.service_level) if promised else None
    owner = (w("the_customer") if case.owner_kind == "customer" else names.get(case.owner_party_id)
             if case.owner_party_id else "—")
    done = visit.query("done")
    if done and not notice:
        notice = w("done", action=w.trigger(done), owner=owner)
    return visit.render(
        "case.html", status, case=case, customer=[(w.field(k), v) for k, v in customer.items()
                                                  if k not in ("id",) and v not in (None, "")],
        product=product, history=history, held=_held(visit, me.cases.held([case.id]).get(case.id, {}), names),
        actions=forms.actions(definition, case, allowed, parties, w, entered), due=due, late=late, owner=owner,
        promise=promise,
        state=w.state(case.state), svg=diagram.svg(workflow, case.state, w),
        states=diagram.as_list(workflow, case.state, w), error=error, conflict=conflict, link=link, notice=notice,
        is_dealer=visit.principal.kind == "dealer")


def fire(visit: Visit, form: dict, case_id: str):
    me, w = visit.me, visit.words
    number = _int(case_id)
    trigger = form.get("trigger", "")
    version = int(form["version"]) if form.get("version", "").isdigit() else None
    case = me.cases.get(number)
    definition = me.workflow_definitions.definition(case.workflow)
    parties: dict[str, list] = {}
    action = next((a for a in forms.actions(definition, case, [trigger], parties, w)), None)
    entered = {trigger: {k: v for k, v in form.items() if k not in ("csrf", "trigger", "version")}}
    try:
        data, note = forms.parse(action, form, w)
        me.cases.fire(number, trigger, data=data or None, note=note, expected_version=version)
    except Conflict:
        return case_page(visit, form, case_id, conflict=True, status=409)
    except TransitionNotAllowed as exc:
        said = w.guard(exc.guard, case.due_at) or exc.reason or str(exc)
        return case_page(visit, form, case_id, error=w("refused", reason=said), status=409, entered=entered)
    except ValidationError as exc:
        return case_page(visit, form, case_id, error=w("refused", reason=f"{w.field(exc.field)}: {exc.reason}"),
                         status=422, entered=entered)
    except NotPermitted as exc:
        return case_page(visit, form, case_id, error=w("refused", reason=str(exc)), status=403)
    try:
        me.cases.get(number)
    except NotFound:  # acting handed it somewhere this party no longer sees
        return visit.redirect(f"{PATH}/queue")
    return visit.redirect(f"{PATH}/cases/{number}?done={trigger}")


def issue_status_link(visit: Visit, form: dict, case_id: str):
    settings = visit.portal.settings
    try:
        token = visit.me.case_links.issue(_int(case_id), lifetime=settings.status_link)
    except (NotPermitted, ValidationError) as exc:
        return case_page(visit, form, case_id, error=visit.words("refused", reason=str(exc)), status=403)
    until = visit.words.when(visit.now + settings.status_link)
    return case_page(visit, form, case_id, link=(f"{settings.public_url}{PATH}/status/{token}", until))


def revoke_status_link(visit: Visit, form: dict, case_id: str):
    try:
        count = visit.me.case_links.revoke(_int(case_id))
    except NotPermitted as exc:
        return case_page(visit, form, case_id, error=visit.words("refused", reason=str(exc)), status=403)
    return case_page(visit, form, case_id, notice=visit.words("link_revoked", count=count))


# -- my day ------------------------------------------------------------------------------------------------


def my_day(visit: Visit, form: dict, *, error: str | None = None, status: int = 200):
    me, w = visit.me, visit.words
    end = _end_of_today(visit)
    tasks = me.tasks.list(status="open", mine=True, due="today", limit=200)  # the person's own, due today
    desk = [c for c in me.cases.list(held=True, sort="due", limit=50) if c.due_at is not None and c.due_at < end]
    ids = {t.customer_id for t in tasks if t.customer_id} | {c.customer_id for c in desk}
    customers = {c.id: c.name for c in me.customers.list(ids=ids, limit=len(ids) or 1)} if ids else {}
    try:
        at_risk = [dict(customer_id=r["customer_id"], name=r["name"], owner=r["account_owner"],
                        last=w.when(datetime.fromisoformat(r["last_touch"])) if r["last_touch"] else None)
                   for r in me.reports.report("loyal_at_risk")[:10]]
    except NotPermitted:  # the service keeps reports about customers for dealers
        at_risk = None
    local = w.local(visit.now)
    tomorrow = datetime.combine(local.date() + timedelta(days=1), time(8), tzinfo=w.zone)
    next_week = datetime.combine(local.date() + timedelta(days=7 - local.weekday()), time(8), tzinfo=w.zone)
    return visit.render(
        "my_day.html", status, error=error,
        tasks=[dict(id=t.id, title=t.title, customer=customers.get(t.customer_id), customer_id=t.customer_id,
                    case_id=t.case_id, due=w.due(t.due_at, visit.now)[0], late=t.due_at <= visit.now) for t in tasks],
        desk=[dict(id=c.id, state=w.state(c.state), customer=customers.get(c.customer_id, "—"),
                   due=w.due(c.due_at, visit.now)[0], late=c.due_at <= visit.now) for c in desk],
        at_risk=at_risk, snooze=[("tomorrow", w("tomorrow"), tomorrow.isoformat()),
                                 ("next_week", w("next_week"), next_week.isoformat())],
        saved=visit.query("saved") == "1")


def task_done(visit: Visit, form: dict, task_id: str):
    visit.me.tasks.complete(_int(task_id))
    return visit.redirect(f"{PATH}/my-day?saved=1")


def task_snooze(visit: Visit, form: dict, task_id: str):
    try:
        until = datetime.fromisoformat(form.get("until", ""))
        visit.me.tasks.snooze(_int(task_id), until if until.tzinfo else until.replace(tzinfo=visit.words.zone))
    except ValueError:
        return my_day(visit, form, error=visit.words("refused", reason=form.get("until", "")), status=422)
    except ValidationError as exc:
        return my_day(visit, form, error=visit.words("refused", reason=exc.reason), status=422)
    return visit.redirect(f"{PATH}/my-day?saved=1")


# -- the customer -----------------------------------------------------------------------------------------


def customer_page(visit: Visit, form: dict, customer_id: str):
    me, w = visit.me, visit.words
    view = me.customers.view(_int(customer_id))
    today = w.local(visit.now).date()
    assets = [dict(product=product.name, serial=asset.serial_number, until=asset.warranty_until,
                   valid=asset.warranty_until is not None and asset.warranty_until >= today)
              for asset, product in view.assets]
    return visit.render(
        "customer.html", view=view, record=[(w.field(k), v) for k, v in view.customer.items()
                                            if k != "id" and v not in (None, "")],
        name=view.customer.get("name", ""), assets=assets,
        cases=[dict(id=c.id, state=w.state(c.state), summary=c.summary, open=c.closed_at is None) for c in view.cases],
        timeline=[dict(when=w.when(i.at), channel=i.channel, direction=i.direction, summary=i.summary)
                  for i in view.timeline or []])


# -- the party's people ------------------------------------------------------------------------------------


def people(visit: Visit, form: dict, *, notice: str | None = None, error: str | None = None, status: int = 200):
    actors = visit.me.parties.actors(visit.principal.party_id)
    return visit.render("people.html", status, actors=actors, notice=notice, error=error)


def set_password(visit: Visit, form: dict, actor_id: str):
    try:
        visit.me.sign_in.set_password(_int(actor_id), form.get("password", ""))
    except (NotPermitted, ValidationError) as exc:
        return people(visit, form, error=visit.words("refused", reason=getattr(exc, "reason", None) or str(exc)),
                      status=403 if isinstance(exc, NotPermitted) else 422)
    return people(visit, form, notice=visit.words("password_set"))


def set_active(visit: Visit, form: dict, actor_id: str):
    try:
        visit.me.parties.set_actor_active(_int(actor_id), form.get("active") == "1")
    except (NotPermitted, ValidationError) as exc:
        return people(visit, form, error=visit.words("refused", reason=str(exc)), status=403)
    return people(visit, form, notice=visit.words("saved"))
