"""Satisfaction after a case: the customer's CSAT (1-5) and NPS (0-10), on the record.

An answer is kept with its case (``survey_response``) and written on the customer's
timeline in the same unit of work; ``SurveyAnswered`` then lets rules react inside
that transaction — the built-in ``rule_satisfaction`` opens a follow-up for the
dealer when a score is low. ``record_in`` is the write for callers that already hold a
unit of work (a rule reading an inbound reply).

**One answer per case.** A case has one survey, so it has one answer, however it arrives
(a reply, a second reply, the dealer typing in what was said on the phone): a later
answer *revises* it — the scores and the comment it gives replace the earlier ones, what
it leaves out is kept — and the timeline says "revised", with what it was. The latest
word counts ("sorry, I meant CSAT 4"); it is never counted twice. An answer that changes
nothing (the same reply delivered again) writes nothing and raises no event.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from .. import validation
from ..db.case_models import Case
from ..db.rule_models import SurveyResponse
from ..errors import NotFound, ValidationError
from ..events import SurveyAnswered
from ..access import visible_case
from ..errors import NotPermitted
from .base import Service
from .interactions import record_interaction, timeline_channels

CSAT_RANGE, NPS_RANGE = (1, 5), (0, 10)
RESPONSE = SurveyResponse.__table__


def score(field: str, value: object, bounds: tuple[int, int]) -> int | None:
    """A whole number inside ``bounds``, or None when not answered."""
    if value is None or value == "":
        return None
    low, high = bounds
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, value, f"must be a whole number from {low} to {high}")
    return value


def record_in(uow, case_id: int, *, csat: object = None, nps: object = None, comment: str | None = None,
              channel: str = "email") -> SurveyResponse:
    """Write one answer inside ``uow``: the response row, a timeline line, ``SurveyAnswered``."""
    csat, nps = score("csat", csat, CSAT_RANGE), score("nps", nps, NPS_RANGE)
    if csat is None and nps is None:
        raise ValidationError("survey answer", {"csat": None, "nps": None},
                              f"case {case_id}: give a CSAT score (1-5), an NPS score (0-10) or both")
    channel = validation.choice("channel", channel, timeline_channels(uow.crm))
    comment = validation.text("comment", comment)
    # the case row is locked (PostgreSQL; SQLite's writer holds the database): two answers
    # arriving at once are one after the other, the second revising the first
    case = uow.connection.execute(select(Case.id, Case.customer_id).where(Case.id == case_id)
                                  .with_for_update()).first()
    if case is None:
        raise NotFound("case", case_id)
    earlier = uow.connection.execute(select(RESPONSE).where(RESPONSE.c.case_id == case_id)).first()
    if earlier is not None:
        csat = earlier.csat if csat is None else csat
        nps = earlier.nps if nps is None else nps
        comment = earlier.comment if comment is None else comment
        if (csat, nps, comment) == (earlier.csat, earlier.nps, earlier.comment):
            return SurveyResponse(**earlier._mapping)  # the same answer again: nothing new
    values = dict(case_id=case_id, customer_id=case.customer_id, csat=csat, nps=nps, comment=comment,
                  channel=channel, at=uow.now)
    if earlier is None:
        response_id = uow.connection.execute(insert(RESPONSE).values(values).returning(RESPONSE.c.id)).scalar_one()
        what = f"survey for case {case_id}: {_scores(csat, nps)}"
    else:
        response_id = earlier.id
        uow.connection.execute(update(RESPONSE).where(RESPONSE.c.id == response_id).values(values))
        what = f"survey for case {case_id} revised: {_scores(csat, nps)} (was {_scores(earlier.csat, earlier.nps)})"
    record_interaction(uow, case.customer_id, channel, "inbound", f"{what}{f' – {comment}' if comment else ''}",
                       personal=False, case_id=case_id)
    uow.raise_event(SurveyAnswered, response_id=response_id, case_id=case_id, customer_id=case.customer_id,
                    csat=csat, nps=nps, channel=channel, revised=earlier is not None)
    return SurveyResponse(id=response_id, **values)


def _scores(csat: int | None, nps: int | None) -> str:
    return ", ".join(f"{label} {v}/{top}" for label, v, top in (("CSAT", csat, 5), ("NPS", nps, 10))
                     if v is not None)


class SurveyService(Service):
    def record(self, case_id: int, *, csat: object = None, nps: object = None, comment: str | None = None,
               channel: str = "email", by: int) -> SurveyResponse:
        """Record a customer's answer to the survey after case ``case_id``, as one business operation;
        a case already answered has its answer revised (one answer per case).

        The customer's satisfaction is the dealer's relationship: only the case's dealer
        (and the system) records and reads answers. A revision keeps what it leaves out; an
        answer that changes nothing writes nothing. The answer goes on the customer's timeline
        and raises ``SurveyAnswered`` (``rule_satisfaction`` follows a low score up).

        Args:
            case_id: The case.
            csat: Satisfaction, a whole number from 1 to 5 (or its text), or None.
            nps: Likelihood to recommend, a whole number from 0 to 10 (or its text), or None.
            comment: What the customer said.
            channel: How it was heard: a consent channel (``crm.consents.channels()``) or ``"visit"``.
            by: The acting actor's id: a person of the case's dealer, or the system.

        Returns:
            The case's answer as it stands now.

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The actor is not of a dealer (a technician serving the case), or
                ``by`` is deactivated.
            ValidationError: Neither score given, a score out of range, an unknown channel.
            Vetoed: A plugin refused the change.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> answer = crm.surveys.record(case.id, csat=4, nps="9", channel="phone", by=lea)
            >>> (answer.csat, answer.nps)
            (4, 9)
            >>> crm.surveys.record(case.id, csat=5, channel="phone", by=lea).nps  # revised: the NPS stays
            9
        """
        # how a person heard the answer: on a consent channel, or in person (a reply that came
        # in over a host's webhook is recorded by the satisfaction rule, through record_in)
        validation.choice("channel", channel, (*self.crm.consents.channels(), "visit"))
        with self.uow(by, "surveys.record") as uow:
            _dealers_case(uow, case_id, "record survey answers for")
            response = record_in(uow, case_id, csat=csat, nps=nps, comment=comment, channel=channel)
            uow.commit()
            return response

    def of_case(self, case_id: int, *, by: int) -> list[SurveyResponse]:
        """The survey answers on case ``case_id``: the case's dealer's to read.

        Args:
            case_id: The case.
            by: The acting actor's id: a person of the case's dealer, or the system.

        Returns:
            The answers (one per case; empty while unanswered).

        Raises:
            NotFound: No such case, or one the actor's party does not serve; or ``by`` is no actor.
            NotPermitted: The actor is not of a dealer, or ``by`` is deactivated.

        Examples:
            >>> case = crm.cases.open(anna, "drum noise", by=lea)
            >>> _ = crm.surveys.record(case.id, csat=4, channel="phone", by=lea)
            >>> [answer.csat for answer in crm.surveys.of_case(case.id, by=lea)]
            [4]
        """
        with self.read(by) as uow:
            _dealers_case(uow, case_id, "read the survey answers of")
            return list(uow.session.scalars(
                select(SurveyResponse).where(SurveyResponse.case_id == case_id).order_by(SurveyResponse.id)))


def _dealers_case(uow, case_id: int, doing: str) -> None:
    visible_case(uow, case_id)  # a dealer sees exactly the cases it is dealer of
    if uow.principal.kind not in ("dealer", "system"):
        raise NotPermitted(f"{uow.principal} may not {doing} case {case_id}: the customer's satisfaction is the "
                           "dealer's to ask and to keep")
