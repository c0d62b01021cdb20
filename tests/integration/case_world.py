"""The small world the service-case tests play in.

The dealer "Elektro Schmidt" (owner, manager and service desk), the manufacturer
"Brioche Hausgeräte" and its warranty desk, the technician company "Technik-Service
Nord", a second dealer and a second manufacturer who have nothing to do with the case,
and Erika Musterfrau with the washing machine that washes badly.

``build_world(crm)`` creates it through the public API; ``World`` then offers a few
shortcuts (open a case, fire, count rows) so each test reads like the story it tells.
``copy_world(folder, clock)`` gives the same world on a copy of a database prepared
once per session: a test then costs a file copy instead of a migration and the inserts.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
import types
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import attrs
from sqlalchemy import func, select

from dealercrm import CRM, ManualClock, connect, hookimpl
from dealercrm.db.case_models import Case, CaseEvent
from dealercrm.db.models import Actor, Asset, AuditRecord, Customer, Party
from dealercrm.settings import Settings


class EventLog:
    """A plugin that keeps every event published after commit, in order."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def dealercrm_handle_event(self, event, crm):
        self.events.append(event)

    def of(self, cls: type, case_id: int | None = None) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls) and (case_id is None or e.case_id == case_id)]

    def clear(self) -> None:
        self.events.clear()


@dataclass
class World:
    crm: CRM
    dealer: Party
    owner: Actor
    manager: Actor
    service: Actor
    manufacturer: Party
    warranty_desk: Actor
    technician: Party
    fitter: Actor
    other_dealer: Party
    other_dealer_service: Actor
    other_manufacturer: Party
    other_warranty_desk: Actor
    customer: Customer
    product_id: int
    machine: Asset
    log: EventLog = field(default_factory=EventLog)

    def on(self, crm: CRM) -> World:
        """The same world on another application, e.g. one opened on a copy of the database."""
        world = replace(self, crm=crm, log=EventLog())
        crm.register(world.log, f"event-log-{id(world.log):x}")
        return world

    # -- shortcuts -------------------------------------------------------------------
    def open_case(self, summary: str = "washes badly, clothes come out dirty", *, by: int | None = None,
                  asset: bool = True) -> Case:
        return self.crm.cases.open(self.customer.id, summary, asset_id=self.machine.id if asset else None,
                                   by=self.service.id if by is None else by)

    def fire(self, case_id: int, trigger: str, by: Actor | int | None, note: str | None = None,
             expected_version: int | None = None, **data: Any):
        actor = by.id if isinstance(by, Actor) else self.crm.system if by is None else by
        return self.crm.cases.fire(case_id, trigger, by=actor, data=data or None, note=note,
                                   expected_version=expected_version)

    def to_manufacturer(self, case_id: int):
        """reported -> dealer_diagnosis -> manufacturer_review, by the service desk."""
        self.fire(case_id, "start_diagnosis", self.service)
        return self.fire(case_id, "forward_to_manufacturer", self.service)

    def to_technician(self, case_id: int):
        self.to_manufacturer(case_id)
        return self.fire(case_id, "approve_visit", self.warranty_desk, technician_party_id=self.technician.id)

    # -- looking at the database -------------------------------------------------------
    def snapshot(self, case_id: int) -> tuple:
        """Everything a refused operation must leave untouched."""
        case = self.crm.cases.get(case_id, by=self.crm.system)
        return (case.state, case.version, case.owner_party_id, case.due_at, case.facts,
                len(self.crm.cases.history(case_id, by=self.crm.system)), self.count(AuditRecord), self.count(CaseEvent))

    def count(self, model, *where) -> int:
        with self.crm.read(self.crm.system) as uow:
            return uow.session.scalar(select(func.count()).select_from(model).where(*where))


