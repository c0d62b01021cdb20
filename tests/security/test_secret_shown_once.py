"""Issue #14, finding 11: a subscription's secret could be fetched again for 24 hours.

The secret that signs a party's deliveries is "shown only then", in the answer to the
request that made the subscription. But with an ``Idempotency-Key`` that answer was kept
whole for a repeat — the secret in the idempotency record, handed to whoever sent the
same request again within 24 hours. Now the repeat gets the same subscription with
``secret: null``, and the secret is stored nowhere but in the subscription itself.
"""

from __future__ import annotations

from sqlalchemy import MetaData, select

from dealercrm.db.api_models import Subscription

REQUEST = {"url": "https://dms.schmidt.example/hook", "kinds": ["case_closed"]}


def everything_but_the_subscriptions(world) -> str:
    """Every row of every table except the subscriptions', as text."""
    meta = MetaData()
    meta.reflect(world.crm.engine)
    with world.crm.read(world.crm.system) as uow:
        return repr([tuple(row) for table in meta.sorted_tables if table.name != Subscription.__tablename__
                     for row in uow.connection.execute(select(table))])


def test_the_secret_is_shown_once_and_a_repeat_gets_the_subscription_without_it(api):
    first = api.post("/subscriptions", headers=api.as_("service", **{"Idempotency-Key": "sub-1"}), json=REQUEST)
    assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
    secret = first.json()["secret"]

    again = api.post("/subscriptions", headers=api.as_("service", **{"Idempotency-Key": "sub-1"}), json=REQUEST)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "secret": None}  # the same subscription, made once
    assert secret not in again.text
    assert len(api.get("/subscriptions", headers=api.as_("service")).json()) == 1


def test_the_secret_is_kept_nowhere_but_in_the_subscription(api):
    world = api.world
    answer = api.post("/subscriptions", headers=api.as_("service", **{"Idempotency-Key": "sub-2"}), json=REQUEST)
    secret = answer.json()["secret"]
    stored = everything_but_the_subscriptions(world)
    assert "'sub-2'" in stored  # the idempotency record is there …
    assert secret not in stored  # … without the secret
    with world.crm.read(world.crm.system) as uow:
        assert uow.session.scalar(select(Subscription.secret)) == secret  # where deliveries are signed from
