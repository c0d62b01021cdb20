"""``crm.as_actor(id)``: the services with ``by=`` filled in, and nothing else.

A host hands this to code acting for one person (its own API, a portal): it cannot
forget ``by=``, and it cannot pick another actor. It holds no rules of its own — every
call lands in the same service method, which decides access in its own transaction.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access import Principal
    from .app import CRM


#: (service class, method name) -> does the method take ``by``: looked up once, not per call
_TAKES_BY: dict[tuple[type, str], bool] = {}


def _takes_by(cls: type, name: str, target: Any) -> bool:
    known = _TAKES_BY.get((cls, name))
    if known is None:
        known = _TAKES_BY[(cls, name)] = "by" in inspect.signature(target).parameters
    return known


class _Bound:
    """One service with ``by`` bound on every method that takes it."""

    def __init__(self, service: object, actor_id: int):
        self._service, self._actor_id = service, actor_id

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._service, name)
        if (name.startswith("_") or name in ("uow", "read") or not callable(target)
                or not _takes_by(type(self._service), name, target)):
            raise AttributeError(f"{type(self._service).__name__}.{name} is not an operation of an actor")
        bound = functools.partial(target, by=self._actor_id)
        functools.update_wrapper(bound, target)
        return bound

    def __repr__(self) -> str:
        return f"<{type(self._service).__name__} as actor {self._actor_id}>"


class ActingAs:
    """The application as one actor uses it: ``crm.as_actor(7).cases.fire(12, "approve_visit")``."""

    def __init__(self, crm: CRM, actor_id: int, principal: Principal | None = None):
        #: who the caller authenticated as (for messages); every operation reads it afresh
        self.crm, self.actor_id, self.principal = crm, actor_id, principal

    def __getattr__(self, name: str) -> _Bound:
        service = getattr(self.crm, name)
        bound = _Bound(service, self.actor_id)
        self.__dict__[name] = bound
        return bound

    def __repr__(self) -> str:
        return f"<dealercrm.ActingAs actor {self.actor_id}>"


def as_actor(crm: CRM, actor_id: int) -> ActingAs:
    """``crm.as_actor(actor_id)``, as a function."""
    return crm.as_actor(actor_id)
