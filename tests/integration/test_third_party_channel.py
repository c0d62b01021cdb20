"""A third party's channel works end to end, like a built-in one: Erika's dealer sends
word by carrier pigeon. The plugin brings its own consent channel ("pigeon"), addresses
Erika by her street, and carries the notice of her case's hand-off — registered at
``connect`` as an installed plugin would be, or on the running application."""

from __future__ import annotations

import types

import pytest
from case_world import copy_world
from sqlalchemy import select

from dealercrm import ValidationError, hookimpl
from dealercrm.channels import DeliveryResult
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.settings import Settings


class PigeonChannel:
    name = "pigeon"
    purposes = frozenset({"service", "marketing"})
    consent_channel = "pigeon"  # a consent channel of its own
    address_field = "street"  # the loft flies to the door
    consent_required_for = frozenset({"service", "marketing"})  # nobody gets a pigeon unasked

    def __init__(self):
        self.flown: list = []

    def send(self, message):
        self.flown.append(message)
        return DeliveryResult.delivered(f"ring-{message.id}")


def pigeon_plugin() -> types.ModuleType:
    """The plugin as an installed package would provide it: a module with its hooks."""
    module = types.ModuleType("dealercrm_pigeon")
    module.channel = PigeonChannel()
    module.dealercrm_register_channels = hookimpl(lambda crm: [module.channel])
    return module


NOTICES_BY_PIGEON = Settings(plugins={"case_notifications": {"channels": ["pigeon"]}})


@pytest.fixture(params=["at connect", "on the running app"])
def world(request, tmp_path, clock):
    """Elektro Schmidt's world with the pigeon plugin, both ways a plugin can arrive."""
    loft = pigeon_plugin()
    if request.param == "at connect":
        w = copy_world(tmp_path, clock, settings=NOTICES_BY_PIGEON, plugins=[loft])
    else:
        w = copy_world(tmp_path, clock, settings=NOTICES_BY_PIGEON)
        with pytest.raises(ValidationError, match="'pigeon': must be one of email, phone, post, sms, whatsapp"):
            w.crm.consents.grant(w.customer.id, "pigeon", "service", source="too early", by=w.crm.system)
        w.crm.register(loft)
    w.loft = loft.channel
    yield w
    w.crm.close()


def pigeon_messages(crm) -> list[OutboxMessage]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "pigeon")
                                        .order_by(OutboxMessage.id)))


def test_the_hand_off_notice_flies_to_erikas_street_once_she_agreed_to_pigeons(world):
    crm, erika = world.crm, world.customer
    crm.customers.update(erika.id, street="Taubenweg 3", by=crm.system)
    crm.consents.grant(erika.id, "pigeon", "service", source="asked at the counter", by=world.service.id)
    assert crm.consents.may_contact(erika.id, "pigeon", "service", by=world.service.id)

    case = world.open_case()
    world.to_manufacturer(case.id)  # the hand-off: the customer is told who has the case now
    crm.outbox.dispatch()

    [note] = world.loft.flown
    assert note.recipient == "Taubenweg 3" and note.customer_id == erika.id and note.case_id == case.id
    assert "Brioche Hausgeräte" in note.body
    [sent] = pigeon_messages(crm)
    assert (sent.status, sent.provider_id) == ("sent", f"ring-{sent.id}")
    [flown] = [i for i in crm.interactions.timeline(erika.id, by=crm.system) if i.channel == "pigeon"]
    assert flown.direction == "outbound" and flown.summary == f"sent: {note.subject}"


def test_without_her_consent_no_pigeon_flies_and_the_notice_is_kept_with_the_reason(world):
    crm, erika = world.crm, world.customer
    crm.customers.update(erika.id, street="Taubenweg 3", by=crm.system)
    case = world.open_case()
    world.to_manufacturer(case.id)
    crm.outbox.dispatch()

    assert world.loft.flown == []
    assert [(m.status, m.reason) for m in pigeon_messages(crm)] == [("suppressed", "no service consent for pigeon")]


def test_without_a_street_on_file_no_pigeon_flies_and_the_notice_says_so(world):
    crm, erika = world.crm, world.customer
    crm.consents.grant(erika.id, "pigeon", "service", source="asked at the counter", by=crm.system)
    case = world.open_case()
    world.to_manufacturer(case.id)
    crm.outbox.dispatch()

    assert world.loft.flown == []
    assert [(m.status, m.reason) for m in pigeon_messages(crm)] == [
        ("suppressed", f"no street on file for customer {erika.id}")]


def test_consent_is_refused_on_a_channel_nobody_declared_naming_the_known_ones(world):
    crm = world.crm
    with pytest.raises(ValidationError) as refused:
        crm.consents.grant(world.customer.id, "raven", "service", source="?", by=crm.system)
    assert refused.value.field == "channel" and refused.value.value == "raven"
    # the loaded channels' (email, pigeon), the declared ones (sms, whatsapp), the manual ones (phone, post)
    assert "must be one of email, phone, pigeon, post, sms, whatsapp" in str(refused.value)
    assert crm.consents.channels() == ("email", "phone", "pigeon", "post", "sms", "whatsapp")
