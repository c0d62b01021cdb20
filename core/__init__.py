"""dealercrm: the customer file, rules and service cases for dealers.

The public API is small on purpose: ``connect`` an application, write plugins with
``hookimpl``, catch the errors, react to the events.
"""

from .app import CRM, connect
from .clock import Clock, ManualClock, SystemClock
from .errors import (Conflict, DealerCrmError, DuplicateCustomer, ImportInterrupted, NotFound, NotPermitted,
                     PluginError, StateConflict, TransitionNotAllowed, ValidationError, Vetoed, WorkflowUnsound)
from .events import *  # noqa: F401,F403  (every event class is public)
from .events import Event
from .hookspecs import hookimpl

__all__ = [
    "CRM", "Clock", "Conflict", "DealerCrmError", "DuplicateCustomer", "Event", "ImportInterrupted", "ManualClock",
    "NotFound", "NotPermitted", "PluginError", "StateConflict", "SystemClock", "TransitionNotAllowed", "ValidationError",
    "Vetoed",
    "WorkflowUnsound",
    "connect", "hookimpl",
]
