"""The customer's link to their case: signed, expiring, revocable, no account needed.

A hand-off notice carries a link made by ``issue_in`` inside the hand-off's own unit of
work. The link's token is ``<row>.<expires>.<signature>``: the ``case_link`` row it names,
when it stops working (Unix seconds) and an HMAC-SHA256 under the server's secret
(``Keyring``) of row, case and expiry — so it cannot be altered, pointed at another case or
extended. Each case has one live row at a time, reused by every notice; revoking it (the
case's dealer, or erasing the customer) refuses every link made for it, and the next
notice makes a new one.

The link holder is no actor; what they may see and do is decided here, and only here
(see ``dealercrm.access``): ``status`` shows the case and nothing beyond it, ``respond``
fires what ``customer_triggers`` allows as the system on the customer's behalf — audited
as ``case_links.respond`` on the link, the case's history marking it ``via: status link``
— and ``answer_survey`` takes the satisfaction survey once per case, once it is final.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import attrs
from sqlalchemy import insert, select, update

from ..access import NotAuthenticated, customer_triggers, require, visible_case
from ..db.case_models import Case, CaseEvent
from ..db.models import Actor, Asset, AuditRecord, Customer, Party, Product
from ..db.rule_models import SurveyResponse
from ..db.sign_in_models import CaseLink
from ..errors import Conflict, NotPermitted, StateConflict
from .base import Service
from .case_levels import promise_of
from .cases import Fired
from .surveys import record_in

if TYPE_CHECKING:
    from ..uow import UnitOfWork

LINK, AUDIT = CaseLink.__table__, AuditRecord.__table__
LIFETIME = timedelta(days=30)
PURPOSE = "case-link"
VIA = "status link"  # the ``via`` of the history rows a customer's answer made


class LinkExpired(NotAuthenticated):
    """The link's time is up (its signature was right)."""


class LinkRevoked(NotAuthenticated):
    """The link was withdrawn: by the case's dealer, or because the customer's data was erased."""


@attrs.frozen
class Step:
    """One line of the case's history as the customer reads it: who (a kind of party, or
    ``customer`` for their own answers, ``system`` for dealercrm's deadlines), not which person."""

    at: datetime
    kind: str  # opened | transition | timeout
    trigger: str | None
    from_state: str | None
    to_state: str
    by: str
    party_name: str | None


@attrs.frozen
class Choice:
    """A way out of the current state: the customer's own, or what the deadline does."""

    trigger: str
    dest: str
    description: str
    dest_owner: str | None  # the kind of party that holds the case there; None when final


