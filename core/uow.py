"""One unit of work per business operation: its actor, one transaction, events after commit.

Every unit of work is carried out by an actor (``by``), read in its own transaction as
the first thing it does (or, with ``defer_principal``, beside the operation's first row in
the same statement, and checked before that row is looked at): an unknown actor is
``NotFound``, an inactive one ``NotPermitted``, before anything is written.
``uow.principal`` is what the access rules (``dealercrm.access``) decide on, inside the
same transaction as the write — no check in one transaction and act in another.

Leaving the ``with`` block without ``commit()`` rolls everything back, whatever
happened inside. The unit holds one connection with its transaction begun up front
(``BEGIN IMMEDIATE`` on SQLite for writers). On SQLite a writing unit first takes this
process's write lock of the database file (``dealercrm.db.write_lock``: fair, handed
over without SQLite's busy-handler sleeps), before it checks out a connection, and
lets go of it as soon as its transaction committed or rolled back — before the events
are published. ``uow.connection`` serves the Core hot
paths (case transitions, imports) and ``uow.session`` — created on first use and
joined to the same transaction — serves the ORM services. Events raised during the
operation are checked by plugins inside the transaction (they may veto) and handed
to plugins after the commit succeeded.

**Joining the host's transaction.** ``crm.uow(by, connection=host)`` runs inside a
transaction the host already began on the same database (a SQLAlchemy ``Connection``
or ``Session``). dealercrm then never commits or rolls back that transaction: its own
work sits in a savepoint (a failed operation rolls back only that), ``commit()`` only
releases the savepoint, and the events wait for the host's commit — published after
it, dropped on its rollback. Outbox rows and case history rows, being rows, commit or
vanish with the host; the notices a committed case event calls for are queued later by
the dispatcher (``dealercrm.services.notices``).
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from .access import Principal, check_actor_id, load_principal, principal_of
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


class Rider(Protocol):
    """Work that rides along in the transaction of the next writing unit of work that
    commits in this context (``RIDER``): the HTTP API's idempotency claim is written with
    the operation it claims, so the two commit together or not at all.

    A rider may also *hold* that commit (``holds``): the transaction stays open, its write
    lock held, until the rider has written the rest of what belongs with it — the HTTP
    API's answer to the request, known only once the operation returned — and ends it
    (``UnitOfWork.release``). Meanwhile a read beginning in the same context joins the held
    transaction (it sees what the operation wrote; it never commits or rolls it back: a read
    through Core needs no savepoint, one through an ORM session gets one, so a failed flush
    undoes only the read), and another writing unit of work first has the held one committed
    (``next_unit``)."""

    pending: bool

    def holds(self, uow: UnitOfWork) -> bool:
        """Take over ``uow``'s commit instead of riding now (True), or not (False: ``ride``)."""

    def ride(self, uow: UnitOfWork) -> None:
        """Write, inside ``uow``'s transaction, just before it commits (may raise: then it rolls back)."""

    def committed(self) -> None:
        """``uow`` committed with what ``ride`` wrote."""

    def next_unit(self, readonly: bool) -> UnitOfWork | None:
        """Another unit of work begins in this context: for a read, the held unit whose
        transaction it joins (None: none held); for a write, a held one is committed now (may
        raise: then it rolled back)."""


#: the rider of the current request (set by the HTTP API around a keyed POST)
RIDER: ContextVar[Rider | None] = ContextVar("dealercrm_rider", default=None)


def readonly_engine(crm: CRM) -> Engine:
    engine, view = _READONLY.get(crm, (None, None))
    if engine is not crm.engine:
        engine, view = _READONLY[crm] = crm.engine, crm.engine.execution_options(dealercrm_readonly=True)
    return view



def integrity_error(exc: IntegrityError) -> ValidationError:
    """A constraint violation that slipped past the service checks (a plugin's own rows through
    ``uow.session``), in plain words: the database's first line names the constraint."""
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
    return ValidationError("record", text, "violates a database constraint")

