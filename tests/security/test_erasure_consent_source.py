"""Erasure blanks what people typed about the customer, a consent's source included."""

from __future__ import annotations

from sqlalchemy import text


def test_erasure_leaves_no_address_in_a_consents_source(api):
    """A consent's ``source`` is free text the dealer types ("e-mail from
    max@…, 3 March", "signed at the counter by Max Mustermann") and erasure keeps consents
    whole "as proof" — so the address and name written there survive ``POST
    /customers/{id}/erase``, in ``consent.source`` and in the audit row's plain half
    (``changes``), which erasure never blanks. Every other free text about the customer is
    blanked.

    Reproduce: ``POST /customers/{id}/consents {"channel": "email", "purpose": "marketing",
    "granted": true, "source": "e-mail from max.k@example.org"}``, erase the customer, and
    the address is still in two tables.

    Suggested fix: erasure blanks the free-text ``source`` of the customer's consents (keep
    channel, purpose, answer, time and actor as the proof), and the source goes to the
    audit row's personal half."""
    world = api.world
    manager = api.as_("manager")
    address = "max.kowalski@example.org"
    max_ = api.post("/customers", headers=manager, json={"name": "Max Kowalski", "email": address}).json()
    granted = api.post(f"/customers/{max_['id']}/consents", headers=manager, json={
        "channel": "email", "purpose": "marketing", "granted": True, "source": f"e-mail from {address}, 3 March"})
    assert granted.status_code == 201, granted.text
    assert api.post(f"/customers/{max_['id']}/erase", headers=manager).status_code == 200

    left = []
    with world.crm.engine.connect() as conn:
        tables = [t for (t,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
        for table in tables:
            for column in [row[1] for row in conn.execute(text(f'PRAGMA table_info("{table}")'))]:
                found = conn.execute(text(f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE :m'),
                                     {"m": f"%{address}%"}).scalar()
                left += [f"{table}.{column}"] * bool(found)
    assert left == [], f"the erased customer's address is still in {left}"