@attrs.frozen
class CaseStatus:
    """Everything a link shows: this case, no other, and no people's names or notes."""

    case_id: int
    workflow: str
    summary: str
    product: str | None
    dealer_name: str
    state: str
    state_description: str
    final: bool
    owner_kind: str | None  # dealer | manufacturer | technician | customer
    owner_name: str | None  # the party's name; None when the customer or nobody holds it
    due_at: datetime | None
    waits_on_customer: bool
    on_timeout: Choice | None  # what happens when ``due_at`` passes
    history: list[Step]
    choices: list[Choice]  # what the customer may do now
    survey: str | None  # "open" (final, unanswered), "answered", or None
    version: int
    expires_at: datetime
    #: the promise: resolved by then at the latest (``crm.cases.promise``); None once it ended unresolved
    resolved_by: datetime | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class CaseLinkService(Service):
    # -- making and withdrawing links -----------------------------------------------------
    def issue_in(self, uow: UnitOfWork, case_id: int, lifetime: timedelta = LIFETIME) -> str | None:
        """A link to ``case_id`` valid for ``lifetime``, inside ``uow`` (a hand-off's notice):
        the case's live link row, made if there is none, signed with a new expiry.

        No access check: the caller's operation decided already (``issue`` is the checked one).

        Args:
            uow: The open unit of work.
            case_id: The case.
            lifetime: How long the link works (default 30 days).

        Returns:
            The token, or None for no such case or a customer whose data was erased (there is
            nobody to send it to).

        Raises:
            ValidationError: No secret to sign with (``Keyring.key``).

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> with crm.uow(lea, "my_plugin.notify") as uow:
            ...     token = crm.case_links.issue_in(uow, case.id)
            ...     uow.commit()
            >>> crm.case_links.status(token).case_id == case.id
            True
        """
        conn = uow.connection
        case = conn.execute(select(Case.id, Case.customer_id, Customer.erased_at).join(
            Customer, Customer.id == Case.customer_id).where(Case.id == case_id)).first()
        if case is None or case.erased_at is not None:
            return None
        link_id = conn.execute(select(LINK.c.id).where(LINK.c.case_id == case_id, LINK.c.revoked_at.is_(None))
                               .order_by(LINK.c.id.desc()).limit(1)).scalar()
        if link_id is None:
            link_id = conn.execute(insert(LINK).values(case_id=case_id, customer_id=case.customer_id,
                                                       created_at=uow.now).returning(LINK.c.id)).scalar_one()
            _audit(uow, "insert", link_id, case.customer_id, {"case_id": [None, case_id]})
        return self._sign(link_id, case_id, int((uow.now + lifetime).timestamp()), uow.connection)

    def issue(self, case_id: int, *, by: int, lifetime: timedelta = LIFETIME) -> str:
        """A link for the case's dealer to hand the customer another way (read out on the phone,
        printed on the job sheet); the same link the notices carry.

        Args:
            case_id: The case.
            by: The acting actor's id: a person of the case's dealer, or the system.
            lifetime: How long the link works (default 30 days).

        Returns:
            The token (the status page's address ends with it).

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The actor is not of a dealer, or ``by`` is deactivated.
            ValidationError: The customer's data was erased (nobody to hand it to).

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> token = crm.case_links.issue(case.id, by=lea)
            >>> crm.case_links.status(token).state
            'reported'
        """
        with self.uow(by, "case_links.issue") as uow:
            visible_case(uow, case_id)
            require(uow.principal, "dealer", doing=f"hand out links to case {case_id}")
            token = self.issue_in(uow, case_id, lifetime)
            if token is None:
                raise StateConflict("case", case_id, "its customer's data was erased: there is nobody to send a "
                                      "link to")
            uow.commit()
            return token

    def revoke(self, case_id: int, *, by: int, reason: str = "revoked by the dealer") -> int:
        """Withdraw every link to the case (the case's dealer, or the system); the next notice
        carries a new one. For a link that reached the wrong person.

        Args:
            case_id: The case.
            by: The acting actor's id: a person of the case's dealer, or the system.
            reason: Why, for the audit.

        Returns:
            How many live links were withdrawn.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The actor is not of a dealer, or ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> token = crm.case_links.issue(case.id, by=lea)
            >>> crm.case_links.revoke(case.id, by=lea)
            1
            >>> crm.case_links.status(token)
            Traceback (most recent call last):
            ...
            dealercrm.services.case_links.LinkRevoked: this link was withdrawn
        """
        with self.uow(by, "case_links.revoke") as uow:
            case = visible_case(uow, case_id)
            require(uow.principal, "dealer", doing=f"revoke the customer's links to case {case_id}")
            count = self._revoke(uow, LINK.c.case_id == case_id, case.customer_id, reason)
            uow.commit()
            return count

    def revoke_customer_in(self, uow: UnitOfWork, customer_id: int, reason: str) -> int:
        """Inside an erasure: every link to every case of the customer stops working.

        No access check: the caller's operation decided already. Raises nothing.

        Args:
            uow: The open unit of work (the erasure's).
            customer_id: The customer.
            reason: Why, for the audit.

        Returns:
            How many live links were withdrawn.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> _ = crm.case_links.issue(case.id, by=lea)
            >>> with crm.uow(crm.system, "my_plugin.forget") as uow:
            ...     print(crm.case_links.revoke_customer_in(uow, anna, "the customer asked"))
            ...     uow.commit()
            1
        """
        return self._revoke(uow, LINK.c.customer_id == customer_id, customer_id, reason)

    # -- what the link holder sees and does ---------------------------------------------------
    def status(self, token: str) -> CaseStatus:
        """What the customer's status link ``token`` shows: who has the case until when, the
        history in plain words, the answers open to them — this case only, and no people's
        names or notes.

        Args:
            token: The link's token.

        Returns:
            The case as the customer sees it (``CaseStatus``).

        Raises:
            NotAuthenticated: The token is no genuine link; ``LinkExpired`` once its time is up,
                ``LinkRevoked`` once it was withdrawn.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> status = crm.case_links.status(crm.case_links.issue(case.id, by=lea))
            >>> (status.state, status.owner_name, status.choices)
            ('reported', 'Autohaus Berg', [])
        """
        with self.read(self.crm.system) as uow:
            link, expires = self._resolve(uow, token)
            return self._status(uow, link.case_id, expires)

    def respond(self, token: str, trigger: str, *, note: str | None = None,
                expected_version: int | None = None) -> Fired:
        """Fire one of the customer's choices, as the system on the customer's behalf.

        Only where the case waits on the customer, and only what ``customer_triggers``
        allows there ("it works", "still broken"). Audited on the link; the history marks
        the step ``via: status link``.

        Args:
            token: The link's token.
            trigger: One of the status's ``choices``.
            note: What the customer wrote, for the history.
            expected_version: Refuse unless the case is still at this version (the page shown).

        Returns:
            What happened (``Fired``).

        Raises:
            NotAuthenticated: The link no longer opens (``LinkExpired``, ``LinkRevoked``).
            NotPermitted: The trigger is not the customer's to fire now.
            Conflict: The case is no longer at ``expected_version``.
            TransitionNotAllowed: A guard refused.
            Vetoed: A plugin refused the change.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> token = crm.case_links.issue(case.id, by=lea)
            >>> _ = crm.cases.fire(case.id, "start_diagnosis", by=lea)
            >>> _ = crm.cases.fire(case.id, "solve_by_advice", by=lea)
            >>> [choice.trigger for choice in crm.case_links.status(token).choices]
            ['confirm', 'still_broken']
            >>> crm.case_links.respond(token, "confirm", note="works again").dest
            'closed'
        """
        with self.uow(self.crm.system, "case_links.respond") as uow:
            link, _ = self._resolve(uow, token)
            case = self.crm.cases.load(uow.connection, link.case_id, lock=True)
            wf = self.crm.cases.workflow(case["workflow"]).workflow
            allowed = [t.trigger for t in customer_triggers(wf, case["state"])]
            if trigger not in allowed:
                raise NotPermitted(f"case {link.case_id} (state {case['state']!r}): the customer may not "
                                   f"{trigger!r} here through their link; they may: {', '.join(allowed) or 'nothing now'}")
            note = (note or "").strip() or None
            fired = self.crm.cases.fire_in(uow, link.case_id, trigger, data={"via": VIA}, note=note,
                                           expected_version=expected_version, case=case)
            _audit(uow, "update", link.id, link.customer_id, {"fired": [None, trigger], "case_id": [None, link.case_id]})
            uow.commit()
            return fired

    def answer_survey(self, token: str, *, csat: object = None, nps: object = None,
                      comment: str | None = None) -> SurveyResponse:
        """The customer's answer to the satisfaction survey: once per case, once it is closed.

        Recorded as the survey service records answers (timeline, ``SurveyAnswered``), with
        the channel ``"web"``, and audited on the link.

        Args:
            token: The link's token.
            csat: Satisfaction, 1 to 5, or None.
            nps: Likelihood to recommend, 0 to 10, or None.
            comment: What the customer wrote.

        Returns:
            The answer.

        Raises:
            NotAuthenticated: The link no longer opens (``LinkExpired``, ``LinkRevoked``).
            NotPermitted: The case is still open.
            Conflict: The survey was answered already.
            ValidationError: Neither score given, or a score out of range.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> token = crm.case_links.issue(case.id, by=lea)
            >>> for trigger in ("start_diagnosis", "solve_by_advice", "confirm"):
            ...     _ = crm.cases.fire(case.id, trigger, by=lea)
            >>> crm.case_links.answer_survey(token, csat=5, comment="quick and friendly").csat
            5
            >>> crm.case_links.status(token).survey
            'answered'
        """
        with self.uow(self.crm.system, "case_links.survey") as uow:
            link, _ = self._resolve(uow, token)
            case = self.crm.cases.load(uow.connection, link.case_id, lock=True)  # one answer, also concurrently
            if case["closed_at"] is None:
                raise NotPermitted(f"case {link.case_id} is still open: the survey comes once it is closed")
            if self._answered(uow.connection, link.case_id):
                raise Conflict(f"case {link.case_id}: the survey was already answered, once per case is enough")
            response = record_in(uow, link.case_id, csat=csat, nps=nps, comment=comment, channel="web")
            _audit(uow, "update", link.id, link.customer_id, {"survey": [None, response.id]})
            uow.commit()
            return response

    # -- inside -------------------------------------------------------------------------------
    def _sign(self, link_id: int, case_id: int, expires: int, connection=None) -> str:
        mac = hmac.new(self.crm.keyring.key(PURPOSE, connection), f"{link_id}:{case_id}:{expires}".encode(), hashlib.sha256)
        return f"{link_id}.{expires}.{_b64(mac.digest())}"

    def _resolve(self, uow, token: str):
        """The link row a token names, if its signature holds, it has not expired and is not revoked."""
        parts = (token or "").split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts[:2]) or len(parts[0]) > 12:
            raise NotAuthenticated("this is no link to a case")
        link_id, expires = int(parts[0]), int(parts[1])
        link = uow.connection.execute(select(LINK).where(LINK.c.id == link_id)).first()
        if link is None or not hmac.compare_digest(self._sign(link_id, link.case_id, expires, uow.connection), token):
            raise NotAuthenticated("this is no link to a case")
        expires_at = datetime.fromtimestamp(expires, timezone.utc)
        if expires_at <= uow.now:
            raise LinkExpired(f"this link expired on {expires_at:%Y-%m-%d %H:%M} UTC")
        if link.revoked_at is not None:
            raise LinkRevoked("this link was withdrawn")
        return link, expires_at

    def _revoke(self, uow, where, customer_id: int, reason: str) -> int:
        rows = uow.connection.execute(select(LINK.c.id).where(where, LINK.c.revoked_at.is_(None))).scalars().all()
        if rows:
            uow.connection.execute(update(LINK).where(LINK.c.id.in_(rows)).values(revoked_at=uow.now,
                                                                                  revoked_reason=reason))
            for link_id in rows:
                _audit(uow, "update", link_id, customer_id, {"revoked_at": [None, uow.now.isoformat()],
                                                             "revoked_reason": [None, reason]})
        return len(rows)

    @staticmethod
    def _answered(conn, case_id: int) -> bool:
        return conn.execute(select(SurveyResponse.id).where(SurveyResponse.case_id == case_id).limit(1)).first() \
            is not None

    def _status(self, uow, case_id: int, expires_at: datetime) -> CaseStatus:
        conn = uow.connection
        case = self.crm.cases.load(conn, case_id)
        wf = self.crm.cases.workflow(case["workflow"]).workflow
        state = wf.state(case["state"])
        # facts and service-level changes are the parties' bookkeeping; the promise below shows the latter's effect
        events = conn.execute(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                      CaseEvent.kind.not_in(("fact", "level")))
                              .order_by(CaseEvent.id)).all()
        parties = {e.party_id for e in events} | {case["dealer_party_id"], case["owner_party_id"]}
        found = conn.execute(select(Party.id, Party.name, Party.kind).where(Party.id.in_(parties - {None}))).all()
        names, kinds = {p.id: p.name for p in found}, {p.id: p.kind for p in found}
        product = conn.execute(select(Product.name).join(Asset, Asset.product_id == Product.id)
                               .where(Asset.id == case["asset_id"])).scalar() if case["asset_id"] else None
        system_ids = set(conn.execute(select(Actor.id).where(Actor.is_system.is_(True))).scalars())
        history = []
        for e in events:
            by = ("customer" if (e.data or {}).get("via") == VIA else
                  "system" if e.actor_id in system_ids else kinds.get(e.party_id, "system"))
            history.append(Step(e.at, e.kind, e.trigger, e.from_state, e.to_state, by,
                                names.get(e.party_id) if by not in ("customer", "system") else None))
        timeout = wf.timeout_from(state.name) if not state.final else None
        def choice(t) -> Choice:
            dest = wf.state(t.dest)
            return Choice(t.trigger, t.dest, t.description or dest.description, None if dest.final else dest.owner)

        on_timeout = choice(timeout) if timeout else None
        choices = [choice(t) for t in customer_triggers(wf, state.name)]
        survey = None
        if state.final and case["closed_at"] is not None:
            survey = "answered" if self._answered(conn, case_id) else "open"
        owner = case["owner_party_id"] if state.owner != "customer" else None
        promise = promise_of(self.crm.cases, conn, case, uow.now)
        return CaseStatus(
            case_id=case_id, workflow=wf.name, summary=case["summary"], product=product,
            dealer_name=names.get(case["dealer_party_id"], ""), state=state.name,
            state_description=state.description, final=state.final, owner_kind=state.owner,
            owner_name=names.get(owner) if owner else None, due_at=case["due_at"],
            waits_on_customer=state.waits_on_customer, on_timeout=on_timeout, history=history, choices=choices,
            survey=survey, version=case["version"], expires_at=expires_at,
            resolved_by=promise.resolved_by if promise else None)


def _audit(uow, action: str, link_id: int, customer_id: int, changes: dict) -> None:
    uow.connection.execute(insert(AUDIT).values(
        at=uow.now, actor_id=uow.actor_id, operation=uow.operation, action=action, entity="case_link",
        entity_id=link_id, changes=changes, personal_changes=None, customer_id=customer_id))
