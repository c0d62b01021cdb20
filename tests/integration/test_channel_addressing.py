"""How a channel finds a customer's address: any field of the customer file (a plugin's own
field too), a contact person, or the channel's own resolver — and a name that is no field
is refused when the channel loads, naming the plugin, instead of failing on the first
message."""

from __future__ import annotations

import pytest

from dealercrm import PluginError, hookimpl
from dealercrm.channels import DeliveryResult, describe
from dealercrm.fields import field


class Letter:
    """A channel for letters, addressed however the test says."""

    purposes = frozenset({"service"})
    consent_channel = "post"
    consent_required_for = frozenset()

    def __init__(self, name: str, address_field):
        self.name, self.address_field = name, address_field

    def send(self, message):
        return DeliveryResult.delivered()


class Courier:
    """A plugin with one channel (and, if given, a field of its own)."""

    def __init__(self, *channels, fields=()):
        self.channels, self.fields = channels, fields

    @hookimpl
    def dealercrm_register_channels(self, crm):
        return list(self.channels)

    @hookimpl
    def dealercrm_register_fields(self):
        return list(self.fields)


def send(crm, channel: str, customer_id: int):
    return crm.outbox.send(channel, "service", "your parcel is here", customer_id=customer_id, by=crm.system)


def test_a_channel_addresses_by_a_field_a_plugin_declared(crm, register_plugin):
    register_plugin(Courier(Letter("locker", "locker_number"),
                            fields=[field("locker_number", "the customer's parcel locker", personal=True)]), "lockers")
    anna = crm.customers.add("Anna Berg", locker_number="L-0815", by=crm.system)
    ben = crm.customers.add("Ben Roth", by=crm.system)

    sent = send(crm, "locker", anna.id)
    assert (sent.status, sent.recipient) == ("pending", "L-0815")
    refused = send(crm, "locker", ben.id)
    assert (refused.status, refused.reason) == ("suppressed", f"no locker_number on file for customer {ben.id}")


def test_a_channel_addresses_a_companys_buyer_through_its_contact_person(crm, register_plugin):
    register_plugin(Courier(Letter("purchasing", "contact[buyer].email")), "purchasing")
    kitchen = crm.customers.add("Küchenbau Nord GmbH", kind="company", email="info@kuechenbau.example", by=crm.system)
    crm.customers.add_contact(kitchen.id, "Olga Buchhaltung", "accounting", email="olga@kuechenbau.example",
                              by=crm.system)
    refused = send(crm, "purchasing", kitchen.id)  # no buyer yet: the switchboard's address is not hers
    assert (refused.status, refused.reason) == ("suppressed", f"no buyer's email on file for customer {kitchen.id}")

    crm.customers.add_contact(kitchen.id, "Piet Einkauf", "buyer", email="piet@kuechenbau.example", by=crm.system)
    assert send(crm, "purchasing", kitchen.id).recipient == "piet@kuechenbau.example"


class Drone(Letter):
    """Addressed by its own resolver: the landing spot from the drone company's register."""

    spots = {}

    def __init__(self):
        super().__init__("drone", self.landing_spot)

    def landing_spot(self, customer_id, connection):
        return self.spots[customer_id]


def test_a_channel_addresses_through_its_own_resolver_and_a_failing_one_stops_only_its_message(crm,
                                                                                               register_plugin):
    drone = Drone()
    register_plugin(Courier(drone), "drones")
    anna = crm.customers.add("Anna Berg", by=crm.system)
    ben = crm.customers.add("Ben Roth", by=crm.system)
    drone.spots[anna.id] = "garden, north corner"

    assert send(crm, "drone", anna.id).recipient == "garden, north corner"
    refused = send(crm, "drone", ben.id)  # the resolver raises KeyError for Ben
    assert refused.status == "suppressed"
    assert refused.reason == f"channel 'drone' could not find the address: KeyError: {ben.id}"
    [failure] = crm.plugin_failures
    assert (failure.plugin, failure.hook) == ("drones", "address_field")
    assert describe(crm.channels["drone"])["address_field"] == "Drone.landing_spot()"


def test_a_channel_addressed_by_no_field_is_not_loaded_and_its_plugin_is_named(crm_factory):
    crm = crm_factory(plugins={"lofts": Courier(Letter("pigeon", "loft"), Letter("parcel", "street"))})
    assert "pigeon" not in crm.channels and "parcel" in crm.channels  # the other channel still works
    [failure] = crm.plugin_failures
    assert (failure.plugin, failure.hook) == ("lofts", "dealercrm_register_channels")
    assert "channel 'pigeon': address_field 'loft' is no field of the customer file; fields: name, kind, email" \
           in str(failure)


def test_a_plugin_whose_channel_is_addressed_by_no_field_is_refused_on_a_running_app(crm):
    with pytest.raises(PluginError) as refused:
        crm.register(Courier(Letter("pigeon", "contact.fax")), "lofts")
    assert refused.value.plugin == "lofts"
    assert "a contact person has no field 'fax'; fields: name, email, phone" in str(refused.value)
    assert crm.plugins.get_plugin("lofts") is None and "pigeon" not in crm.channels
