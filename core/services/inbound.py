"""Receiving: every inbound message is stored first, then understood, then acted on.

The raw message is committed before anything else happens, so a parser bug or a
malformed payload loses nothing (it stays with its parse error). An unknown sender's
message waits for a person in triage, as a task. A known sender — by the customer's own
e-mail or phone, else by one of a company customer's contact persons' — has the message
become an interaction on the customer's timeline (naming the contact person who wrote), and then, in the same transaction, as the system:

1. **An opt-out** ("stop", "abmelden", "unsubscribe": ``[inbound] opt_out_keywords``,
   per language, all languages matched) revokes the customer's *marketing* consent on
   the channel it came in on, recorded with the inbound message's id as its source, and
   says so on the timeline. The rule, kept simple on purpose:

   - **clear**: the first non-empty line of the customer's own text (quoted lines and
     a quoted earlier mail cut off) is a keyword phrase and nothing else, ignoring case
     and punctuation ("STOP", "Abmelden!", "opt-out"); a message without text is read by
     its subject (without "Re:"/"AW:"), as a ``mailto:`` unsubscribe arrives. Revoked.
   - **ambiguous**: a keyword phrase occurs anywhere else as whole words ("stop calling
     me about the washer, but…", "Hallo,\\nbitte abmelden"). Nothing is revoked; the
     owning dealer gets a task to read it and decide. So does a clear opt-out on a
     channel without a consent channel of its own (a host's webhook).

   An opt-out never opens a case or fires a reply trigger of its own.

   An automatic answer (an out-of-office reply: the channel sets
   ``data["auto_submitted"]``) is neither an opt-out nor a reason for a case or a task: it
   goes on the timeline, and to a case it names.
2. **A named case** — "case 17"/"Fall 17" in the text, or the channel's own reference
   (an e-mail's In-Reply-To, a WhatsApp reply's context) — takes the message; a
   configured reply trigger may fire ("still broken" reopens the case at the dealer).
   Someone else's case is never attached. The named case also decides whose file the
   message is when the sender's address is on files of more than one dealer; naming none,
   such a message waits in triage like an unknown sender's (no dealer learns of another).
3. **No case named**: ``[inbound] unknown_case`` decides — ``"task"`` (the default: the
   owning dealer's task to read it, answer or open a case), ``"open_case"`` (a case is
   opened at the customer's dealer by the system, on the customer's behalf, audited as
   such; if the customer already has an open case, a task instead, since the message may
   be about that one), or ``"timeline"`` (only the timeline, as before). A table sets it
   per channel: ``unknown_case = { email = "open_case", default = "task" }``.

Every task made here has ``origin_ref = "inbound:<id>"``: erasing the customer takes it too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import attrs
from sqlalchemy import insert, or_, select, update

from .. import validation
from ..access import require_system
from ..channels import InboundIgnored
from ..db.case_models import Case
from ..db.models import Actor, AuditRecord, Consent, ContactPerson, Customer, Party
from ..db.outbox_models import InboundMessage
from ..errors import DealerCrmError, NotFound, ValidationError
from ..events import MessageReceived
from ..unsubscribe import UnsubscribeLinks
from ..uow import readonly_engine
from .base import Service
from .interactions import record_interaction
from .tasks import create_task

CASE_REFERENCE = re.compile(r"\b(?:case|fall|vorgang)\s*(?:no\.?|nr\.?)?\s*#?\s*(\d+)\b", re.IGNORECASE)
DEFAULT_TRIGGERS = (
    {"contains": "still broken", "trigger": "still_broken"},
    {"contains": "immer noch kaputt", "trigger": "still_broken"},
    {"contains": "geht immer noch nicht", "trigger": "still_broken"},
)
#: what a known customer's message naming no case does (``[inbound] unknown_case``)
UNKNOWN_CASE_ACTIONS = ("task", "open_case", "timeline")
DEFAULT_UNKNOWN_CASE = "task"
#: opt-out phrases per language (``[inbound] opt_out_keywords``; a language given there replaces these)
DEFAULT_OPT_OUT = {
    "de": ["stop", "stopp", "abmelden", "bitte abmelden", "abbestellen", "austragen", "bitte austragen",
           "keine werbung", "werbung stoppen"],
    "en": ["stop", "unsubscribe", "please unsubscribe", "unsubscribe me", "opt out", "no more offers",
           "stop promotions"],
}
#: keys of ``[inbound]`` that are not channel tables (``dealercrm.http.inbound_auth``)
SETTINGS_KEYS = ("triggers", "unknown_case", "opt_out_keywords")
REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|antw|fwd?|wg)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
#: where a quoted earlier mail begins when a mail program quotes without ">" (Outlook and friends)
QUOTE_START = re.compile(r"^\s*(?:-{2,}\s*(?:original message|ursprüngliche nachricht|weitergeleitete nachricht|"
                         r"forwarded message)\b.*|on .+ wrote:|am .+ schrieb .+:|(?:from|von):\s.+)$",
                         re.IGNORECASE)
IN = InboundMessage.__table__


def words(text: str) -> str:
    """Lower-case words separated by single spaces: "Opt-Out!" and "opt out" read alike."""
    return " ".join(re.findall(r"\w+", text.casefold()))


def own_text(text: str) -> str:
    """The customer's own words: everything before a quoted earlier mail."""
    kept = []
    for line in text.splitlines():
        if QUOTE_START.match(line):
            break
        kept.append(line)
    return "\n".join(kept)


