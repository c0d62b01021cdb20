"""The rule engine: rules from plugins, fired once per situation, acting politely.

Event-driven rules run inside the event's transaction (their tasks and messages
commit with the change that caused them); scheduled rules run from ``dealercrm tick``
as set-based scans, in batches. Every firing first claims its (rule, subject,
situation) row — a unique key — inside a savepoint: a re-run, a restart after a crash
or a concurrent tick finds the row and does nothing. Every action goes through
``RuleContext``, which spends the contact budget, respects consent through the outbox
and writes the rule's name on the customer's timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from itertools import islice
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..db.models import Actor, Customer
from ..db.rule_models import RuleFiring
from ..errors import DealerCrmError, PluginError, ValidationError
from ..rules import Candidate, ScanContext, reacting, scanning, wants
from ..settings_schema import as_table
from .base import Service
from .contact_policy import Decision, contacts_in_window, decide
from .interactions import record_interaction
from .outbox import record_contact
from .tasks import create_task

if TYPE_CHECKING:
    from ..events import Event
    from ..rules import Rule
    from ..uow import UnitOfWork

FIRING = RuleFiring.__table__


@attrs.define
class RuleOutcome:
    rule: str
    fired: int = 0
    suppressed: int = 0
    failed: list[tuple[int, str]] = attrs.field(factory=list)
    planned: list[dict] = attrs.field(factory=list)


class RuleContext:
    """The actions a rule may take for one candidate; ``dry_run`` only describes them."""

    def __init__(self, engine: RuleEngine, uow, rule, candidate: Candidate, settings: Mapping[str, Any], dry_run: bool = False):
        self.engine, self.uow, self.rule, self.candidate = engine, uow, rule, candidate
        self.crm, self.settings, self.dry_run = engine.crm, settings, dry_run
        self.now: datetime = uow.now
        self.outcome, self.detail = "noted", dict[str, Any]()
        self.plans: list[str] = []

    # -- actions -------------------------------------------------------------------------
    def task(self, title: str, *, due_in: timedelta = timedelta(days=1), due_at: datetime | None = None,
             customer_id: int | None = None, purpose: str = "marketing", note: str | None = None,
             assigned_party_id: int | None = None, assigned_actor_id: int | None = None,
             case_id: int | None = None, contact_person_id: int | None = None) -> int | None:
        """A follow-up for a person; a marketing-type contact spends the person's budget.
        ``contact_person_id``: the customer's contact person it is about (their technician)."""
        customer_id = customer_id if customer_id is not None else self.candidate.customer_id
        if purpose == "marketing" and customer_id is not None:
            budget = self.crm.settings.contact
            used = contacts_in_window(self.uow.connection, customer_id, "marketing", self.now, budget.window_days)
            if used >= budget.budget:
                self.suppress(f"contact budget spent: {used} of {budget.budget} marketing contacts in "
                              f"{budget.window_days} days")
                return None
        if assigned_party_id is None and assigned_actor_id is None and customer_id is not None:
            # the account owner, while they work there: a task for someone who left is a dead end,
            # so then it goes to the owning party (whose hand-over names a successor)
            assigned_party_id, assigned_actor_id = self.uow.connection.execute(
                select(Customer.owner_party_id, Actor.id)
                .outerjoin(Actor, and_(Actor.id == Customer.account_owner_id, Actor.active.is_(True)))
                .where(Customer.id == customer_id)).one()
        if self.dry_run:
            self.plans.append(f"task for customer {customer_id}: {title}")
            self.outcome = "task"
            return None
        task = create_task(self.uow, title, due_at or self.now + due_in, customer_id=customer_id,
                           assigned_party_id=assigned_party_id, assigned_actor_id=assigned_actor_id, origin="rule",
                           origin_ref=f"rule:{self.rule.name}", note=note, case_id=case_id,
                           contact_person_id=contact_person_id)
        if customer_id is not None:
            record_contact(self.uow, customer_id, purpose, "task", "task", task.id)
            record_interaction(self.uow, customer_id, "system", "internal", f"rule {self.rule.name}: task '{title}'",
                               personal=False, case_id=case_id)
        self.outcome, self.detail["task_id"] = "task", task.id
        return task.id

    def message(self, *, subject: str, body: str, purpose: str = "marketing",
                channels: tuple[str, ...] = ("email", "sms", "whatsapp"), customer_id: int | None = None,
                case_id: int | None = None, data: dict | None = None) -> bool:
        """A message on the first of ``channels`` that may carry it; True if one did.

        When none may (no consent, the contact budget spent, no address on file), the message
        is not dropped: it is kept as suppressed on the first loaded channel, with every
        channel's reason, and a line on the customer's timeline; the firing counts as
        suppressed unless the rule then does something else (a task instead). False.
        """
        customer_id = customer_id if customer_id is not None else self.candidate.customer_id
        if customer_id is None:
            raise ValidationError("customer_id", None, f"rule {self.rule.name}: a message goes to a customer; "
                                  "pass customer_id, or fire for a candidate that names one")
        refused: list[tuple[str, Decision]] = []
        for name in channels:
            channel = self.crm.channels.get(name)
            if channel is None:
                continue
            decision = decide(self.crm, self.uow.connection, customer_id, channel, purpose, self.now)
            if not decision.allowed:
                refused.append((name, decision))
                continue
            if self.dry_run:
                self.plans.append(f"{name} {purpose} message to customer {customer_id}: {subject}")
                return True
            message = self.crm.outbox.enqueue(self.uow, channel=name, purpose=purpose, body=body, subject=subject,
                                              customer_id=customer_id, origin=f"rule:{self.rule.name}",
                                              case_id=case_id, data=data, decision=decision)
            record_interaction(self.uow, customer_id, "system", "internal",
                               f"rule {self.rule.name}: {name} {purpose} message '{subject}'", personal=False,
                               case_id=case_id)
            self.outcome, self.detail["message_id"] = "message", message.id
            return True
        if not refused:
            self.suppress(f"no {purpose} message '{subject}': none of the channels {', '.join(channels) or '(none)'} "
                          "is loaded")
            return False
        reason = refused[0][1].reason if len(refused) == 1 else "; ".join(f"{n}: {d.reason}" for n, d in refused)
        self.outcome, self.detail["reason"] = "suppressed", reason
        if self.dry_run:
            self.plans.append(f"{purpose} message to customer {customer_id} suppressed: {reason}")
            return False
        message = self.crm.outbox.enqueue(self.uow, channel=refused[0][0], purpose=purpose, body=body,
                                          subject=subject, customer_id=customer_id, origin=f"rule:{self.rule.name}",
                                          case_id=case_id, data=data, decision=Decision(False, reason))
        self.detail["message_id"] = message.id
        return False

    def fire(self, case_id: int, trigger: str, *, data: dict | None = None, note: str | None = None) -> None:
        if self.dry_run:
            self.plans.append(f"fire {trigger} on case {case_id}")
            return
        self.crm.cases.fire_in(self.uow, case_id, trigger, data=data, note=note or f"rule {self.rule.name}")
        self.outcome = "fired"

    def suppress(self, reason: str) -> None:
        """Record that the situation was seen but not acted on, and why (never silently)."""
        self.outcome, self.detail["reason"] = "suppressed", reason
        if self.dry_run:
            self.plans.append(f"nothing: {reason}")
        elif self.candidate.customer_id is not None:
            record_interaction(self.uow, self.candidate.customer_id, "system", "internal",
                               f"rule {self.rule.name}: not acted: {reason}", personal=False)
        return None


