"""Facts recorded on a case that guards consult, e.g. the customer's agreement to a
later visit slot: written down with who and when, never just assumed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update

from .. import validation
from ..audit import jsonable
from ..db.case_models import Case, CaseEvent
from ..db.models import AuditRecord
from ..access import sees_case
from ..errors import Conflict, NotFound, NotPermitted, StateConflict, ValidationError
from ..events import CaseFactRecorded


def record_fact(service, case_id: int, key: str, value: Any, *, by: int, note: str | None = None,
                expected_version: int | None = None) -> int:
    """Returns the case's new version. ``expected_version``: refuse with ``Conflict`` unless
    the case is still at that version (a fact decided on what the caller last saw)."""
    if not key or not key.replace("_", "").isalnum():
        raise ValidationError("key", key, "must be one word naming the fact, like customer_agreed_late_slot")
    validation.finite("value", value)  # NaN and 1e999 were stored and read back as null
    with service.crm.uow(by, "cases.record_fact") as uow:
        conn = uow.connection
        actor = uow.principal
        case = service.load(conn, case_id, lock=True)
        if not sees_case(uow, case):
            raise NotFound("case", case_id)
        if case["closed_at"] is not None:
            raise StateConflict("case", case_id, f"is {case['state']}; facts are recorded on open cases only")
        if not service.acts_on(actor, case):
            raise NotPermitted(f"case {case_id}: {actor.name} ({actor.kind}, party {actor.party_id}) is not a party "
                               "of this case and may not record facts on it")
        keepers = service.workflow(case["workflow"]).workflow.fact_keepers.get(key)
        if keepers is not None and not actor.is_system and actor.kind not in keepers:
            raise NotPermitted(f"case {case_id}: the fact {key!r} is recorded by the case's {' or '.join(keepers)}, "
                               f"not by {actor.name} ({actor.kind})")
        if expected_version is not None and case["version"] != expected_version:
            raise Conflict(f"case {case_id}: version {expected_version} is no longer current (now {case['version']}); "
                           "reload the case and decide again")
        facts = dict(case["facts"] or {})
        before = facts.get(key)
        facts[key] = jsonable(value)
        version = case["version"] + 1
        done = conn.execute(update(Case.__table__).where(Case.__table__.c.id == case_id,
                                                         Case.__table__.c.version == case["version"])
                            .values(facts=facts, version=version))
        if done.rowcount != 1:
            raise Conflict(f"case {case_id}: version {case['version']} was changed concurrently")
        conn.execute(insert(CaseEvent.__table__).values(
            case_id=case_id, kind="fact", to_state=case["state"], actor_id=actor.id, party_id=actor.party_id,
            owner_party_id=case["owner_party_id"], due_at=case["due_at"], at=uow.now, note=note,
            data={key: facts[key]}, version=version))
        conn.execute(insert(AuditRecord.__table__).values(
            at=uow.now, actor_id=actor.id, operation="cases.record_fact", action="update", entity="service_case",
            # the value goes in the personal half (``Case.__personal__``): an erasure blanks it there
            entity_id=case_id, changes={"version": [version - 1, version]},
            personal_changes={f"facts.{key}": [before, facts[key]]}, customer_id=case["customer_id"]))
        uow.raise_event(CaseFactRecorded, case_id=case_id, key=key, value=facts[key])
        uow.commit()
        return version
