"""Service-case workflows declared as data, proven free of dead ends, fired in microseconds."""

from dealercrm.workflow.calendar import (
    WALL_CLOCK,
    BusinessCalendar,
    Calendar,
    Calendars,
    WallClock,
    remaining,
    resume,
)
from dealercrm.workflow.check import Violation, assert_sound, check_workflow
from dealercrm.workflow.machine import CompiledWorkflow, FireResult
from dealercrm.workflow.model import (
    PARTY_KINDS,
    SYSTEM,
    DeadlinePolicy,
    Guard,
    GuardContext,
    State,
    Transition,
    Workflow,
    may_fire,
)
from dealercrm.workflow.render import to_mermaid, to_text

__all__ = [
    "PARTY_KINDS",
    "SYSTEM",
    "WALL_CLOCK",
    "BusinessCalendar",
    "Calendar",
    "Calendars",
    "CompiledWorkflow",
    "DeadlinePolicy",
    "FireResult",
    "Guard",
    "GuardContext",
    "State",
    "Transition",
    "Violation",
    "WallClock",
    "Workflow",
    "assert_sound",
    "check_workflow",
    "may_fire",
    "remaining",
    "resume",
    "to_mermaid",
    "to_text",
]