@attrs.frozen
class InboundRules:
    """``[inbound]``'s rules for acting on messages, checked once."""

    triggers: tuple[Mapping[str, str], ...]
    unknown_case: Mapping[str, str]  # per channel name, "default" for the rest
    opt_out: frozenset[str]          # phrases as ``words`` reads them

    def unknown_case_for(self, channel: str) -> str:
        return self.unknown_case.get(channel, self.unknown_case.get("default", DEFAULT_UNKNOWN_CASE))

    def opt_out_reading(self, text: str, subject: str | None) -> tuple[str | None, str | None]:
        """("clear" | "ambiguous" | None, the phrase found): the documented rule above."""
        mine = own_text(text)
        lines = [line for line in mine.splitlines() if line.strip()]
        topic = REPLY_PREFIX.sub("", subject or "")
        first = words(lines[0]) if lines else words(topic)
        if first in self.opt_out:
            return "clear", first
        haystack = f" {words(mine)} {words(topic)} "
        for phrase in sorted(self.opt_out, key=len, reverse=True):
            if f" {phrase} " in haystack:
                return "ambiguous", phrase
        return None, None


def inbound_rules(table: Mapping[str, Any], source: str = "settings") -> InboundRules:
    """Read and check ``[inbound]``'s ``triggers``, ``unknown_case`` and ``opt_out_keywords``."""
    where = f"[inbound] of {source}"
    triggers = table.get("triggers", DEFAULT_TRIGGERS)
    if not isinstance(triggers, (list, tuple)) or not all(
            isinstance(t, Mapping) and isinstance(t.get("contains"), str) and isinstance(t.get("trigger"), str)
            for t in triggers):
        raise ValidationError("triggers", "…", f'must be a list of {{contains = "…", trigger = "…"}} in {where}')
    raw = table.get("unknown_case", DEFAULT_UNKNOWN_CASE)
    unknown = {"default": raw} if isinstance(raw, str) else dict(raw) if isinstance(raw, Mapping) else None
    if unknown is None:
        raise ValidationError("unknown_case", raw, f"must be one of {', '.join(UNKNOWN_CASE_ACTIONS)} or a table "
                              f"of them per channel in {where}")
    for channel, action in unknown.items():
        if action not in UNKNOWN_CASE_ACTIONS:
            name = "unknown_case" if channel == "default" and isinstance(raw, str) else f"unknown_case.{channel}"
            raise ValidationError(name, action, f"must be one of {', '.join(UNKNOWN_CASE_ACTIONS)} in {where}")
    given = table.get("opt_out_keywords", {})
    if not isinstance(given, Mapping):
        raise ValidationError("opt_out_keywords", given, f'must be a table of lists per language, e.g. '
                              f'{{ de = ["stop", "abmelden"] }}, in {where}')
    phrases: set[str] = set()
    for language, listed in {**DEFAULT_OPT_OUT, **given}.items():
        if not isinstance(listed, (list, tuple)) or not all(isinstance(p, str) and words(p) for p in listed):
            raise ValidationError(f"opt_out_keywords.{language}", listed,
                                  f"must be a list of words or phrases in {where}")
        phrases |= {words(p) for p in listed}
    return InboundRules(tuple(triggers), unknown, frozenset(phrases))


