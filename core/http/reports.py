"""``/reports``: the caller's own figures (see ``dealercrm.services.scoped_reports``)."""

from __future__ import annotations

from typing import Literal


from .auth import Caller
from .common import Router, problems
from .schemas import ReportOut

router = Router(prefix="/reports", tags=["reports"], responses=problems(401, 403, 422))


@router.get("/{section}", response_model=ReportOut)
def read_report(me: Caller,
                section: Literal["satisfaction", "cases", "loyal_at_risk", "contacts", "single_threaded"]):
    """satisfaction and cases: the caller's party's row; loyal_at_risk, contacts and single_threaded (key
    company accounts whose personal touches involve one of our people or one of their functions): a dealer's own
    customers."""
    return {"section": section, "rows": me.reports.report(section)}
