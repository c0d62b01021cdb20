"""The HTTP API: ``create_app(crm)`` builds the FastAPI application ``dealercrm serve`` runs.

Needs the ``server`` extra (``pip install 'dealercrm[server]'``); ``import dealercrm``
itself never loads FastAPI.
"""

from .app import create_app, openapi_document

__all__ = ["create_app", "openapi_document"]
