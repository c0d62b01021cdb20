"""The parties directory as one actor may use it (rules in ``dealercrm.access``).

Every party sees every party — id, kind, name, region — because the workflow needs the
ids: a manufacturer approving a visit names the technician company
(``technician_party_id``), a dealer a product's maker. A party's people are its
employees, though: only the party itself (and the system) lists them, e-mail included.
"""

from __future__ import annotations

from sqlalchemy import func, select

from ..db.models import Actor, Party
from ..errors import NotPermitted


class ScopedParties:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def list(self, *, kind: str | None = None, search: str | None = None, limit: int = 50,
             offset: int = 0) -> list[Party]:
        with self.crm.read() as uow:
            query = select(Party).order_by(Party.id).limit(limit).offset(offset)
            if kind:
                query = query.where(Party.kind == kind)
            if search:
                query = query.where(func.lower(Party.name).like(f"%{search.lower()}%"))
            return list(uow.session.scalars(query))

    def get(self, party_id: int) -> Party:
        return self.crm.parties.get(party_id)

    def actors(self, party_id: int, *, active: bool | None = None, limit: int = 50, offset: int = 0) -> list[Actor]:
        """The people of the actor's own party, e.g. to name a customer's account owner."""
        party = self.get(party_id)
        if self.p.kind != "system" and party_id != self.p.party_id:
            raise NotPermitted(f"{self.p} may not list the people of party {party_id} {party.name}: a party's "
                               "employees are its own business; the directory names the party itself")
        with self.crm.read() as uow:
            query = select(Actor).where(Actor.party_id == party_id).order_by(Actor.id).limit(limit).offset(offset)
            if active is not None:
                query = query.where(Actor.active == active)
            return list(uow.session.scalars(query))
