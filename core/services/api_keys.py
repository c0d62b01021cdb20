"""API keys: made once, shown once, kept only as a hash.

A key reads ``dcrm_<8 hex>_<43 url-safe characters>``; the first part is its public
prefix, stored to find the row, and the whole key is stored as its SHA-256 (a random
256-bit secret needs no slow hash: there is nothing to guess). Each key acts for one
party with one role through one actor — its own actor ("API key dcrm_…") unless an
existing person of the party is named — so every change over HTTP names its actor.

A key found valid is trusted for ``KEY_CHECK_SECONDS`` before it is read again
(``known``): no database read per request. A key revoked through this application
(``crm.api_keys.revoke``, in the server's own process) stops working with the next
request; one revoked elsewhere — ``dealercrm keys revoke`` in another process, another
server worker — within ``KEY_CHECK_SECONDS``. An actor deactivated meanwhile is refused at
once all the same: every operation reads its actor afresh in its own transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import logging
import secrets
import threading
import time
from datetime import timedelta

import attrs
from sqlalchemy import bindparam, select, update

from .. import validation
from ..access import NotAuthenticated, Principal, require_system
from ..db.api_models import ApiKey
from ..db.models import PARTY_KINDS, Actor, Party
from ..errors import NotFound, StateConflict, ValidationError
from .base import Service

KEY_FORMAT = re.compile(r"(dcrm_[0-9a-f]{8})_[A-Za-z0-9_-]{43}")
log = logging.getLogger("dealercrm.api_keys")
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is a hint, not a write per request
#: seconds a key found valid is trusted before it is read again: the longest a key revoked in
#: another process keeps working
KEY_CHECK_SECONDS = 5.0
#: keys remembered at most (only valid ones are): beyond, the oldest are forgotten
KNOWN_KEYS = 10_000


# built once: it runs for every request (SQLAlchemy caches its compiled form)
_KEY_BY_PREFIX = (
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
    def __init__(self, crm):
        super().__init__(crm)
        #: the SHA-256 of a valid key -> (whom it authenticates, when it was read: time.monotonic())
        self._known: dict[str, tuple[Principal, float]] = {}
        self._touching: set[int] = set()  # keys whose last use is being noted now
        self._touching_lock = threading.Lock()

    def create(self, party_id: int, role: str | None = None, *, actor_id: int | None = None,
               label: str | None = None, by: int) -> IssuedKey:
        """Make an API key acting for party ``party_id`` with ``role`` (the operator's, ``by=crm.system``).

        With ``actor_id`` the key acts as that person of the party (and takes its role);
        without, it gets an actor of its own ("API key dcrm_…"), so every change made with it
        names an actor. The key itself is in the returned ``IssuedKey`` and nowhere else: only its
        SHA-256 hash is stored.

        Args:
            party_id: The party the key acts for.
            role: The role it acts with (required without ``actor_id``).
            actor_id: A person of the party the key acts as.
            label: What it is for, e.g. ``"DMS sync"`` (also its own actor's name).
            by: The acting actor's id: the system.

        Returns:
            The new key (``IssuedKey``): ``key`` to hand over once, ``prefix`` to name it later.

        Raises:
            NotFound: No such party or actor; or ``by`` is no actor.
            NotPermitted: The actor is not the system, or ``by`` is deactivated.
            ValidationError: A person of another party, a role that is not theirs, no role.

        Examples:
            >>> issued = crm.api_keys.create(dealer, "service", label="DMS sync", by=crm.system)
            >>> (issued.key.startswith(issued.prefix + "_"), issued.role)
            (True, 'service')
        """
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
        """Every key (of ``party_id``, if given) by prefix, label and status, never the key: the operator's.

        Args:
            party_id: Only this party's keys.
            by: The acting actor's id: the system.

        Returns:
            The keys' rows (prefix, label, party, role, created, last used, revoked).

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is not the system, or ``by`` is deactivated.

        Examples:
            >>> _ = crm.api_keys.create(dealer, "service", label="DMS sync", by=crm.system)
            >>> [key.label for key in crm.api_keys.list(dealer, by=crm.system)]
            ['DMS sync']
        """
        with self.read(by) as uow:
            require_system(uow.principal, "list API keys")
            query = select(ApiKey).order_by(ApiKey.id)
            if party_id is not None:
                query = query.where(ApiKey.party_id == party_id)
            return list(uow.session.scalars(query))

    def revoke(self, ident: int | str, *, by: int) -> ApiKey:
        """Revoke a key by id or prefix; it stops working with the next request. The operator's.

        Args:
            ident: The key's id, or its prefix (``dcrm_…``).
            by: The acting actor's id: the system.

        Returns:
            The key's row, revoked.

        Raises:
            NotFound: No such key; or ``by`` is no actor.
            NotPermitted: The actor is not the system, or ``by`` is deactivated.
            ValidationError: The key was revoked already.

        Examples:
            >>> issued = crm.api_keys.create(dealer, "service", by=crm.system)
            >>> crm.api_keys.revoke(issued.prefix, by=crm.system).revoked_at is not None
            True
        """
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
            self._known.pop(key.key_hash, None)  # in this process: refused with the next request
            return key

    def _touch_later(self, key_id: int, now) -> None:
        """Note when a key was last used, on a thread of its own: a write, which must not hold up
        the request it was used for (behind another writer, or SQLite's lock held by another process)."""
        with self._touching_lock:
            if key_id in self._touching:
                return
            self._touching.add(key_id)
        threading.Thread(target=self._touch, args=(key_id, now), name=f"dealercrm-key-{key_id}-touch",
                         daemon=True).start()

    def _touch(self, key_id: int, now) -> None:
        try:
            with self.crm.uow(self.crm.system, "api_keys.touch") as uow:
                uow.connection.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
                uow.commit()
        except Exception as exc:  # noqa: BLE001 - a hint: the next use tries again
            log.warning("API key %s: last use not noted (%s)", key_id, exc)
        finally:
            with self._touching_lock:
                self._touching.discard(key_id)

    def known(self, key: str | None) -> Principal | None:
        """The actor of a key found valid within the last ``KEY_CHECK_SECONDS``, without reading
        the database; None: ask ``authenticate``. The HTTP API asks this on the event loop
        first, so a key it trusts costs no thread and no transaction. Raises nothing: an
        unknown or malformed key is simply not known.

        Args:
            key: The key as presented.

        Returns:
            The actor (``Principal``), or None when the key was not checked lately.

        Examples:
            >>> issued = crm.api_keys.create(dealer, "service", by=crm.system)
            >>> crm.api_keys.known(issued.key) is None
            True
            >>> crm.api_keys.authenticate(issued.key).party_id == crm.api_keys.known(issued.key).party_id
            True
        """
        if not key:
            return None
        found = self._known.get(hash_key(key.strip()))
        if found is None or time.monotonic() - found[1] > KEY_CHECK_SECONDS:
            return None
        return found[0]

    def authenticate(self, key: str | None) -> Principal:
        """The actor a presented key acts as: what the HTTP API asks of every request.

        The key is compared with its stored hash in constant time; its last use is noted as
        a hint, not written on every request. A key checked in the last ``KEY_CHECK_SECONDS``
        is trusted without a read (a revocation by another process counts within that bound;
        one in this process at once).

        Args:
            key: The key as presented (``Authorization: Bearer`` or ``X-API-Key``).

        Returns:
            The actor, with its party and role (``Principal``).

        Raises:
            NotAuthenticated: No key, a malformed or unknown one, a revoked one, or one whose
                actor is inactive — the message says which.

        Examples:
            >>> issued = crm.api_keys.create(dealer, "service", by=crm.system)
            >>> crm.api_keys.authenticate(issued.key).party_id == dealer
            True
            >>> crm.api_keys.authenticate("dcrm_guess")
            Traceback (most recent call last):
            ...
            dealercrm.access.NotAuthenticated: malformed API key: expected dcrm_<8 hex>_<secret>
        """
        known = self.known(key)
        if known is not None:
            return known
        checked_at = time.monotonic()  # before the read: a revocation committed after it counts from here
        if not key:
            raise NotAuthenticated("no API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        match = KEY_FORMAT.fullmatch(key.strip())
        if match is None:
            raise NotAuthenticated("malformed API key: expected dcrm_<8 hex>_<secret>")
        with self.read(self.crm.system) as uow:
            row = uow.connection.execute(_KEY_BY_PREFIX, {"prefix": match.group(1)}).mappings().first()
            now = uow.now
        if row is None or not hmac.compare_digest(row["key_hash"], hash_key(key.strip())):
            raise NotAuthenticated(f"unknown API key {match.group(1)}")
        if row["revoked_at"] is not None:
            raise NotAuthenticated(f"API key {match.group(1)} was revoked at {row['revoked_at'].isoformat()}")
        if not row["active"]:
            raise NotAuthenticated(f"API key {match.group(1)} acts as actor {row['actor_id']}, who is inactive")
        if row["last_used_at"] is None or now - row["last_used_at"] > TOUCH_EVERY:
            self._touch_later(row["id"], now)
        principal = Principal(row["actor_id"], row["name"], row["party_id"], row["kind"], row["role"])
        if len(self._known) >= KNOWN_KEYS:
            self._known.clear()
        self._known[row["key_hash"]] = (principal, checked_at)
        return principal
