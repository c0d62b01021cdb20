"""Helpers for the HTTP tests: the API client with one key per person, and cases in a given place."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():  # starlette would like httpx2 for its test client; httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from dealercrm.services.api_keys import ApiKeyService

WEBHOOK_SECRET = "whsec-channel-4b1d"


class Api(TestClient):
    keys: dict[str, str]

    def as_(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **extra}


def issue_keys(world) -> dict[str, str]:
    keys = world.crm.api_keys
    people = {"service": world.service, "manager": world.manager, "warranty": world.warranty_desk,
              "fitter": world.fitter, "other_dealer": world.other_dealer_service,
              "other_maker": world.other_warranty_desk}
    return {name: keys.create(actor.party_id, actor_id=actor.id, by=world.crm.system).key
            for name, actor in people.items()}


def forwarded(world) -> int:
    """A case of Erika's washing machine, now with the manufacturer."""
    case = world.open_case()
    world.to_manufacturer(case.id)
    return case.id


def assigned(world) -> int:
    """A case the manufacturer sent to the technician."""
    case = world.open_case()
    world.to_technician(case.id)
    return case.id