class UnitOfWork:
    def __init__(self, crm: CRM, by: int | Principal, operation: str, readonly: bool = False,
                 connection: Connection | Session | None = None, defer_principal: bool = False):
        self.crm = crm
        self.operation = operation
        self.now: datetime = crm.clock.now()
        self.events: list[Event] = []
        self.committed = False
        self._checked = 0  # events already seen by dealercrm_check_event
        #: lookups worth doing once per operation (e.g. for each case a tick escalates)
        self.memo: dict[Any, Any] = {}
        rider = RIDER.get()
        held = rider.next_unit(readonly) if rider is not None and connection is None else None
        if held is not None:  # a read joins a held operation (a write has let it commit)
            connection = held.connection
            if held._principal is not None and held._principal.actor_id == by:
                by = held._principal  # its actor as read in this very transaction
        self._host = connection
        self._savepoint = None
        self._readonly = readonly
        self._write_lock = None
        self._held = False  # its commit is held by the rider (``Rider.holds``)
        #: a read inside the held operation's own transaction: no savepoint of its own (it writes
        #: nothing to undo) unless it uses an ORM session, and it ends without touching that transaction
        self._joined = held is not None
        if held is not None:
            self.connection: Connection = held.connection
        elif connection is None:
            if not readonly and crm.write_lock is not None:
                crm.write_lock.hold(crm.write_lock_timeout)  # before a pooled connection is taken
                self._write_lock = crm.write_lock
            try:
                self.connection = (readonly_engine(crm) if readonly else crm.engine).connect()
                self.connection.begin()
            except BaseException:
                self._let_go()
                raise
        else:
            self.connection = _host_connection(crm, connection)
            self._savepoint = self.connection.begin_nested()
        self._session: AuditedSession | None = None
        self._by = by
        self._principal: Principal | None = by if isinstance(by, Principal) else None
        try:
            if self._principal is None:
                if defer_principal:  # the operation reads the actor with its first row (``adopt_principal``)
                    check_actor_id(by)
                else:
                    self._principal = self.first(lambda conn: load_principal(conn, by))
        except BaseException:
            self.__exit__(None, None, None)  # release the connection (and SQLite's write lock)
            raise

    def first(self, read):
        """``read(connection)``, the unit's first statement, on a live connection.

        A pooled PostgreSQL connection may have died while it waited in the pool (the server
        restarted, an administrator ended the session, a firewall dropped it). Its first
        statement then fails as a disconnect; SQLAlchemy invalidates that connection and every
        other one as old (``Pool`` invalidation). Nothing was done in this transaction yet, so
        it is begun once more on a fresh connection and the statement repeated: the request
        that found the dead connection still succeeds. Later statements are not repeated.
        """
        try:
            return read(self.connection)
        except DBAPIError as exc:
            if not exc.connection_invalidated or self._host is not None:
                raise
        self.connection.close()
        self.connection = (readonly_engine(self.crm) if self._readonly else self.crm.engine).connect()
        self.connection.begin()
        return read(self.connection)

    def _let_go(self) -> None:
        """Release this process's write lock of the SQLite file (the transaction is over)."""
        if self._write_lock is not None:
            lock, self._write_lock = self._write_lock, None
            lock.release()

    @property
    def principal(self) -> Principal:
        """The actor this unit of work is carried out by, read in its transaction."""
        if self._principal is None:
            self._principal = load_principal(self.connection, self._by)
        return self._principal

    @property
    def actor_id(self) -> int:
        return self.principal.actor_id

    @property
    def principal_id(self) -> object:
        """The id of the actor this unit of work is carried out by, loaded or not yet."""
        return self._principal.actor_id if self._principal is not None else self._by

    def adopt_principal(self, actor_columns: Any) -> Principal:
        """The actor read beside the operation's first row (``access.with_actor``), checked as
        ``load_principal`` checks it: unknown is ``NotFound``, inactive ``NotPermitted``."""
        if self._principal is None:
            self._principal = principal_of(actor_columns, self._by)
        return self._principal

    @property
    def session(self) -> AuditedSession:
        if self._session is None:
            if self._joined and self._savepoint is None:
                # an ORM session may roll back (a failed flush): inside a held operation only
                # back to here, never the operation with it
                self._savepoint = self.connection.begin_nested()
            self._session = AuditedSession(bind=self.connection, expire_on_commit=False, autoflush=True,
                                           join_transaction_mode="rollback_only")
            self._session.info.update(now=self.now, actor_id=self.actor_id, operation=self.operation)
        return self._session

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._held:
            return  # the rider ends it (``release``)
        try:
            if self._session is not None:
                if not self.committed:
                    # detach first: a rollback would expire what a read already loaded
                    self._session.expunge_all()
                self._session.close()
            if not self.committed:
                if self._savepoint is not None:
                    if self._savepoint.is_active:
                        self._savepoint.rollback()  # ours; the host's transaction stays the host's
                elif not self._joined:  # a joined read without a session has nothing to undo
                    self.connection.rollback()
        finally:
            self._let_go()
            if self._host is None:
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
        rider = RIDER.get() if self._host is None and not self._readonly else None
        if rider is not None and rider.pending:
            if rider.holds(self):
                self._held = True  # committed by the rider, with what it adds (``release``)
                return
            rider.ride(self)
        else:
            rider = None
        self._commit(rider)

    def release(self, commit: bool) -> None:
        """End a transaction whose commit the rider held (``Rider.holds``): commit it — with
        what the rider wrote in it meanwhile — and publish its events, or roll it back; then
        release what the end of the ``with`` block would have (connection, write lock)."""
        self._held = False
        try:
            if commit:
                self._commit(None)
        finally:
            self.__exit__(None, None, None)

    def _commit(self, rider: Rider | None) -> None:
        try:
            if self._savepoint is not None:
                self._savepoint.commit()  # releases the savepoint; the host commits or rolls back
            elif not self._joined:  # a joined read's transaction commits with the held operation
                self.connection.commit()
        except IntegrityError as exc:
            raise integrity_error(exc) from exc
        self.committed = True
        self._let_go()
        if rider is not None:
            rider.committed()
        if self._host is None:
            self.crm.publish(self.events)
        else:
            _after_host_commit(self.crm, self._host, list(self.events))


