"""One unit of work per business operation: one transaction, events after commit.

Leaving the ``with`` block without ``commit()`` rolls everything back, whatever
happened inside. The unit holds one connection with its transaction begun up front
(``BEGIN IMMEDIATE`` on SQLite for writers); ``uow.connection`` serves the Core hot
paths (case transitions, imports) and ``uow.session`` — created on first use and
joined to the same transaction — serves the ORM services. Events raised during the
operation are checked by plugins inside the transaction (they may veto) and handed
to plugins after the commit succeeded.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from .audit import AuditedSession
from .errors import NotFound, ValidationError
from .events import Event

if TYPE_CHECKING:
    from .app import CRM

T = TypeVar("T")

#: One read-only view of each application's engine, made once: ``execution_options()``
#: builds a new proxy engine on every call (as long as the rest of opening a read). Keyed
#: by the application, which the view does not reference, so both go away together.
_READONLY: WeakKeyDictionary[CRM, tuple[Engine, Engine]] = WeakKeyDictionary()


def readonly_engine(crm: CRM) -> Engine:
    engine, view = _READONLY.get(crm, (None, None))
    if engine is not crm.engine:
        engine, view = _READONLY[crm] = crm.engine, crm.engine.execution_options(dealercrm_readonly=True)
    return view


class UnitOfWork:
    def __init__(self, crm: CRM, actor_id: int | None, operation: str, readonly: bool = False):
        self.crm = crm
        self.actor_id = actor_id if actor_id is not None else crm.system_actor_id
        self.operation = operation
        self.now: datetime = crm.clock.now()
        self.events: list[Event] = []
        self.committed = False
        self._checked = 0  # events already seen by dealercrm_check_event
        #: lookups worth doing once per operation (the acting actor, for each case a tick escalates)
        self.memo: dict[Any, Any] = {}
        bind = readonly_engine(crm) if readonly else crm.engine
        self.connection = bind.connect()
        self.connection.begin()
        self._session: AuditedSession | None = None

    @property
    def session(self) -> AuditedSession:
        if self._session is None:
            self._session = AuditedSession(bind=self.connection, expire_on_commit=False, autoflush=True,
                                           join_transaction_mode="rollback_only")
            self._session.info.update(now=self.now, actor_id=self.actor_id, operation=self.operation)
        return self._session

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._session is not None:
                if not self.committed:
                    # detach first: a rollback would expire what a read already loaded
                    self._session.expunge_all()
                self._session.close()
            if not self.committed:
                self.connection.rollback()
        finally:
            self.connection.close()

    def raise_event(self, event_cls: type[Event], **fields: Any) -> Event:
        event = event_cls(at=self.now, actor_id=self.actor_id, **fields)
        self.events.append(event)
        return event

    def get(self, model: type[T], ident: int, kind: str | None = None) -> T:
        obj = self.session.get(model, ident)
        if obj is None:
            raise NotFound(kind or model.__tablename__, ident)
        return obj

    def flush(self) -> None:
        if self._session is None:
            return
        try:
            self._session.flush()
        except IntegrityError as exc:
            raise integrity_error(exc) from exc

    def check_events(self) -> None:
        """Let plugins check (and veto) the events raised so far, inside the transaction."""
        self.flush()
        while self._checked < len(self.events):  # a checker may raise further events
            event = self.events[self._checked]
            self.crm.plugins.checked_call("dealercrm_check_event", event=event, uow=self)
            self.crm.rules.on_event(event, self)
            self._checked += 1
        self.flush()

    def forget_events(self, keep: int) -> None:
        """Drop events raised after the first ``keep`` (their savepoint was rolled back)."""
        del self.events[keep:]
        self._checked = min(self._checked, keep)

    def commit(self) -> None:
        self.check_events()
        try:
            self.connection.commit()
        except IntegrityError as exc:
            raise integrity_error(exc) from exc
        self.committed = True
        self.crm.publish(self.events)


def integrity_error(exc: IntegrityError) -> ValidationError:
    """Constraint violations that slipped past the service checks, in plain words."""
    text = str(exc.orig).splitlines()[0]
    return ValidationError("record", text, "violates a database constraint")
