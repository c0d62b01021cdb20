"""Satisfaction surveys as one actor may record and read them (rules in ``dealercrm.access``).

The customer's satisfaction is the dealer's relationship: the dealer asked, the answer
lands on its customer's timeline and its follow-up rule reacts to a low score. So
only the case's dealer (and the system) records and reads answers; a manufacturer or
technician who sees the case is refused, a party that does not see it finds no case.
"""

from __future__ import annotations

from ..db.rule_models import SurveyResponse
from ..errors import NotPermitted


class ScopedSurveys:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def _dealers_case(self, case_id: int, doing: str) -> None:
        with self.crm.read() as uow:
            self.scope.visible_case(uow.connection, case_id)  # a dealer sees exactly the cases it is dealer of
        if self.p.kind not in ("dealer", "system"):
            raise NotPermitted(f"{self.p} may not {doing} case {case_id}: the customer's satisfaction is the "
                               "dealer's to ask and to keep")

    def record(self, case_id: int, *, csat: object = None, nps: object = None, comment: str | None = None,
               channel: str = "phone") -> SurveyResponse:
        """Record what the customer answered (by default on the phone, to the dealer)."""
        self._dealers_case(case_id, "record survey answers for")
        return self.crm.surveys.record(case_id, csat=csat, nps=nps, comment=comment, channel=channel,
                                       by=self.p.actor_id)

    def of_case(self, case_id: int) -> list[SurveyResponse]:
        self._dealers_case(case_id, "read the survey answers of")
        return self.crm.surveys.of_case(case_id)
