"""What a rule plugin provides: candidates found by a set-based scan or by an event,
and an action per candidate taken through ``RuleContext``.

A rule never decides on its own whether it already fired: the engine keeps one
``rule_firing`` row per (rule, subject, situation) and only calls ``act`` for new
situations. ``scan`` must be a set-based query (no loop over every customer in
Python) that leaves out what already fired — ``ctx.not_fired(...)`` builds that
anti-join — and yields rows as it reads them, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

import attrs


@attrs.frozen
class Candidate:
    subject_id: int
    situation: str
    customer_id: int | None = None
    evidence: Mapping[str, Any] = attrs.field(factory=dict)
    subject_kind: str = "customer"


@attrs.frozen
class ScanContext:
    """What a scheduled rule's query may use."""

    crm: Any
    connection: Any
    now: datetime
    settings: Mapping[str, Any]
    rule: str

    def not_fired(self, subject_column, situation_expr, subject_kind: str = "customer"):
        """A WHERE clause: no firing of this rule for this subject and situation yet."""
        from sqlalchemy import and_, exists, select

        from .db.rule_models import RuleFiring

        return ~exists(select(RuleFiring.id).where(and_(
            RuleFiring.rule == self.rule, RuleFiring.subject_kind == subject_kind,
            RuleFiring.subject_id == subject_column, RuleFiring.situation == situation_expr)))


@attrs.frozen
class RuleSettings:
    """The base of a rule's settings class (``dealercrm_register_settings``, the table named
    after the rule): ``enabled = false`` in ``[plugins.<rule>]`` switches the rule off."""

    enabled: bool = True


class Rule(Protocol):
    #: unique name; also the settings key: ``[plugins.<name>]`` in dealercrm.toml
    name: str
    #: one line for ``dealercrm rules list``
    description: str
    def act(self, candidate: Candidate, ctx) -> None:
        """Do what the situation calls for, through ``ctx`` (task, message, fire)."""

    # optional:
    # defaults: Mapping[str, Any] -- settings for ``ctx.settings`` where the plugin declares no
    #     class for the rule's table; a declared class (``dealercrm_register_settings``, the
    #     way to have the installation's keys checked) carries its own defaults, merged over these
    # def scan(self, ctx: ScanContext) -> Iterable[Candidate]: set-based, run by ``dealercrm tick``
    # def on_event(self, event, ctx) -> Iterable[Candidate] | None: inside the event's transaction
    # events: tuple[type[Event], ...] -- the event classes on_event wants (default: every event)
    # at_risk: bool -- its firings flag customers at risk of being lost: the report's
    #     "loyal customers at risk" lists them until somebody touches them (default: False)


def scanning(rule: Rule) -> bool:
    return callable(getattr(rule, "scan", None))


def reacting(rule: Rule) -> bool:
    return callable(getattr(rule, "on_event", None))


def wants(rule: Rule, event_type: type) -> bool:
    """Whether an event-driven rule asked for events of ``event_type`` (all, if it did not say)."""
    events = getattr(rule, "events", None)
    return events is None or issubclass(event_type, tuple(events))


def candidates(found: Iterable[Candidate] | None) -> list[Candidate]:
    return list(found or ())


def utc_day_text(column, dialect: str):
    """The UTC calendar day of a timestamp column as 'YYYY-MM-DD' text, in SQL: a situation
    made in the scan's query ("quiet-since:2025-01-10") is plain text on every backend."""
    from sqlalchemy import func

    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite stores naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'
