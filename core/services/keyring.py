"""The server's secret, and a key for each purpose derived from it.

Links handed out without an account (a customer's link to their case) are signed with it,
and a web front end may sign its anti-forgery tokens with a key of its own purpose. The
secret is ``DEALERCRM_SECRET_KEY`` or ``[dealercrm] secret_key``; an installation that set
neither uses the one its database was given when it was migrated (``server_secret``,
migration 0007), so every process on the database — ``dealercrm serve``, its workers, the
command line printing links — signs and checks alike. Changing the secret invalidates
every link signed with the old one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import hashlib
import hmac
import threading

from sqlalchemy import select

from ..db.sign_in_models import ServerSecret
from ..errors import ValidationError
from .base import Service

if TYPE_CHECKING:
    from sqlalchemy import Connection

MASTER = "master"


class Keyring(Service):
    def __init__(self, crm):
        super().__init__(crm)
        self._master: bytes | None = None
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def key(self, purpose: str, connection: Connection | None = None) -> bytes:
        """A 256-bit key for ``purpose`` (e.g. ``"case-link"``): HMAC-SHA256 of the purpose under
        the secret, so one purpose's signatures are worthless for another.

        Args:
            purpose: What the key signs, e.g. ``"case-link"``, ``"my_plugin.csrf"``.
            connection: The caller's open one, to read a secret kept in the database on (once
                per process) instead of checking out a second connection while the caller's
                transaction is open.

        Returns:
            The key, the same for the same purpose in every process on this database.

        Raises:
            ValidationError: No secret is configured and the database holds none (run
                ``dealercrm db upgrade``).

        Examples:
            >>> key = crm.keyring.key("my_plugin.csrf")
            >>> (len(key), key == crm.keyring.key("case-link"))
            (32, False)
        """
        found = self._keys.get(purpose)
        if found is None:
            found = self._keys[purpose] = hmac.new(self._secret(connection), purpose.encode(), hashlib.sha256).digest()
        return found

    def _secret(self, connection) -> bytes:
        with self._lock:
            if self._master is None:
                configured = self.crm.settings.secret_key
                self._master = (configured or self._kept(connection)).encode()
            return self._master

    def _kept(self, connection) -> str:
        table = ServerSecret.__table__
        query = select(table.c.value).where(table.c.name == MASTER)
        if connection is not None:
            found = connection.execute(query).scalar()
        else:  # a read: it may run while another unit of work holds SQLite's one writer
            with self.read(self.crm.system) as uow:
                found = uow.connection.execute(query).scalar()
        if not found:
            raise ValidationError("secret_key", None, "no secret is configured (DEALERCRM_SECRET_KEY, [dealercrm] "
                                  "secret_key) and the database holds none: run `dealercrm db upgrade`")
        return found