class InboundService(Service):
    @cached_property
    def rules(self) -> InboundRules:
        """``[inbound]``'s rules; a mistake there is raised before any message is stored."""
        return inbound_rules(self.crm.settings.inbound, self.crm.settings.source)

    @cached_property
    def links(self) -> UnsubscribeLinks:
        """The one-click unsubscribe links (``[unsubscribe]``, ``dealercrm.unsubscribe``)."""
        return UnsubscribeLinks.from_settings(self.crm.settings.unsubscribe, source=self.crm.settings.source)

    def receive(self, channel: str, raw: str | bytes, headers: Mapping[str, str] | None = None) -> InboundMessage:
        """Store a message a channel received, then act on it: what ``/inbound/<channel>`` calls.

        Stored first, in a transaction of its own, so nothing received is lost (a payload the
        channel cannot parse stays as ``malformed`` with the reason); then matched to a
        customer and case and acted on as the ``[inbound]`` settings say (an opt-out reply
        revokes marketing consent, a trigger word fires on the case, an unknown sender opens a
        triage task). Runs as the system: the sender is no actor. Raises ``MessageReceived``.

        Args:
            channel: The loaded channel that received it (it parses ``raw``), e.g. ``"email"``.
            raw: The message as the channel delivered it (a MIME mail, a JSON payload).
            headers: The request's headers, for channels that read them (signatures).

        Returns:
            The stored message, with its ``status``: ``attached``, ``triage``, ``ignored`` or
            ``malformed``.

        Raises:
            ValidationError: The ``[inbound]`` settings are wrong (nothing is stored then), or
                an unknown sender's message arrives before any dealer exists.
            Vetoed: A plugin refused the message's events (the raw message stays stored).

        Examples:
            >>> message = crm.inbound.receive("fax", "Still broken!")
            >>> (message.status, message.parse_error, message.raw)
            ('malformed', "no channel 'fax' that parses inbound", 'Still broken!')
        """
        rules = self.rules  # a broken [inbound] table fails here, before anything is stored
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        with self.crm.uow(self.crm.system, "inbound.store") as uow:  # durable before interpretation
            stored = InboundMessage(channel=channel, raw=text, received_at=uow.now)
            uow.session.add(stored)
            uow.commit()
        parser = getattr(self.crm.channels.get(channel), "parse_inbound", None)
        if parser is None:
            return self._mark(stored.id, status="malformed", parse_error=f"no channel {channel!r} that parses inbound")
        try:
            parsed = parser(raw, dict(headers or {}))
        except InboundIgnored as ignored:  # a delivery status, not a message: kept, not triaged
            return self._mark(stored.id, status="ignored", parse_error=ignored.reason[:500], sender=ignored.sender)
        except Exception as exc:  # malformed payloads are kept with the reason
            return self._mark(stored.id, status="malformed", parse_error=f"{type(exc).__name__}: {exc}")
        return self._interpret(stored.id, channel, parsed, rules)

    def _mark(self, inbound_id: int, **values: Any) -> InboundMessage:
        with self.crm.uow(self.crm.system, "inbound.mark") as uow:
            uow.connection.execute(update(IN).where(IN.c.id == inbound_id).values(**values))
            uow.commit()
        return self.get(inbound_id, by=self.crm.system)

    def _interpret(self, inbound_id: int, channel: str, parsed, rules: InboundRules) -> InboundMessage:
        with self.crm.uow(self.crm.system, "inbound.receive") as uow:
            customer_id, contact_id, case_id = self._sender_and_case(uow, parsed)
            values: dict[str, Any] = dict(sender=parsed.sender, subject=parsed.subject, customer_id=customer_id,
                                          case_id=case_id)
            if customer_id is None:
                home = self.crm.parties.home_dealer(uow)
                create_task(uow, f"triage: message from unknown sender {parsed.sender or '(none)'}", uow.now,
                            assigned_party_id=home, origin="rule", origin_ref=f"inbound:{inbound_id}",
                            note=(parsed.subject or "") + "\n" + parsed.text[:1000])
                values["status"] = "triage"
            else:
                act = Acting(self, uow, inbound_id, channel, customer_id, parsed)
                automatic = bool(parsed.data.get("auto_submitted")) if parsed.data else False
                reading, phrase = (None, None) if automatic else rules.opt_out_reading(parsed.text, parsed.subject)
                if case_id is None and reading is None and not automatic:
                    case_id = values["case_id"] = act.unknown_case(rules.unknown_case_for(channel))
                summary = f"{parsed.subject + ': ' if parsed.subject else ''}{parsed.text.strip()[:300]}"
                talk = record_interaction(uow, customer_id, _timeline_channel(self.crm, channel), "inbound",
                                          summary or "(empty message)", case_id=case_id,
                                          contact_person_id=contact_id)
                values.update(status="attached", interaction_id=talk.id)
                if reading is not None:
                    act.opt_out(reading, phrase, case_id)
                if case_id is not None and reading != "clear":
                    values["fired_trigger"] = self._fire(uow, case_id, parsed.text + " " + (parsed.subject or ""),
                                                         rules)
            uow.connection.execute(update(IN).where(IN.c.id == inbound_id).values(**values))
            uow.raise_event(MessageReceived, inbound_id=inbound_id, channel=channel, customer_id=customer_id,
                            case_id=case_id, status=values["status"])
            uow.commit()
        return self.get(inbound_id, by=self.crm.system)

    def _sender_and_case(self, uow, parsed) -> tuple[int | None, int | None, int | None]:
        """(customer, contact person, case) of the message: whose it is, and the case it names.

        One address may be on files of several dealers — the same person a customer of two,
        or a file another dealer gave her address, deliberately or not — so the address
        alone never picks one dealer's file over another's: a case the message names
        decides (one of a file carrying the sender's address), else the address must lead
        to one dealer only (its lowest file: a family's shared landline), else nobody's —
        the message waits in triage as from an unknown sender, and no dealer reads it."""
        found = self._senders(uow, parsed.sender)
        if not found:
            return None, None, None
        named = self._named_case(parsed)
        if named is not None:
            owner = uow.connection.execute(select(Case.customer_id).where(Case.id == named)).scalar()
            for customer_id, contact_id, _ in found:
                if customer_id == owner:
                    return customer_id, contact_id, named
        if len({dealer for *_, dealer in found}) > 1:
            return None, None, None
        customer_id, contact_id, _ = found[0]
        return customer_id, contact_id, None

    def _senders(self, uow, sender: str | None) -> list[tuple[int, int | None, int | None]]:
        """Every live file the sender's address is on: (customer, contact person, dealer).

        The customer's own e-mail or phone first; only if none has it, the contact persons
        of company customers (their buyer writing from her own address), whose message is
        then on the company's timeline naming her. A merged duplicate's address leads to
        the file kept."""
        if not sender:
            return []
        candidates = []
        for normalise in (validation.email, lambda v: validation.phone(v, self.crm.settings.default_region)):
            try:
                candidates.append(normalise(sender))
            except DealerCrmError:
                pass
        if not candidates:
            return []
        own = uow.connection.execute(
            select(Customer.id, Customer.merged_into_id, Customer.owner_party_id)
            .where(or_(Customer.email.in_(candidates), Customer.phone.in_(candidates)), Customer.erased_at.is_(None))
            .order_by(Customer.id)).all()
        if own:
            return [(row.merged_into_id or row.id, None, row.owner_party_id) for row in own]
        contacts = uow.connection.execute(
            select(ContactPerson.id, ContactPerson.customer_id, Customer.merged_into_id, Customer.owner_party_id)
            .join(Customer, Customer.id == ContactPerson.customer_id)
            .where(or_(ContactPerson.email.in_(candidates), ContactPerson.phone.in_(candidates)),
                   Customer.erased_at.is_(None))
            .order_by(ContactPerson.id)).all()
        # a tombstone's contact person: the message goes to the file kept, naming nobody
        return [(row.merged_into_id, None, row.owner_party_id) if row.merged_into_id is not None
                else (row.customer_id, row.id, row.owner_party_id) for row in contacts]

    @staticmethod
    def _named_case(parsed) -> int | None:
        """The case the message names: the channel's own reference (an e-mail's In-Reply-To,
        a WhatsApp reply's context), else "case 17"/"Fall 17" in its subject or text."""
        named = parsed.data.get("case_id") if parsed.data else None
        if named is None:
            match = CASE_REFERENCE.search(f"{parsed.subject or ''} {parsed.text}")
            named = match.group(1) if match else None
        return int(named) if named is not None and str(named).isdigit() else None

    def _fire(self, uow, case_id: int, text: str, rules: InboundRules) -> str | None:
        lowered = text.lower()
        trigger = next((r["trigger"] for r in rules.triggers if r["contains"].lower() in lowered), None)
        if trigger is None:
            return None
        mark, savepoint = len(uow.events), uow.connection.begin_nested()
        try:
            self.crm.cases.fire_in(uow, case_id, trigger, note="the customer replied")
            uow.check_events()
            savepoint.commit()
            return trigger
        except DealerCrmError as exc:  # e.g. the case is not awaiting confirmation: keep the message, note why
            savepoint.rollback()
            uow.forget_events(mark)
            return f"{trigger} not fired: {exc}"

    # -- one-click unsubscribe (RFC 8058) --------------------------------------------------
    def unsubscribe_link(self, customer_id: int, channel: str = "email") -> str | None:
        """The one-click link that revokes the customer's marketing consent on ``channel``, for
        a marketing message's footer and ``List-Unsubscribe`` header (RFC 8058).

        Args:
            customer_id: The customer.
            channel: The consent channel the link revokes.

        Returns:
            The link (``<base_url>/unsubscribe/<token>``, signed), or None when ``[unsubscribe]``
            has no ``base_url`` and secret.

        Raises:
            ValidationError: The ``[unsubscribe]`` settings are wrong (a short secret, a base URL
                that is no http(s) URL).

        Examples:
            >>> crm.inbound.unsubscribe_link(anna) is None  # nothing configured here
            True
            >>> import attrs
            >>> from dealercrm.settings import UnsubscribeSettings
            >>> links = UnsubscribeSettings(base_url="https://crm.example.org", secret="a-long-random-secret")
            >>> shop = dealercrm.connect(str(crm.engine.url), settings=attrs.evolve(crm.settings, unsubscribe=links))
            >>> shop.inbound.unsubscribe_link(anna, "phone")  # doctest: +ELLIPSIS
            'https://crm.example.org/unsubscribe/1.phone...'
            >>> shop.close()
        """
        return self.links.url(customer_id, channel)

    def unsubscribe_sender(self, token: str) -> str | None:
        """Whose offers the link stops: the name of the token's customer's own dealer, for
        the page that asks and confirms (a customer of one dealer of a shared installation
        must read her dealer's name, not the installation's).

        Args:
            token: The token, the link's last part.

        Returns:
            The dealer's name; None for a token that is not genuine or a customer that no
            longer exists.

        Raises nothing: a forged or stale token is simply None.

        Examples:
            >>> import attrs
            >>> from dealercrm.settings import UnsubscribeSettings
            >>> links = UnsubscribeSettings(base_url="https://crm.example.org", secret="a-long-random-secret")
            >>> shop = dealercrm.connect(str(crm.engine.url), settings=attrs.evolve(crm.settings, unsubscribe=links))
            >>> token = shop.inbound.unsubscribe_link(anna, "phone").rsplit("/", 1)[1]
            >>> shop.inbound.unsubscribe_sender(token) == shop.parties.get(dealer, by=lea).name
            True
            >>> shop.inbound.unsubscribe_sender("1.phone.forged") is None
            True
            >>> shop.close()
        """
        found = self.links.read(token)
        if found is None:
            return None
        with readonly_engine(self.crm).connect() as conn:  # a read: no write lock
            return conn.execute(select(Party.name).join(Customer, Customer.owner_party_id == Party.id)
                                .where(Customer.id == found[0])).scalar()

    def unsubscribe(self, token: str) -> Unsubscribed:
        """Revoke marketing on the token's channel for the token's customer, as the system.

        What the link from ``unsubscribe_link`` does when followed: no sign-in, the signed
        token is the proof. A repeat, or a customer who had no marketing consent left,
        records nothing new; an erased customer's link records nothing; a merged customer's
        revokes on the one kept.

        Args:
            token: The token, the link's last part.

        Returns:
            Whom and which channel it was for, and whether anything was revoked now (``Unsubscribed``).

        Raises:
            NotFound: The token is not genuine, or its customer or channel does not exist
                (nothing changes).
            ValidationError: The ``[unsubscribe]`` settings are wrong.

        Examples:
            >>> import attrs
            >>> from dealercrm.settings import UnsubscribeSettings
            >>> links = UnsubscribeSettings(base_url="https://crm.example.org", secret="a-long-random-secret")
            >>> shop = dealercrm.connect(str(crm.engine.url), settings=attrs.evolve(crm.settings, unsubscribe=links))
            >>> _ = shop.consents.grant(anna, "phone", "marketing", source="signed form", by=lea)
            >>> token = shop.inbound.unsubscribe_link(anna, "phone").rsplit("/", 1)[1]
            >>> shop.inbound.unsubscribe(token)
            Unsubscribed(customer_id=1, channel='phone', revoked=True)
            >>> shop.consents.may_contact(anna, "phone", "marketing", by=lea)
            False
            >>> shop.close()
        """
        found = self.links.read(token)
        if found is None or found[1] not in self.crm.consents.channels():
            raise NotFound("unsubscribe link", "(this one)")
        customer_id, channel = found
        with self.crm.uow(self.crm.system, "inbound.unsubscribe") as uow:
            row = uow.connection.execute(select(Customer.merged_into_id, Customer.erased_at)
                                         .where(Customer.id == customer_id)).first()
            if row is None:
                raise NotFound("unsubscribe link", "(this one)")
            customer_id = row.merged_into_id or customer_id
            latest = uow.session.scalar(
                select(Consent.granted).where(Consent.customer_id == customer_id, Consent.channel == channel,
                                              Consent.purpose == "marketing", Consent.at <= uow.now)
                .order_by(Consent.at.desc(), Consent.id.desc()).limit(1))
            if row.erased_at is not None or latest is False:
                return Unsubscribed(customer_id, channel, revoked=False)
            with self.crm.joining(uow.connection):  # the one consent path, inside this transaction
                self.crm.consents.revoke(customer_id, channel, "marketing", by=self.crm.system,
                                         source="one-click unsubscribe link (List-Unsubscribe, RFC 8058)")
            record_interaction(uow, customer_id, "system", "internal",
                               f"marketing on {channel} revoked: the customer used the unsubscribe link",
                               personal=False)
            uow.commit()
        return Unsubscribed(customer_id, channel, revoked=True)

    # -- reading ---------------------------------------------------------------------------
    def get(self, inbound_id: int, *, by: int) -> InboundMessage:
        """A stored inbound message, raw as received: the operator's (the system's) to read.

        Args:
            inbound_id: The stored message.
            by: The acting actor's id: the system.

        Returns:
            The message, with its status, sender, customer, case and parse error.

        Raises:
            NotFound: No such message; or ``by`` is no actor.
            NotPermitted: The actor is not the system, or ``by`` is deactivated.

        Examples:
            >>> message = crm.inbound.receive("fax", "Still broken!")
            >>> crm.inbound.get(message.id, by=crm.system).raw
            'Still broken!'
        """
        with self.read(by) as uow:
            require_system(uow.principal, "read inbound messages")
            return uow.get(InboundMessage, inbound_id, "inbound message")

    def triage(self, limit: int = 100, *, by: int) -> list[InboundMessage]:
        """Messages that need a person, oldest first: from unknown senders (``triage``) or not
        understood (``malformed``). The operator's.

        Args:
            limit: At most this many.
            by: The acting actor's id: the system.

        Returns:
            The messages.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is not the system, or ``by`` is deactivated.

        Examples:
            >>> message = crm.inbound.receive("fax", "Still broken!")
            >>> [m.status for m in crm.inbound.triage(by=crm.system)]
            ['malformed']
        """
        with self.read(by) as uow:
            require_system(uow.principal, "read inbound messages")
            return list(uow.session.scalars(select(InboundMessage).where(
                InboundMessage.status.in_(("triage", "malformed"))).order_by(InboundMessage.id).limit(limit)))


