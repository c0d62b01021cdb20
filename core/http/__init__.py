"""The HTTP API: ``create_app(crm)`` builds the FastAPI application ``dealercrm serve`` runs.

Needs the ``server`` extra (``pip install 'dealercrm[server]'``); ``import dealercrm``
itself never loads FastAPI, and neither do the bodies in ``dealercrm.http.schemas`` (plain
pydantic): the command line prints its JSON in their shapes without the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app, openapi_document

__all__ = ["create_app", "openapi_document"]


def __getattr__(name: str) -> Any:
    """``create_app`` and ``openapi_document`` load FastAPI when first asked for (PEP 562)."""
    if name in __all__:
        from . import app
        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
