"""Signing people in without an API key: passwords, one-time links, browser sessions.

A person gets in with the password a manager of their party (or the operator) set for
them, or with a one-time link sent through the outbox to the e-mail address on their
actor record. Either starts a session; every request then presents the session's token
and is let in as that person only while the session has not ended, expired or idled out
*and* the person is still active — deactivating someone ends their sessions' use at once,
as it ends their API keys'. What the person may then see and do is decided by the services
as for every other way in (``dealercrm.access``).

Stored are hashes only: argon2id for passwords (``argon2-cffi``, the ``server`` extra),
SHA-256 for the random 256-bit tokens of links and sessions. One answer for every failed
sign-in ("unknown e-mail or wrong password"), and a password is checked against a hash
even for an unknown address, so neither the text nor the time tells who has an account.
Throttling repeated attempts is the front end's (it knows the client's address).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from functools import lru_cache

import attrs
from sqlalchemy import bindparam, delete, func, insert, select, update

from ..access import NotAuthenticated, Principal, load_principal, managed_person
from ..db.models import Actor, AuditRecord
from ..db.sign_in_models import ActorPassword, ActorSession, SignInLink
from ..errors import DealerCrmError, NotPermitted, ValidationError
from .base import Service

MIN_PASSWORD = 12
LINK_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE = timedelta(hours=2)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session
REFUSED = "unknown e-mail address or wrong password"
PASSWORD, LINK, SESSION = ActorPassword.__table__, SignInLink.__table__, ActorSession.__table__
AUDIT = AuditRecord.__table__

_SESSION = select(SESSION.c.id, SESSION.c.actor_id, SESSION.c.expires_at, SESSION.c.last_seen_at,
                  SESSION.c.ended_at).where(SESSION.c.token_hash == bindparam("digest"))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _hasher():
    from argon2 import PasswordHasher  # the server extra: `import dealercrm` stays light

    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy() -> str:
    """A hash to check a password against when the address is unknown: the same work either way."""
    return _hasher().hash(secrets.token_urlsafe(16))


@attrs.frozen
class SignedIn:
    """A session just started; ``token`` exists only here (the cookie), the database keeps its hash."""

    token: str = attrs.field(repr=False)
    actor_id: int
    expires_at: datetime


class SignInService(Service):
    # -- passwords -------------------------------------------------------------------------
    def set_password(self, actor_id: int, password: str, *, by: int) -> None:
        """Set a person's password: for their party's owner or manager, or the operator. The
        person's sessions end (the old password may be why it was changed).

        Stored as an argon2id hash; the audit records that it was set, never the hash.

        Args:
            actor_id: The person.
            password: At least 12 characters.
            by: The acting actor's id: an owner or manager of the person's party, or the system.

        Raises:
            NotFound: No such actor; or ``by`` is no actor.
            NotPermitted: The actor is no owner or manager of that party (nor the system), or
                ``by`` is deactivated.
            ValidationError: A password shorter than 12 characters, or the system actor.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", email="bob@example.org", by=lea).id
            >>> crm.sign_in.set_password(bob, "correct horse battery", by=lea)
            >>> crm.sign_in.with_password("bob@example.org", "correct horse battery").name
            'Bob Kern'
        """
        if not isinstance(password, str) or len(password) < MIN_PASSWORD or not password.strip():
            raise ValidationError("password", "***", f"must be at least {MIN_PASSWORD} characters")
        hashed = _hasher().hash(password)
        with self.uow(by, "sign_in.set_password") as uow:
            actor = managed_person(uow, actor_id, "set passwords of")
            if actor.is_system:
                raise ValidationError("actor_id", actor_id, "is dealercrm's own system actor, which never signs in")
            conn = uow.connection
            had = conn.execute(delete(PASSWORD).where(PASSWORD.c.actor_id == actor_id)).rowcount
            conn.execute(insert(PASSWORD).values(actor_id=actor_id, password_hash=hashed, set_at=uow.now,
                                                 set_by_id=uow.actor_id))
            ended = self._end_sessions(uow, actor_id)
            _audit(uow, uow.actor_id, "update" if had else "insert", "actor_password", actor_id,
                   {"password": ["(set)" if had else None, "(set)"], "sessions_ended": [None, ended]})
            uow.commit()

    def with_password(self, email: str, password: str) -> Principal:
        """The active person with this e-mail address and password: signing in.

        One answer for every failure, and the same work for an unknown address, so neither
        the text nor the time tells who has an account. Throttling is the front end's.

        Args:
            email: The address on the person's actor record, in any case.
            password: The password.

        Returns:
            The person (``Principal``); ``start_session`` makes the session.

        Raises:
            NotAuthenticated: An unknown address, a wrong password, or an inactive person.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", email="bob@example.org", by=lea).id
            >>> crm.sign_in.set_password(bob, "correct horse battery", by=lea)
            >>> crm.sign_in.with_password("Bob@Example.org", "correct horse battery").role
            'sales'
            >>> crm.sign_in.with_password("bob@example.org", "wrong")
            Traceback (most recent call last):
            ...
            dealercrm.access.NotAuthenticated: unknown e-mail address or wrong password
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        address = (email or "").strip().lower()
        with self.read(self.crm.system) as uow:
            rows: Sequence[Any] = uow.connection.execute(
                select(Actor.id, PASSWORD.c.password_hash).join(PASSWORD, PASSWORD.c.actor_id == Actor.id)
                .where(func.lower(Actor.email) == address, Actor.active.is_(True)).order_by(Actor.id)).all()
        for actor_id, hashed in rows or [(None, _decoy())]:
            try:
                _hasher().verify(hashed, password or "")
            except (VerificationError, InvalidHashError):
                continue
            if actor_id is not None:
                return self._principal(actor_id)
        raise NotAuthenticated(REFUSED)

    # -- one-time links ----------------------------------------------------------------------
    def issue_link(self, actor_id: int, *, by: int, lifetime: timedelta = LINK_LIFETIME) -> str:
        """A one-time sign-in link's token for a person, to hand over another way (the operator's
        ``dealercrm portal links``): for their party's owner or manager, or the operator.

        Args:
            actor_id: The person.
            by: The acting actor's id: an owner or manager of the person's party, or the system.
            lifetime: How long the link works (default 15 minutes).

        Returns:
            The token (only its hash is stored); ``redeem_link`` takes it.

        Raises:
            NotFound: No such actor; or ``by`` is no actor.
            NotPermitted: The actor is no owner or manager of that party (nor the system), the
                person is inactive or the system; or ``by`` is deactivated.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=lea).id
            >>> token = crm.sign_in.issue_link(bob, by=lea)
            >>> crm.sign_in.redeem_link(token).actor_id == bob
            True
        """
        with self.uow(by, "sign_in.issue_link") as uow:
            actor = managed_person(uow, actor_id, "issue sign-in links for")
            if actor.is_system or not actor.active:
                raise NotPermitted(f"actor {actor_id} {actor.name} is {'the system' if actor.is_system else 'inactive'}"
                                   " and cannot sign in")
            token = self._new_link(uow, actor_id, lifetime)
            uow.commit()
            return token

    def send_link(self, email: str, *, url: str, subject: str, body: str,
                  lifetime: timedelta = LINK_LIFETIME) -> int:
        """E-mail a one-time sign-in link, through the outbox, to each active person with this
        address: "forgot my password", without an account being revealed.

        Args:
            email: The address the visitor typed.
            url: The sign-in page's address with ``{token}`` where the token goes.
            subject: The e-mail's subject.
            body: Its text, with ``{url}`` where the link goes.
            lifetime: How long the link works (default 15 minutes).

        Returns:
            How many links were queued (a front end must not tell the visitor: that would say
            who has an account).

        Raises:
            ValidationError: No e-mail channel is loaded (ask a manager for a password instead).

        Examples:
            >>> _ = crm.parties.add_actor(dealer, "Bob Kern", "sales", email="bob@example.org", by=lea)
            >>> crm.sign_in.send_link("bob@example.org", url="https://crm.example.org/sign-in/{token}",
            ...                       subject="Sign in", body="Open {url}")
            1
        """
        if "email" not in self.crm.channels:
            raise ValidationError("channel", "email", "sign-in links go by e-mail, and no e-mail channel is "
                                  "configured ([plugins.channel_email]); ask a manager for a password instead")
        address = (email or "").strip().lower()
        with self.uow(self.crm.system, "sign_in.send_link") as uow:
            actors = uow.connection.execute(select(Actor.id, Actor.email).where(
                func.lower(Actor.email) == address, Actor.active.is_(True), Actor.is_system.is_(False))).all()
            for actor_id, to in actors:
                link = url.format(token=self._new_link(uow, actor_id, lifetime))
                self.crm.outbox.enqueue(uow, channel="email", purpose="service", recipient=to, subject=subject,
                                        body=body.format(url=link), origin="sign_in",
                                        data={"actor_id": actor_id, "template": "sign_in_link"})
            uow.commit()
            return len(actors)

    def redeem_link(self, token: str, *, lifetime: timedelta = SESSION_LIFETIME) -> SignedIn:
        """Use a one-time link: a session for its person. The link is used up, also when two
        requests present it at once.

        Args:
            token: The link's token.
            lifetime: How long the session lasts (default 8 hours).

        Returns:
            The session (``SignedIn``): its ``token`` for the cookie, the person, when it expires.

        Raises:
            NotAuthenticated: The link is unknown, used, expired, or its person inactive.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=lea).id
            >>> token = crm.sign_in.issue_link(bob, by=lea)
            >>> signed = crm.sign_in.redeem_link(token)
            >>> crm.sign_in.session(signed.token).name
            'Bob Kern'
            >>> crm.sign_in.redeem_link(token)
            Traceback (most recent call last):
            ...
            dealercrm.access.NotAuthenticated: this sign-in link is unknown, already used or expired: ask for a new one
        """
        with self.uow(self.crm.system, "sign_in.redeem_link") as uow:
            row = uow.connection.execute(select(LINK).where(LINK.c.token_hash == digest(token or ""))).first()
            if row is None or row.used_at is not None or row.expires_at <= uow.now:
                raise NotAuthenticated("this sign-in link is unknown, already used or expired: ask for a new one")
            used = uow.connection.execute(update(LINK).where(LINK.c.id == row.id, LINK.c.used_at.is_(None))
                                          .values(used_at=uow.now)).rowcount
            if used != 1:
                raise NotAuthenticated("this sign-in link is unknown, already used or expired: ask for a new one")
            signed = self._start(uow, self._active(uow.connection, row.actor_id), "link", lifetime)
            uow.commit()
            return signed

    # -- sessions ----------------------------------------------------------------------------
    def start_session(self, principal: Principal, *, method: str = "password",
                      lifetime: timedelta = SESSION_LIFETIME) -> SignedIn:
        """A session for a person who just proved who they are (``with_password``).

        Args:
            principal: The person.
            method: How they proved it, for the audit (``"password"``).
            lifetime: How long the session lasts (default 8 hours).

        Returns:
            The session (``SignedIn``): its ``token`` exists only here (the database keeps its hash).

        Raises:
            NotAuthenticated: The person was deactivated (or deleted) meanwhile.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", email="bob@example.org", by=lea).id
            >>> crm.sign_in.set_password(bob, "correct horse battery", by=lea)
            >>> bob_signing_in = crm.sign_in.with_password("bob@example.org", "correct horse battery")
            >>> signed = crm.sign_in.start_session(bob_signing_in)
            >>> signed.actor_id == bob
            True
        """
        with self.uow(self.crm.system, "sign_in.start_session") as uow:
            signed = self._start(uow, self._active(uow.connection, principal.actor_id), method, lifetime)
            uow.commit()
            return signed

    def session(self, token: str | None, *, idle: timedelta = SESSION_IDLE) -> Principal:
        """The person a session token stands for, read now: what every request of a signed-in
        browser asks. Its last use is noted at most once a minute.

        Args:
            token: The session's token (the cookie).
            idle: How long a session may go unused before it ends (default 2 hours).

        Returns:
            The person (``Principal``).

        Raises:
            NotAuthenticated: No token, or the session ended, expired, idled out, or its person
                was deactivated.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=lea).id
            >>> signed = crm.sign_in.redeem_link(crm.sign_in.issue_link(bob, by=lea))
            >>> crm.sign_in.session(signed.token).actor_id == bob
            True
        """
        if not token:
            raise NotAuthenticated("not signed in")
        with self.read(self.crm.system) as uow:
            row = uow.connection.execute(_SESSION, {"digest": digest(token)}).mappings().first()
            now = uow.now
            if row is None or row["ended_at"] is not None:
                raise NotAuthenticated("not signed in, or signed out")
            if row["expires_at"] <= now or now - row["last_seen_at"] > idle:
                raise NotAuthenticated("the session has expired: sign in again")
            principal = self._active(uow.connection, row["actor_id"])
        if now - row["last_seen_at"] > TOUCH_EVERY:
            with self.uow(self.crm.system, "sign_in.touch") as uow:
                uow.connection.execute(update(SESSION).where(SESSION.c.id == row["id"]).values(last_seen_at=now))
                uow.commit()
        return principal

    def end_session(self, token: str | None) -> None:
        """Sign out: the session stops working now. Raises nothing: an unknown or ended token
        is no error (signing out twice is fine).

        Args:
            token: The session's token.

        Examples:
            >>> bob = crm.parties.add_actor(dealer, "Bob Kern", "sales", by=lea).id
            >>> signed = crm.sign_in.redeem_link(crm.sign_in.issue_link(bob, by=lea))
            >>> crm.sign_in.end_session(signed.token)
            >>> crm.sign_in.session(signed.token)
            Traceback (most recent call last):
            ...
            dealercrm.access.NotAuthenticated: not signed in, or signed out
        """
        with self.uow(self.crm.system, "sign_in.end_session") as uow:
            row = uow.connection.execute(select(SESSION.c.id, SESSION.c.actor_id).where(
                SESSION.c.token_hash == digest(token or ""), SESSION.c.ended_at.is_(None))).first()
            if row is not None:
                uow.connection.execute(update(SESSION).where(SESSION.c.id == row.id).values(ended_at=uow.now))
                _audit(uow, row.actor_id, "update", "actor_session", row.id, {"ended_at": [None, uow.now.isoformat()]})
            uow.commit()

    # -- inside ------------------------------------------------------------------------------
    def _principal(self, actor_id: int) -> Principal:
        with self.read(actor_id) as uow:
            return uow.principal

    @staticmethod
    def _active(conn, actor_id: int) -> Principal:
        try:
            return load_principal(conn, actor_id)
        except DealerCrmError:  # unknown or inactive: one answer
            raise NotAuthenticated("this person may no longer sign in") from None

    @staticmethod
    def _new_link(uow, actor_id: int, lifetime: timedelta) -> str:
        token = secrets.token_urlsafe(32)
        link_id = uow.connection.execute(insert(LINK).values(
            token_hash=digest(token), actor_id=actor_id, created_at=uow.now, expires_at=uow.now + lifetime)
            .returning(LINK.c.id)).scalar_one()
        _audit(uow, uow.actor_id, "insert", "sign_in_link", link_id,
               {"actor_id": [None, actor_id], "expires_at": [None, (uow.now + lifetime).isoformat()]})
        return token

    @staticmethod
    def _start(uow, principal: Principal, method: str, lifetime: timedelta) -> SignedIn:
        token = secrets.token_urlsafe(32)
        expires = uow.now + lifetime
        session_id = uow.connection.execute(insert(SESSION).values(
            token_hash=digest(token), actor_id=principal.actor_id, method=method, created_at=uow.now,
            expires_at=expires, last_seen_at=uow.now).returning(SESSION.c.id)).scalar_one()
        _audit(uow, principal.actor_id, "insert", "actor_session", session_id,
               {"method": [None, method], "expires_at": [None, expires.isoformat()]})
        return SignedIn(token, principal.actor_id, expires)

    @staticmethod
    def _end_sessions(uow, actor_id: int) -> int:
        return uow.connection.execute(update(SESSION).where(SESSION.c.actor_id == actor_id,
                                                            SESSION.c.ended_at.is_(None))
                                      .values(ended_at=uow.now)).rowcount


def _audit(uow, actor_id: int | None, action: str, entity: str, entity_id: int, changes: dict) -> None:
    """Who signed in how and when is on the record; no hash or token ever is."""
    uow.connection.execute(insert(AUDIT).values(
        at=uow.now, actor_id=actor_id, operation=uow.operation, action=action, entity=entity, entity_id=entity_id,
        changes=changes, personal_changes=None, customer_id=None))


__all__ = ["SignInService", "SignedIn", "digest"]