def _host_connection(crm: CRM, host: Connection | Session) -> Connection:
    """The connection of the host's open transaction, on dealercrm's own database."""
    conn = host.connection() if isinstance(host, Session) else host
    if not isinstance(conn, Connection):
        raise ValidationError("connection", type(host).__name__, "must be a SQLAlchemy Connection or Session")
    if not conn.in_transaction():
        raise ValidationError("connection", "no transaction", "the host must begin its transaction first: "
                              "dealercrm joins it and never begins, commits or rolls back the host's")
    if conn.engine.url != crm.engine.url:
        raise ValidationError("connection", conn.engine.url.render_as_string(hide_password=True),
                              "is not dealercrm's database")
    return conn


def _after_host_commit(crm: CRM, host: Connection | Session, events: list[Event]) -> None:
    """Publish ``events`` once the host's transaction committed; forget them if it rolls back.

    With a Session this is SQLAlchemy's ``after_commit``. A bare Connection has no
    after-commit event: its ``commit`` event comes as the host's COMMIT is issued, so pass
    a Session where a COMMIT that fails must not have shown its events.
    """
    if not events:
        return
    settled = [False]

    def published(*_args) -> None:
        if not settled[0]:
            settled[0] = True
            crm.publish(events)

    def dropped(*args) -> None:
        previous = args[1] if len(args) > 1 else None
        if previous is None or previous.parent is None:  # the host's own transaction, not a savepoint
            settled[0] = True

    if isinstance(host, Session):
        event.listen(host, "after_commit", published, once=True)
        event.listen(host, "after_soft_rollback", dropped)  # savepoints roll back softly too
    else:
        event.listen(host, "commit", published, once=True)
        event.listen(host, "rollback", dropped, once=True)

