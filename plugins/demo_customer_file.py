"""Demo data for the customer file: a car dealer and an appliance dealer, their
manufacturers and service partners, a few hundred customers with what they bought,
what they care about, what they agreed to, and what passed between them.

The history is played forward on a moved clock, so every record carries a plausible
date, and the stories of the seeds are in it: the buyer who mentioned skiing at the
handover, the loyal customer nobody called for two years.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from dealercrm import DealerCrmError, ManualClock, hookimpl

FIRST = ["Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Karla", "Lukas",
         "Mia", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tina", "Uwe", "Vera", "Willi", "Yasmin", "Zoe"]
LAST = ["Bauer", "Becker", "Fischer", "Hoffmann", "Koch", "Krause", "Lange", "Meyer", "Neumann", "Richter",
        "Schäfer", "Schmitt", "Schulz", "Wagner", "Weber", "Wolf", "Zimmermann", "Braun", "Hartmann", "Vogel"]
COMPANIES = ["Bäckerei Sonnenschein", "Pflegedienst Lindenhof", "Hausverwaltung Nordstern", "Kita Regenbogen",
             "Elektro Blitz KG", "Tischlerei Eiche", "Hotel Bergblick", "Weingut Rebhang"]
INTERESTS = ["skiing", "cycling", "camping", "golf", "family", "dogs", "sailing", "cooking", "gardening", "running"]
PRODUCTS = [  # sku, name, category, warranty months, manufacturer
    ("CAR-ALP-T", "Alpina Touring estate", "car", 36, "Alpina Motors"),
    ("CAR-ALP-C", "Alpina City hatchback", "car", 36, "Alpina Motors"),
    ("WM-BRI-8", "Brioche WashPro 8kg washing machine", "appliance", 24, "Brioche Hausgeräte"),
    ("DW-BRI-60", "Brioche Clean 60 dishwasher", "appliance", 24, "Brioche Hausgeräte"),
    ("FR-NOR-300", "Nordkühl 300 fridge", "appliance", 24, "Nordkühl AG"),
]
START = datetime(2023, 1, 9, 9, 0, tzinfo=timezone.utc)


def _person(rng: random.Random, i: int) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return dict(name=f"{first} {last}", email=f"{first}.{last}.{i}@example.org".lower().replace("ä", "ae"),
                phone=f"+49 171 {2000000 + i:07d}", birthday=f"{rng.randint(1950, 2000)}-{rng.randint(1, 12):02d}-"
                f"{rng.randint(1, 28):02d}")


@hookimpl(trylast=True)
def dealercrm_seed_demo(crm, rng: random.Random) -> list[str]:
    real_clock, clock = crm.clock, ManualClock(START)
    crm.clock = clock
    try:
        return _seed(crm, rng, clock)
    finally:
        crm.clock = real_clock


def _seed(crm, rng: random.Random, clock: ManualClock) -> list[str]:
    p = crm.as_actor(crm.system).parties
    cars = p.add("dealer", "Autohaus Berg")
    appliances = p.add("dealer", "Elektro Schmidt")
    makers = {n: p.add("manufacturer", n) for n in ("Alpina Motors", "Brioche Hausgeräte", "Nordkühl AG")}
    p.add("technician", "Technik-Service Nord")
    staff = {cars.id: [p.add_actor(cars.id, n, r) for n, r in (("Sabine Krüger", "sales"), ("Tom Albers", "sales"),
                                                                ("Petra Lorenz", "manager"))],
             appliances.id: [p.add_actor(appliances.id, n, r) for n, r in (("Jens Schmidt", "owner"),
                                                                            ("Lea Yilmaz", "service"))]}
    products = [crm.products.add(s, n, category=c, warranty_months=w, manufacturer_party_id=makers[m].id, by=crm.system)
                for s, n, c, w, m in PRODUCTS]
    story = _story(crm, cars, staff[cars.id][0], products[0])
    customers, refused = [], 0
    for i in range(300):
        clock.advance(hours=rng.randint(2, 60))
        dealer = cars if rng.random() < 0.45 else appliances
        seller = rng.choice(staff[dealer.id])
        fields = _person(rng, i) if rng.random() > 0.08 else dict(name=rng.choice(COMPANIES) + f" {i}", kind="company")
        try:
            c = crm.customers.add(**fields, owner_party_id=dealer.id, account_owner_id=seller.id, by=seller.id)
        except DealerCrmError:
            refused += 1
            continue
        customers.append(c)
        if fields.get("kind") == "company":
            crm.customers.add_contact(c.id, f"{rng.choice(FIRST)} {rng.choice(LAST)}", "buyer", by=seller.id)
            crm.customers.add_contact(c.id, f"{rng.choice(FIRST)} {rng.choice(LAST)}", "accounting", by=seller.id)
        choices = products[:2] if dealer is cars else products[2:]
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            product = rng.choice(choices)
            day = clock.now().date()
            crm.assets.record(c.id, product.id, serial_number=f"{product.sku}-{rng.randint(10000, 99999)}",
                              purchased_on=day, handed_over_on=day + timedelta(days=rng.randint(0, 14)),
                              by=seller.id)
        for tag in rng.sample(INTERESTS, rng.choice((0, 1, 1, 2))):
            crm.interests.note(c.id, tag, note="mentioned in conversation", by=seller.id)
        for channel, purpose, chance in (("email", "service", 0.9), ("email", "marketing", 0.4),
                                         ("sms", "service", 0.5), ("phone", "marketing", 0.3),
                                         ("whatsapp", "service", 0.2)):
            if rng.random() < chance:
                crm.consents.grant(c.id, channel, purpose, source="purchase form", by=seller.id)
        crm.interactions.record(c.id, "visit", "inbound", "purchase and handover", by=seller.id)
        if rng.random() < 0.1:
            crm.consents.revoke(c.id, "email", "marketing", source="unsubscribe link", by=crm.system)
    clock.advance(days=30)
    for c in rng.sample(customers, 120):
        clock.advance(hours=rng.randint(1, 30))
        seller = rng.choice(staff[c.owner_party_id])
        kind = rng.random()
        if kind < 0.5:
            crm.interactions.record(c.id, "phone", "outbound", "check-in call: all fine", by=seller.id)
        elif kind < 0.8:
            crm.interactions.record(c.id, "email", "outbound", "spring newsletter", personal=False, by=seller.id)
        else:
            crm.interactions.record(c.id, "email", "inbound", "question about the warranty", by=seller.id)
    for c in rng.sample(customers, 25):
        seller = rng.choice(staff[c.owner_party_id])
        crm.tasks.create("check-in call after purchase", clock.now() + timedelta(days=rng.randint(1, 20)),
                         customer_id=c.id, assigned_actor_id=seller.id, origin="human", by=seller.id)
    return [f"customer file: 2 dealers, 3 manufacturers, 1 technician, {len(customers) + 1} customers "
            f"({refused} duplicates refused), assets, interests, consents and a timeline since {START:%B %Y}",
            f"the skiing car buyer is customer {story} — try [bold]dealercrm customers show {story}[/]"]


def _story(crm, dealer, seller, car) -> int:
    """Seed 000: the buyer mentions skiing at the handover; it is written down this time."""
    c = crm.customers.add("Max Mustermann", email="max.mustermann@example.org", phone="+49 171 5550100",
                          birthday="1978-02-14", owner_party_id=dealer.id, account_owner_id=seller.id, by=seller.id)
    crm.assets.record(c.id, car.id, serial_number="WALP0000000042", purchased_on="2023-01-02",
                      handed_over_on="2023-01-09", by=seller.id)
    talk = crm.interactions.record(c.id, "visit", "inbound", "handover of the Alpina Touring; "
                                   "off skiing in the Alps with the family next month", by=seller.id)
    crm.interests.note(c.id, "skiing", note="going to the Alps in February", interaction_id=talk.id, by=seller.id)
    crm.consents.grant(c.id, "email", "service", source="handover form", by=seller.id)
    crm.consents.grant(c.id, "email", "marketing", source="handover form", by=seller.id)
    crm.consents.grant(c.id, "phone", "service", source="handover form", by=seller.id)
    return c.id