@attrs.frozen
class Unsubscribed:
    customer_id: int
    channel: str
    revoked: bool  # False: nothing new to record (already revoked, or the customer was erased)


class Acting:
    """What a known customer's message does, inside its interpretation's unit of work (as the system)."""

    def __init__(self, service: InboundService, uow, inbound_id: int, channel: str, customer_id: int, parsed):
        self.crm, self.uow, self.inbound_id, self.channel = service.crm, uow, inbound_id, channel
        self.customer_id, self.parsed = customer_id, parsed
        self.customer = uow.connection.execute(
            select(Customer.name, Customer.owner_party_id, Customer.account_owner_id)
            .where(Customer.id == customer_id)).one()

    def _task(self, title: str, case_id: int | None = None) -> None:
        """A task for the owning dealer, through the account owner if they work there."""
        owner = self.customer.account_owner_id
        if owner is not None:
            owner = self.uow.connection.execute(select(Actor.id).where(
                Actor.id == owner, Actor.party_id == self.customer.owner_party_id, Actor.active.is_(True))).scalar()
        note = ((self.parsed.subject or "") + "\n" + self.parsed.text[:1000]).strip()
        create_task(self.uow, title, self.uow.now, customer_id=self.customer_id,
                    assigned_party_id=self.customer.owner_party_id, assigned_actor_id=owner, origin="rule",
                    origin_ref=f"inbound:{self.inbound_id}", note=note or None, case_id=case_id)

    def unknown_case(self, action: str) -> int | None:
        """``[inbound] unknown_case``: the case opened for the message, if one was."""
        if action == "timeline":
            return None
        who = f"{self.customer.name} (customer {self.customer_id})"
        if action == "open_case":
            open_cases = self.uow.connection.execute(select(Case.id).where(
                Case.customer_id == self.customer_id, Case.closed_at.is_(None)).order_by(Case.id)).scalars().all()
            if open_cases:
                listed = ", ".join(str(i) for i in open_cases)
                self._task(f"{self.channel} message from {who} names no case; open case(s) {listed}: attach it "
                           "there, answer, or open a new case")
                return None
            try:
                return self._open_case()
            except DealerCrmError as exc:  # a plugin vetoed, the workflow refused: a person takes over
                self._task(f"{self.channel} message from {who} names no case; opening one failed ({exc}): "
                           "read it and open a case")
                return None
        self._task(f"{self.channel} message from {who} names no case: read it, answer, or open a case")
        return None

    def _open_case(self) -> int:
        """Opened by the system on the customer's behalf at their dealer, and audited as such."""
        subject = REPLY_PREFIX.sub("", self.parsed.subject or "").strip()
        first = next((line.strip() for line in own_text(self.parsed.text).splitlines() if line.strip()), "")
        summary = (subject or first or f"({self.channel} message without text)")[:200]
        with self.crm.joining(self.uow.connection):  # the one way cases open, inside this transaction
            case = self.crm.cases.open(self.customer_id, summary, by=self.crm.system)
        self.uow.connection.execute(insert(AuditRecord.__table__).values(
            at=self.uow.now, actor_id=self.uow.actor_id, operation="inbound.open_case", action="on_behalf",
            entity="service_case", entity_id=case.id, customer_id=self.customer_id, personal_changes=None,
            changes={"opened_by": "system", "on_behalf_of": "customer", "customer_id": self.customer_id,
                     "inbound_message_id": self.inbound_id, "channel": self.channel}))
        return case.id

    def opt_out(self, reading: str, phrase: str | None, case_id: int | None) -> None:
        who = f"{self.customer.name} (customer {self.customer_id})"
        consent_channel = getattr(self.crm.channels.get(self.channel), "consent_channel", None)
        if reading == "clear" and consent_channel in self.crm.consents.channels():
            try:
                with self.crm.joining(self.uow.connection):  # the one consent path, inside this transaction
                    self.crm.consents.revoke(
                        self.customer_id, consent_channel, "marketing", by=self.crm.system,
                        source=f"inbound message {self.inbound_id} ({self.channel}): opt-out reply '{phrase}'")
            except DealerCrmError as exc:
                self._task(f"opt-out from {who} on {self.channel} ('{phrase}') could not be recorded ({exc}): "
                           "revoke marketing consent by hand", case_id)
                return
            record_interaction(self.uow, self.customer_id, "system", "internal",
                               f"marketing on {consent_channel} revoked: the customer replied '{phrase}' "
                               f"(inbound message {self.inbound_id})", personal=False, case_id=case_id)
            return
        why = ("the message says more than that" if reading == "ambiguous"
               else f"channel {self.channel!r} has no consent channel of its own")
        self._task(f"opt-out? {who} wrote '{phrase}' on {self.channel} ({why}): read it and revoke marketing "
                   "consent if that is what they meant", case_id)


def _timeline_channel(crm, channel: str) -> str:
    from .interactions import timeline_channels

    return channel if channel in timeline_channels(crm) else "webhook"
