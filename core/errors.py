"""One small hierarchy of domain errors.

Every message names the object, the offending value and, where it helps, what would
have been allowed: the CLI prints it as a one-line message and the HTTP layer maps
each class to a problem type, so the text is the user interface.
"""

from __future__ import annotations

from collections.abc import Iterable


class DealerCrmError(Exception):
    """Base class: catch this to handle every error dealercrm raises on purpose."""


class NotFound(DealerCrmError):
    """No such record — or one the acting actor may not see: another party's customer or
    case gets this same answer as an id never used (HTTP 404), so ids cannot be probed."""

    def __init__(self, kind: str, ident: object):
        self.kind, self.ident = kind, ident
        super().__init__(f"{kind} {ident!r} not found")


class ValidationError(DealerCrmError):
    """Input that cannot be accepted; ``field`` and ``value`` say which and why."""

    def __init__(self, field: str, value: object, reason: str):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"invalid {field} {value!r}: {reason}")


class StateConflict(ValidationError):
    """Well-formed input that what the database holds refuses (HTTP 409, not 422): a customer
    merged or erased, a closed case, a task already done, a value another record has, a
    reference to a record that cannot play that part (a dealer named as a product's maker, a
    person of another party). Unlike other invalid input, the same request can succeed once
    the records are different; ``field`` and ``reason`` say what stands in the way."""


class DuplicateCustomer(StateConflict):
    """The e-mail or phone already belongs to a customer; ``existing_id`` names them."""

    def __init__(self, field: str, value: object, existing_id: int):
        self.existing_id = existing_id
        super().__init__(field, value, f"already used by customer {existing_id}")


class NotPermitted(DealerCrmError):
    """The actor sees the record but its party or role may not do this (HTTP 403): a
    manufacturer reading a customer's consents, a service clerk erasing a file, an
    inactive actor doing anything."""


class TransitionNotAllowed(DealerCrmError):
    """A trigger that does not exist, or cannot fire from the case's current state. A guard's
    refusal names the guard (``guard``) and its words (``reason``), for a front end to show."""

    def __init__(self, message: str, allowed: Iterable[str] = (), *, guard: str | None = None,
                 reason: str | None = None):
        self.allowed = tuple(sorted(allowed))
        self.guard, self.reason = guard, reason
        hint = ", ".join(self.allowed) or "none"
        super().__init__(f"{message}; allowed triggers: {hint}")


class Conflict(DealerCrmError):
    """Someone else changed the record first (optimistic locking)."""


class PluginError(DealerCrmError):
    """A plugin failed to load or raised in a hook; names both."""

    def __init__(self, plugin: str, hook: str, cause: BaseException | str):
        self.plugin, self.hook, self.cause = plugin, hook, cause
        why = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"plugin {plugin!r} failed in {hook}: {why}")


class Vetoed(DealerCrmError):
    """A plugin refused the operation inside its transaction; nothing was written."""

    def __init__(self, plugin: str, reason: str):
        self.plugin, self.reason = plugin, reason
        super().__init__(f"plugin {plugin!r} refused: {reason}")


class ImportInterrupted(DealerCrmError):
    """An import stopped part-way: the chunks before ``line`` were committed (``report``
    counts them), nothing from ``line`` on was. ``cause`` is what stopped it (a plugin's
    veto, a failure); importing the file again files the rest and skips what is there."""

    def __init__(self, report, line: int, cause: BaseException):
        self.report, self.line, self.cause = report, line, cause
        super().__init__(f"the import stopped at line {line}: {self.committed()}; cause: "
                         f"{cause if isinstance(cause, DealerCrmError) else f'{type(cause).__name__}: {cause}'}")

    def committed(self) -> str:
        """What was committed before the import stopped, in words."""
        return (f"the lines before it were committed ({self.report.imported} imported, "
                f"{self.report.already_present} already present, {len(self.report.rejected)} rejected), nothing "
                f"from line {self.line} on; import the file again once the cause is fixed: rows already filed "
                "are skipped")


class WorkflowUnsound(DealerCrmError):
    """A workflow breaks a no-dead-end property; refused at load time, not in production.

    ``violations`` keeps every finding, and the message lists them all, so a plugin
    author fixes the whole declaration in one pass instead of one error per run.
    """

    def __init__(self, workflow: str, violations: Iterable[object]):
        self.workflow, self.violations = workflow, tuple(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        super().__init__(f"workflow {workflow!r} is unsound ({len(self.violations)} violations):\n{lines}")