class RuleEngine(Service):
    _listening: tuple[Any, dict[type, list]] = (None, {})

    @property
    def rules(self) -> dict[str, Any]:
        """The loaded rules by name, from every plugin's ``dealercrm_register_rules``."""
        if not hasattr(self, "_rules"):
            self._rules = load_rules(self.crm)
        return self._rules

    @rules.setter
    def rules(self, rules: dict[str, Any]) -> None:
        """Set by ``crm.register``/``crm.unregister``, which load them afresh first."""
        self._rules = rules

    def settings_for(self, rule: Rule) -> dict[str, Any]:
        """The rule's settings: its ``defaults`` (if it has any), the defaults of the class its plugin declared
        for its table (``dealercrm_register_settings``) and what the installation wrote in its
        ``[plugins.<name>]`` table, in that order.

        What the rule's scan and actions read, so an installation tunes a rule without code.
        Raises nothing.

        Args:
            rule: The rule.

        Returns:
            The settings, a new dict.

        Examples:
            >>> from dealercrm import hookimpl
            >>> from dealercrm.events import InterestNoted
            >>> from dealercrm.rules import Candidate
            >>> class SkiOffer:
            ...     name, events, at_risk, defaults = "ski_offer", (InterestNoted,), False, {"due_days": 3}
            ...     def on_event(self, event, ctx):
            ...         return [Candidate(event.customer_id, event.tag, customer_id=event.customer_id)]
            ...     def scan(self, ctx):
            ...         return []
            ...     def act(self, candidate, ctx):
            ...         ctx.task("offer a roof box", customer_id=candidate.customer_id, purpose="service")
            >>> class SkiPlugin:
            ...     @hookimpl
            ...     def dealercrm_register_rules(self, crm):
            ...         return [SkiOffer()]
            >>> _ = crm.register(SkiPlugin(), "ski_plugin")
            >>> crm.rules.settings_for(crm.rules.rule("ski_offer"))["due_days"]
            3
        """
        declared = self.crm.settings.checked.get(rule.name)
        return {**dict(getattr(rule, "defaults", {}) or {}),
                **(as_table(declared, masked=False) if declared is not None else {}),
                **self.crm.settings.plugin(rule.name)}

    def enabled(self, rule: Rule) -> bool:
        """Whether the rule runs: False when its table says ``enabled = false``, so a rule is
        switched off in the settings without blocking its plugin. Raises nothing.

        Args:
            rule: The rule.

        Returns:
            True unless disabled.

        Examples:
            >>> from dealercrm import hookimpl
            >>> from dealercrm.events import InterestNoted
            >>> from dealercrm.rules import Candidate
            >>> class SkiOffer:
            ...     name, events, at_risk, defaults = "ski_offer", (InterestNoted,), False, {"due_days": 3}
            ...     def on_event(self, event, ctx):
            ...         return [Candidate(event.customer_id, event.tag, customer_id=event.customer_id)]
            ...     def scan(self, ctx):
            ...         return []
            ...     def act(self, candidate, ctx):
            ...         ctx.task("offer a roof box", customer_id=candidate.customer_id, purpose="service")
            >>> class SkiPlugin:
            ...     @hookimpl
            ...     def dealercrm_register_rules(self, crm):
            ...         return [SkiOffer()]
            >>> _ = crm.register(SkiPlugin(), "ski_plugin")
            >>> crm.rules.enabled(crm.rules.rule("ski_offer"))
            True
        """
        return bool(self.settings_for(rule).get("enabled", True))

    def listeners(self, event_type: type) -> list[tuple[Any, Mapping[str, Any]]]:
        """The enabled event-driven rules that want ``event_type``, with their settings.

        Worked out once per event type: every event of every operation passes here
        (three per case transition), and most concern no rule at all. Raises nothing.

        Args:
            event_type: The event class, e.g. ``InterestNoted``.

        Returns:
            ``(rule, settings)`` pairs, the settings read-only.

        Examples:
            >>> from dealercrm import hookimpl
            >>> from dealercrm.events import InterestNoted
            >>> from dealercrm.rules import Candidate
            >>> class SkiOffer:
            ...     name, events, at_risk, defaults = "ski_offer", (InterestNoted,), False, {"due_days": 3}
            ...     def on_event(self, event, ctx):
            ...         return [Candidate(event.customer_id, event.tag, customer_id=event.customer_id)]
            ...     def scan(self, ctx):
            ...         return []
            ...     def act(self, candidate, ctx):
            ...         ctx.task("offer a roof box", customer_id=candidate.customer_id, purpose="service")
            >>> class SkiPlugin:
            ...     @hookimpl
            ...     def dealercrm_register_rules(self, crm):
            ...         return [SkiOffer()]
            >>> _ = crm.register(SkiPlugin(), "ski_plugin")
            >>> "ski_offer" in [rule.name for rule, _ in crm.rules.listeners(InterestNoted)]
            True
        """
        rules = self.rules
        if self._listening[0] is not rules:
            self._listening = (rules, {})
        by_type = self._listening[1]
        found = by_type.get(event_type)
        if found is None:
            found = by_type[event_type] = [(rule, MappingProxyType(self.settings_for(rule))) for rule in rules.values()
                                           if reacting(rule) and wants(rule, event_type) and self.enabled(rule)]
        return found

    def on_event(self, event: Event, uow: UnitOfWork) -> None:
        """Let the event-driven rules act on ``event`` inside its unit of work.

        ``uow.commit()`` calls it for each event (``UnitOfWork.check_events``), so what a
        rule does — a task, a message — commits with the change that caused it, or not at all.

        Args:
            event: The event, raised in ``uow``.
            uow: The open unit of work.

        Raises:
            PluginError: A rule's ``on_event`` or ``act`` failed.
            DealerCrmError: What a rule's action raised on purpose (e.g. ``ValidationError``),
                as it is.

        Examples:
            >>> from dealercrm import hookimpl
            >>> from dealercrm.events import InterestNoted
            >>> from dealercrm.rules import Candidate
            >>> class SkiOffer:
            ...     name, events, at_risk, defaults = "ski_offer", (InterestNoted,), False, {"due_days": 3}
            ...     def on_event(self, event, ctx):
            ...         return [Candidate(event.customer_id, event.tag, customer_id=event.customer_id)]
            ...     def scan(self, ctx):
            ...         return []
            ...     def act(self, candidate, ctx):
            ...         ctx.task("offer a roof box", customer_id=candidate.customer_id, purpose="service")
            >>> class SkiPlugin:
            ...     @hookimpl
            ...     def dealercrm_register_rules(self, crm):
            ...         return [SkiOffer()]
            >>> _ = crm.register(SkiPlugin(), "ski_plugin")
            >>> with crm.uow(lea, "my_plugin.heard") as uow:
            ...     heard = uow.raise_event(InterestNoted, interest_id=0, customer_id=anna, tag="skiing")
            ...     crm.rules.on_event(heard, uow)
            ...     uow.commit()
            >>> crm.rules.last_fired()["ski_offer"][1]
            1
        """
        for rule, settings in self.listeners(type(event)):
            try:
                found = rule.on_event(event, EventContext(self.crm, uow, settings))
            except DealerCrmError:
                raise
            except Exception as exc:
                raise PluginError(rule.name, "on_event", exc) from exc
            for candidate in found or ():
                self.fire(uow, rule, candidate, settings)

    def fire(self, uow: UnitOfWork, rule: Rule, candidate: Candidate, settings: Mapping[str, Any], dry_run: bool = False) -> RuleContext | None:
        """Act on one candidate unless this situation already fired: once per (rule, subject,
        situation), also across re-runs, restarts and concurrent ticks.

        The firing row is claimed in a savepoint first (a unique key); a rule that fails
        rolls back only its own firing.

        Args:
            uow: The open unit of work.
            rule: The rule (``crm.rules.rule(name)``, or a rule object of one's own).
            candidate: Whom, in which situation, and why (``dealercrm.rules.Candidate``).
            settings: The rule's settings (``settings_for``).
            dry_run: Only describe what the rule would do (``ctx.plans``); nothing is claimed or written.

        Returns:
            The rule's context (``outcome``: ``task``, ``message``, ``suppressed`` ...), or None
            when the situation had fired already.

        Raises:
            PluginError: The rule's ``act`` failed.
            DealerCrmError: What the rule's action raised on purpose, as it is.

        Examples:
            >>> from dealercrm.rules import Candidate
            >>> class Welcome:
            ...     name = "welcome"
            ...     def act(self, candidate, ctx):
            ...         ctx.task("welcome call", customer_id=candidate.customer_id, purpose="service")
            >>> with crm.uow(crm.system, "my_plugin.welcome") as uow:
            ...     first = crm.rules.fire(uow, Welcome(), Candidate(anna, "new", customer_id=anna), {})
            ...     again = crm.rules.fire(uow, Welcome(), Candidate(anna, "new", customer_id=anna), {})
            ...     uow.commit()
            >>> (first.outcome, again)
            ('task', None)
        """
        conn = uow.connection
        if dry_run:
            ctx = RuleContext(self, uow, rule, candidate, settings, dry_run=True)
            rule.act(candidate, ctx)
            return ctx
        mark, savepoint = len(uow.events), conn.begin_nested()
        try:
            firing_id = conn.execute(insert(FIRING).values(
                rule=rule.name, subject_kind=candidate.subject_kind, subject_id=candidate.subject_id,
                situation=candidate.situation, customer_id=candidate.customer_id, at=uow.now, outcome="pending",
                detail=dict(candidate.evidence) or None).returning(FIRING.c.id)).scalar_one()
        except IntegrityError:
            savepoint.rollback()
            return None
        ctx = RuleContext(self, uow, rule, candidate, settings)
        try:
            rule.act(candidate, ctx)
            conn.execute(update(FIRING).where(FIRING.c.id == firing_id).values(
                outcome=ctx.outcome, detail={**dict(candidate.evidence), **ctx.detail} or None))
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            uow.forget_events(mark)
            if isinstance(exc, DealerCrmError):
                raise
            raise PluginError(rule.name, "act", exc) from exc
        return ctx

    def run(self, name: str | None = None, *, dry_run: bool = False, batch_size: int = 500,
            on_progress: Callable[[str, int], None] | None = None) -> list[RuleOutcome]:
        """Run scheduled rules (all enabled ones, or one by name) over the whole file: what
        ``dealercrm rules run`` and ``tick`` do.

        As the system, each rule's scan read in one transaction and its candidates acted on
        in batches of ``batch_size``, each batch its own transaction. A candidate that fails
        is reported in its outcome's ``failed`` and the others go on.

        Args:
            name: Only this rule (it must have a scan).
            dry_run: Only say what would happen (``planned``); nothing is written.
            batch_size: Candidates per transaction.
            on_progress: Called with the rule's name and each batch's size (a progress bar).

        Returns:
            One ``RuleOutcome`` per rule run: ``fired``, ``suppressed``, ``failed``, ``planned``.

        Raises:
            NotFound: No rule of that name is loaded.
            DealerCrmError: The named rule has no scan (it reacts to events only).

        Examples:
            >>> from dealercrm import hookimpl
            >>> from dealercrm.events import InterestNoted
            >>> from dealercrm.rules import Candidate
            >>> class SkiOffer:
            ...     name, events, at_risk, defaults = "ski_offer", (InterestNoted,), False, {"due_days": 3}
            ...     def on_event(self, event, ctx):
            ...         return [Candidate(event.customer_id, event.tag, customer_id=event.customer_id)]
            ...     def scan(self, ctx):
            ...         return []
            ...     def act(self, candidate, ctx):
            ...         ctx.task("offer a roof box", customer_id=candidate.customer_id, purpose="service")
            >>> class SkiPlugin:
            ...     @hookimpl
            ...     def dealercrm_register_rules(self, crm):
            ...         return [SkiOffer()]
            >>> _ = crm.register(SkiPlugin(), "ski_plugin")
            >>> crm.rules.run("ski_offer", dry_run=True)
            [RuleOutcome(rule='ski_offer', fired=0, suppressed=0, failed=[], planned=[])]
        """
        chosen = [self.rule(name)] if name else [r for r in self.rules.values() if scanning(r) and self.enabled(r)]
        outcomes = []
        for rule in chosen:
            if not scanning(rule):
                raise DealerCrmError(f"rule {rule.name!r} has no scheduled scan; it reacts to events only")
            outcomes.append(self._run_one(rule, dry_run, batch_size, on_progress))
        return outcomes

    def _run_one(self, rule, dry_run: bool, batch_size: int, on_progress) -> RuleOutcome:
        outcome, settings = RuleOutcome(rule.name), self.settings_for(rule)
        with self.crm.read(self.crm.system) as reader:
            found = iter(rule.scan(ScanContext(self.crm, reader.connection, reader.now, settings, rule.name)) or ())
            while batch := list(islice(found, batch_size)):
                with self.crm.uow(self.crm.system, f"rules.{rule.name}", readonly=dry_run) as uow:
                    for candidate in batch:
                        try:
                            ctx = self.fire(uow, rule, candidate, settings, dry_run=dry_run)
                        except DealerCrmError as exc:
                            outcome.failed.append((candidate.subject_id, str(exc)))
                            continue
                        if ctx is None:
                            continue
                        if dry_run:
                            outcome.planned.append({"subject": candidate.subject_id, "situation": candidate.situation,
                                                    "evidence": dict(candidate.evidence), "would": ctx.plans})
                        outcome.suppressed += ctx.outcome == "suppressed"
                        outcome.fired += ctx.outcome != "suppressed"
                    if not dry_run:
                        uow.commit()
                if on_progress:
                    on_progress(rule.name, len(batch))
        return outcome

    def at_risk(self) -> list[str]:
        """The rules whose firings flag a customer at risk of being lost (``at_risk = True``):
        the report lists those customers until somebody touches them. Raises nothing.

        Returns:
            Their names, sorted.

        Examples:
            >>> all(crm.rules.rule(name).at_risk is True for name in crm.rules.at_risk())
            True
        """
        return sorted(name for name, rule in self.rules.items() if getattr(rule, "at_risk", False) is True)

    def rule(self, name: str) -> Rule:
        """The loaded rule ``name``.

        Args:
            name: The rule's name (as its plugin names it).

        Returns:
            The rule object.

        Raises:
            NotFound: No rule of that name is loaded; the message names those that are.

        Examples:
            >>> from dealercrm import hookimpl
            >>> from dealercrm.events import InterestNoted
            >>> from dealercrm.rules import Candidate
            >>> class SkiOffer:
            ...     name, events, at_risk, defaults = "ski_offer", (InterestNoted,), False, {"due_days": 3}
            ...     def on_event(self, event, ctx):
            ...         return [Candidate(event.customer_id, event.tag, customer_id=event.customer_id)]
            ...     def scan(self, ctx):
            ...         return []
            ...     def act(self, candidate, ctx):
            ...         ctx.task("offer a roof box", customer_id=candidate.customer_id, purpose="service")
            >>> class SkiPlugin:
            ...     @hookimpl
            ...     def dealercrm_register_rules(self, crm):
            ...         return [SkiOffer()]
            >>> _ = crm.register(SkiPlugin(), "ski_plugin")
            >>> crm.rules.rule("ski_offer").name
            'ski_offer'
        """
        try:
            return self.rules[name]
        except KeyError:
            from ..errors import NotFound
            raise NotFound("rule", f"{name} (known: {', '.join(sorted(self.rules)) or 'none'})") from None

    def last_fired(self) -> dict[str, tuple[datetime | None, int]]:
        """Per rule: when it last fired and how often it has (``dealercrm rules list``).

        Read as the system. Raises nothing.

        Returns:
            ``{rule name: (last firing's time, number of firings)}`` for the rules that fired.

        Examples:
            >>> crm.rules.last_fired()
            {}
        """
        with self.read(self.crm.system) as uow:
            rows = uow.connection.execute(select(FIRING.c.rule, func.max(FIRING.c.at), func.count())
                                          .group_by(FIRING.c.rule)).all()
        return {rule: (at, n) for rule, at, n in rows}


@attrs.frozen
class EventContext:
    crm: Any
    uow: Any
    settings: Mapping[str, Any]

    @property
    def connection(self):
        return self.uow.connection

    @property
    def now(self) -> datetime:
        return self.uow.now


def load_rules(crm, without: str | None = None) -> dict[str, Any]:
    """Every plugin's rules by name (``without`` one plugin, to see what unregistering leaves)."""
    return crm.plugins.collect_named("dealercrm_register_rules", "rule", "act", without=without, crm=crm)[0]
