"""API keys: made once, shown once, kept only as a hash.

A key reads ``dcrm_<8 hex>_<43 url-safe characters>``; the first part is its public
prefix, stored to find the row, and the whole key is stored as its SHA-256 (a random
256-bit secret needs no slow hash: there is nothing to guess). Each key acts for one
party with one role through one actor — its own actor ("API key dcrm_…") unless an
existing person of the party is named — so every change over HTTP names its actor.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

import attrs
from sqlalchemy import bindparam, select, update

from .. import validation
from ..access import NotAuthenticated, Principal, require_system
from ..db.api_models import ApiKey
from ..db.models import PARTY_KINDS, Actor, Party
from ..db.prepared import Prepared
from ..errors import NotFound, StateConflict, ValidationError
from .base import Service

KEY_FORMAT = re.compile(r"(dcrm_[0-9a-f]{8})_[A-Za-z0-9_-]{43}")
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is a hint, not a write per request


# prepared once (dealercrm.db.prepared): it runs for every request
_KEY_BY_PREFIX = Prepared(
    select(ApiKey.id, ApiKey.key_hash, ApiKey.revoked_at, ApiKey.last_used_at, ApiKey.party_id,
           Actor.id.label("actor_id"), Actor.name, Actor.role, Actor.active, Party.kind)
    .join(Actor, Actor.id == ApiKey.actor_id).join(Party, Party.id == ApiKey.party_id)
    .where(ApiKey.prefix == bindparam("prefix")))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@attrs.frozen
class IssuedKey:
    """A new key; ``key`` exists only here — print it once, it cannot be shown again."""

    id: int
    key: str = attrs.field(repr=False)
    prefix: str
    party_id: int
    role: str
    actor_id: int


class ApiKeyService(Service):
    def create(self, party_id: int, role: str | None = None, *, actor_id: int | None = None,
               label: str | None = None, by: int) -> IssuedKey:
        label = validation.text("label", label)
        with self.uow(by, "api_keys.create") as uow:
            require_system(uow.principal, "make API keys")
            party = uow.get(Party, party_id, "party")
            validation.choice("party kind", party.kind, PARTY_KINDS)
            if actor_id is not None:
                actor = uow.get(Actor, actor_id, "actor")
                if actor.party_id != party_id:
                    raise ValidationError("actor", actor_id, f"acts for party {actor.party_id}, not party {party_id}")
                if role not in (None, actor.role):
                    raise ValidationError("role", role, f"actor {actor_id} {actor.name} has role {actor.role!r}")
                role = actor.role
            role = validation.required("role", role)
            prefix = self._free_prefix(uow)
            if actor_id is None:
                actor = Actor(party_id=party_id, name=label or f"API key {prefix}", role=role, created_at=uow.now)
                uow.session.add(actor)
                uow.flush()
            key = f"{prefix}_{secrets.token_urlsafe(32)}"
            row = ApiKey(prefix=prefix, key_hash=hash_key(key), party_id=party_id, role=role, actor_id=actor.id,
                         label=label, created_at=uow.now)
            uow.session.add(row)
            uow.commit()
            return IssuedKey(row.id, key, prefix, party_id, role, actor.id)

    @staticmethod
    def _free_prefix(uow) -> str:
        while True:  # 2**32 prefixes: a collision is rare, and then simply tried again
            prefix = f"dcrm_{secrets.token_hex(4)}"
            if uow.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
                return prefix

    def list(self, party_id: int | None = None, *, by: int) -> list[ApiKey]:
        with self.read(by) as uow:
            require_system(uow.principal, "list API keys")
            query = select(ApiKey).order_by(ApiKey.id)
            if party_id is not None:
                query = query.where(ApiKey.party_id == party_id)
            return list(uow.session.scalars(query))

    def revoke(self, ident: int | str, *, by: int) -> ApiKey:
        """Revoke a key by id or prefix; it stops working with the next request."""
        with self.uow(by, "api_keys.revoke") as uow:
            require_system(uow.principal, "revoke API keys")
            by_id = isinstance(ident, int) or (str(ident).isascii() and str(ident).isdigit())  # not "²"
            if by_id and int(ident) > 2**31 - 1:
                raise NotFound("api key", ident)
            key = uow.session.scalar(select(ApiKey).where(
                ApiKey.id == int(ident) if by_id else ApiKey.prefix == str(ident).strip()))
            if key is None:
                raise NotFound("api key", ident)
            if key.revoked_at is not None:
                raise StateConflict("api key", key.prefix, f"was already revoked at {key.revoked_at.isoformat()}")
            key.revoked_at = uow.now
            uow.commit()
            return key

    def authenticate(self, key: str | None) -> Principal:
        """The actor a presented key acts as; ``NotAuthenticated`` says why not."""
        if not key:
            raise NotAuthenticated("no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        match = KEY_FORMAT.fullmatch(key.strip())
        if match is None:
            raise NotAuthenticated("malformed API key: expected dcrm_<8 hex>_<secret>")
        with self.read(self.crm.system) as uow:
            row = _KEY_BY_PREFIX.first(uow.connection, {"prefix": match.group(1)})
            now = uow.now
        if row is None or not hmac.compare_digest(row["key_hash"], hash_key(key.strip())):
            raise NotAuthenticated(f"unknown API key {match.group(1)}")
        if row["revoked_at"] is not None:
            raise NotAuthenticated(f"API key {match.group(1)} was revoked at {row['revoked_at'].isoformat()}")
        if not row["active"]:
            raise NotAuthenticated(f"API key {match.group(1)} acts as actor {row['actor_id']}, who is inactive")
        if row["last_used_at"] is None or now - row["last_used_at"] > TOUCH_EVERY:
            with self.crm.uow(self.crm.system, "api_keys.touch") as uow:
                uow.connection.execute(update(ApiKey).where(ApiKey.id == row["id"]).values(last_used_at=now))
                uow.commit()
        return Principal(row["actor_id"], row["name"], row["party_id"], row["kind"], row["role"])
