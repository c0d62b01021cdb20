"""The customer's status page: their case, through the signed link in every hand-off notice.

No account: the link is the key, and ``crm.case_links`` decides everything it opens —
this case only, in plain terms; "it works" / "still broken" while the case waits on the
customer, fired as the system on their behalf; the survey once. An expired, withdrawn or
made-up link shows a page saying so and nothing else.
"""

from __future__ import annotations

from dealercrm.errors import Conflict, DealerCrmError, NotPermitted, ValidationError
from dealercrm.services.case_links import LinkExpired, LinkRevoked

from .security import PATH
from .web import Visit


def _refused(visit: Visit, exc: DealerCrmError):
    w = visit.words
    if isinstance(exc, LinkExpired):
        return visit.render("status_refused.html", 410, title=w("link_expired"), text=w("ask_dealer"))
    if isinstance(exc, LinkRevoked):
        return visit.render("status_refused.html", 410, title=w("link_withdrawn"), text=w("ask_dealer"))
    return visit.render("status_refused.html", 404, title=w("link_unknown"), text=w("ask_dealer"))


def _who(visit: Visit, by: str, party: str | None) -> str:
    w = visit.words
    if by == "customer":
        return w("you")
    if by == "system":
        return w.role("system")
    role = w.role(by)
    return f"{role[:1].upper()}{role[1:]} {party}" if party else role


def status_page(visit: Visit, form: dict, token: str, *, error: str | None = None, status: int = 200):
    w = visit.words
    try:
        case = visit.portal.crm.case_links.status(token)
    except DealerCrmError as exc:
        return _refused(visit, exc)
    history = []
    for step in case.history:
        who = _who(visit, step.by, step.party_name)
        said = w.step(step.trigger, step.kind, who) or w("step_generic", who=who, action=w.trigger(step.trigger),
                                                         state=w.state(step.to_state))
        history.append(dict(when=w.when(step.at), text=said))
    if case.final:
        now = w("closed_state", state=w.state(case.state))
    elif case.owner_kind == "customer":
        now = w("with_you", due=w.when(case.due_at))
    else:
        now = w("with_party", name=case.owner_name or "—", role=w.role(case.owner_kind), due=w.when(case.due_at))
    missed = None
    if case.on_timeout is not None:
        dest = case.on_timeout
        missed = (w("missed_to_dealer", dealer=case.dealer_name) if dest.dest_owner == "dealer" else
                  w("missed_closed", state=w.state(dest.dest)) if dest.dest_owner is None else
                  w("timeout_generic", state=w.state(dest.dest)))
    choices = [dict(trigger=c.trigger, label=w.trigger(c.trigger), asks=c.dest_owner is not None)
               for c in case.choices]
    return visit.render("status.html", status, case=case, token=token, now_text=now, missed=missed, history=history,
                        choices=choices, error=error, action=f"{PATH}/status/{token}",
                        expires=w.when(case.expires_at), thanks=visit.query("thanks") == "1",
                        resolved_by=w("resolved_by", when=w.when(case.resolved_by))
                        if case.resolved_by and not case.final else None,
                        answered=visit.query("answered") == "1")


def respond(visit: Visit, form: dict, token: str):
    version = int(form["version"]) if form.get("version", "").isdigit() else None
    try:
        visit.portal.crm.case_links.respond(token, form.get("trigger", ""), note=form.get("note"),
                                            expected_version=version)
    except Conflict:
        return status_page(visit, form, token, error=visit.words("conflict"), status=409)
    except (NotPermitted, ValidationError) as exc:
        return status_page(visit, form, token, error=visit.words("refused", reason=str(exc)), status=403)
    except DealerCrmError as exc:
        return _refused(visit, exc)
    return visit.redirect(f"{PATH}/status/{token}?answered=1")


def survey(visit: Visit, form: dict, token: str):
    try:
        visit.portal.crm.case_links.answer_survey(token, csat=form.get("csat") or None, nps=form.get("nps") or None,
                                                  comment=form.get("comment") or None)
    except Conflict:
        return visit.redirect(f"{PATH}/status/{token}")
    except (NotPermitted, ValidationError) as exc:
        return status_page(visit, form, token, error=visit.words("refused", reason=getattr(exc, "reason", str(exc))),
                           status=422)
    except DealerCrmError as exc:
        return _refused(visit, exc)
    return visit.redirect(f"{PATH}/status/{token}?thanks=1")