def build_world(crm: CRM, *, log: bool = True) -> World:
    parties = crm.as_actor(crm.system).parties
    add_actor = parties.add_actor
    dealer = parties.add("dealer", "Elektro Schmidt")
    owner = add_actor(dealer.id, "Hans Schmidt", "owner")
    manager = add_actor(dealer.id, "Petra Schmidt", "manager")
    service = add_actor(dealer.id, "Jonas Weber", "service")
    manufacturer = parties.add("manufacturer", "Brioche Hausgeräte")
    warranty_desk = add_actor(manufacturer.id, "Claire Dubois", "warranty")
    technician = parties.add("technician", "Technik-Service Nord")
    fitter = add_actor(technician.id, "Ole Hansen", "fitter")
    other_dealer = parties.add("dealer", "Küchenwelt Meyer")
    other_dealer_service = add_actor(other_dealer.id, "Uwe Meyer", "service")
    other_manufacturer = parties.add("manufacturer", "Frostkalt GmbH")
    other_warranty_desk = add_actor(other_manufacturer.id, "Greta Frost", "warranty")
    customer = crm.customers.add("Erika Musterfrau", email="erika@example.org", owner_party_id=dealer.id, by=crm.system)
    product = crm.products.add("BR-WM-7", "Brioche Lavande 7 kg", warranty_months=24, category="washing machine",
                               manufacturer_party_id=manufacturer.id, by=crm.system)
    machine = crm.assets.record(customer.id, product.id, serial_number="BR7-0001", purchased_on=date(2026, 2, 20),
                                handed_over_on=date(2026, 2, 24), dealer_party_id=dealer.id, by=crm.system)
    world = World(crm, dealer, owner, manager, service, manufacturer, warranty_desk, technician, fitter,
                  other_dealer, other_dealer_service, other_manufacturer, other_warranty_desk, customer,
                  product.id, machine)
    if log:
        crm.register(world.log, f"event-log-{id(world.log):x}")
    return world


#: Elektro Schmidt's e-mail, configured as an installation configures it: the e-mail channel is
#: offered only then (nothing is sent unless a test starts an SMTP server and says where)
MAIL = {"channel_email": {"from_address": "service@elektro-schmidt.example"}}


def with_mail(settings: Settings | None = None) -> Settings:
    """``settings`` (default: the defaults) with the shop's e-mail configured, unless they configure
    e-mail themselves."""
    settings = settings or Settings()
    return attrs.evolve(settings, plugins={**MAIL, **settings.plugins})


_TEMPLATE: dict[str, Any] = {}
_COPIES = itertools.count()


def copy_world(folder: Path, clock: ManualClock, **connect_kwargs: Any) -> World:
    """The world on a fresh application over a copy of the prepared database; close its ``crm``."""
    if not _TEMPLATE:
        home = Path(tempfile.mkdtemp(prefix="dealercrm-world-"))
        atexit.register(shutil.rmtree, home, True)
        crm = connect(f"sqlite:///{home}/template.db", clock=ManualClock(datetime(2026, 1, 2, tzinfo=timezone.utc)),
                      settings=with_mail())
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)  # as the ``crm`` fixture has it
        _TEMPLATE.update(path=home / "template.db", world=build_world(crm, log=False))
        crm.close()  # the last connection closing checkpoints the WAL into the file
    target = Path(folder) / f"world-{next(_COPIES)}.db"
    shutil.copyfile(_TEMPLATE["path"], target)
    connect_kwargs["settings"] = with_mail(connect_kwargs.get("settings"))
    return _TEMPLATE["world"].on(connect(f"sqlite:///{target}", clock=clock, **connect_kwargs))


def plugin(name: str, **hooks: Any) -> types.ModuleType:
    """An inline plugin, a module made on the spot: ``plugin("x", dealercrm_check_event=fn)``."""
    ns = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(ns, hook, fn if hasattr(fn, "dealercrm_impl") else hookimpl(fn))  # already marked: kept
    return ns


def timeouts_of(crm: CRM, case_id: int | None = None) -> list[CaseEvent]:
    with crm.read(crm.system) as uow:
        query = select(CaseEvent).where(CaseEvent.kind == "timeout").order_by(CaseEvent.id)
        if case_id is not None:
            query = query.where(CaseEvent.case_id == case_id)
        return list(uow.session.scalars(query))


def customers_of(crm: CRM) -> int:
    with crm.read(crm.system) as uow:
        return uow.session.scalar(select(func.count()).select_from(Customer))
