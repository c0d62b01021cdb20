"""Another party's ids are the same "not found" as ids never used, wherever an id is taken.

A competitor's manager walking actor, message or asset ids must learn nothing: not who
works where, not how many messages a dealer sends or to which customer, not which units
exist. Each answer for another party's id reads exactly as the answer for an id nobody
ever used.
"""

from __future__ import annotations

from datetime import date

import pytest

from dealercrm import NotFound
from dealercrm.errors import DealerCrmError

NEVER_USED = 424242


def test_another_partys_people_are_the_same_404_as_ids_never_used(api):
    """"Another party's people do not exist for the asker" (README) holds for
    ``/parties/{id}/actors`` and tasks, but not where people are *managed*: setting a
    password, (de)activating, issuing a sign-in link (Python API and the portal's People
    page) and ``POST /parties/{party}/actors/{actor}/deactivate`` load the actor first and
    then answer 403 "may not … of party 5" — an actor id never used is 404. So any manager
    enumerates every actor id of every party and learns which party each belongs to (a
    competitor's head count, who joined when).

    Reproduce: as Schmidt's manager, ``POST /parties/5/actors/7/deactivate`` is 403 naming
    party 5; ``/parties/5/actors/424242/deactivate`` is 404.

    Suggested fix: in ``manages_people`` callers, another party's person is ``NotFound("actor",
    id)`` — the same answer as an id never used (as ``parties.actor`` does)."""
    world = api.world
    uwe, manager = world.other_dealer_service, api.as_("manager")
    theirs = api.post(f"/parties/{world.other_dealer.id}/actors/{uwe.id}/deactivate", headers=manager, json={})
    never = api.post(f"/parties/{world.other_dealer.id}/actors/{NEVER_USED}/deactivate", headers=manager, json={})
    assert (theirs.status_code, theirs.json()["detail"].replace(str(uwe.id), "N")) == \
        (never.status_code, never.json()["detail"].replace(str(NEVER_USED), "N"))

    crm = world.crm
    for name, attempt in (("set_password", lambda a: crm.sign_in.set_password(a, "x" * 16, by=world.manager.id)),
                          ("set_actor_active", lambda a: crm.parties.set_actor_active(a, False, by=world.manager.id)),
                          ("issue_link", lambda a: crm.sign_in.issue_link(a, by=world.manager.id))):
        answers = []
        for actor_id in (uwe.id, NEVER_USED):
            with pytest.raises(DealerCrmError) as refused:
                attempt(actor_id)
            answers.append((type(refused.value).__name__, str(refused.value).replace(str(actor_id), "N")))
        assert answers[0] == answers[1], f"{name} tells another party's person from an id never used"


def test_a_message_id_does_not_tell_whose_customer_it_was_sent_to(api):
    """``GET /customers/{any}/messages/{message_id}`` looks the message up first and
    then checks its *own* customer: for another dealer's message the answer is 404
    "customer 1 not found" (the message's customer, whatever the path said), for an id never
    used 404 "outbox message N not found". Walking message ids tells another party which
    exist, how many the dealer sends, and which customer id each went to.

    Reproduce: as Küchenwelt, ``GET /customers/424242/messages/1`` names customer 1;
    ``/customers/424242/messages/424243`` names the message.

    Suggested fix: check the path's customer first (``owned_customer``), then look the
    message up among that customer's only; one 404 for every miss."""
    world = api.world
    world.crm.customers.update(world.customer.id, phone="0171 5550100", by=world.service.id)
    sent = world.crm.outbox.send("phone", "service", "your washer is ready", customer_id=world.customer.id,
                                 by=world.service.id)
    uwe = api.as_("other_dealer")
    theirs = api.get(f"/customers/{NEVER_USED}/messages/{sent.id}", headers=uwe)
    never = api.get(f"/customers/{NEVER_USED}/messages/{NEVER_USED + 1}", headers=uwe)
    assert theirs.status_code == never.status_code == 404
    assert f"customer {world.customer.id}" not in theirs.json()["detail"], "the answer names the message's customer"
    assert theirs.json()["detail"].replace(str(sent.id), "N") == never.json()["detail"].replace(
        str(NEVER_USED + 1), "N")


def test_a_replaced_asset_must_be_one_the_dealer_may_see(api):
    """(Python API; not exposed over HTTP). ``crm.assets.record(...,
    replaces_asset_id=...)`` only checks that the replaced asset *exists*: another dealer's
    asset id is accepted (and linked as the unit this one replaces), an id never used is
    ``NotFound``. An asset-id existence oracle across dealers, and a cross-dealer link in the
    data — the sibling of issue #14's finding 12.

    Reproduce: as Küchenwelt, ``crm.assets.record(own_customer, product,
    replaces_asset_id=<Schmidt's asset>, by=uwe)`` succeeds; with 424242 it is ``NotFound``.

    Suggested fix: the replaced asset must belong to the same customer (or at least be
    visible to the actor); otherwise ``NotFound("asset", id)``."""
    world = api.world
    crm, uwe = world.crm, world.other_dealer_service
    own = crm.customers.add("Own Customer", owner_party_id=world.other_dealer.id, by=uwe.id)
    with pytest.raises(NotFound):
        crm.assets.record(own.id, world.product_id, purchased_on=date(2026, 1, 5), replaces_asset_id=NEVER_USED,
                          by=uwe.id)
    with pytest.raises(NotFound):
        crm.assets.record(own.id, world.product_id, purchased_on=date(2026, 1, 5),
                          replaces_asset_id=world.machine.id, by=uwe.id)
