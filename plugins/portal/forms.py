"""The actions on a case page, as forms made from the workflow's own data requirements.

For each trigger the service says this actor may fire now (``allowed_triggers``), the
workflow definition (``workflow_definitions.definition``) says which data it requires and
which party it may have to name: a ``*_at`` key becomes a date-and-time picker read in the
viewer's zone, a party to name a choice among the directory's parties of that kind, any
other key a text field; a note may go with every action. Nothing here decides whether the
action is allowed or the data enough: the service does, when it fires.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from dealercrm.errors import ValidationError

LONG_TEXT = ("reason", "note", "question")


@attrs.frozen
class Field:
    name: str
    label: str
    kind: str  # datetime | party | textarea | text
    required: bool
    options: tuple[tuple[int, str], ...] = ()
    value: str = ""


@attrs.frozen
class Action:
    trigger: str
    label: str
    dest_label: str
    description: str
    fields: tuple[Field, ...]
    guards: tuple[str, ...]


def _field(key: str, words, required: bool, parties: dict[str, list], entered: dict[str, str]) -> Field:
    value = entered.get(key, "")
    if key.endswith("_at"):
        return Field(key, f"{words.field(key)} ({words('in_zone', zone=words.zone_name)})", "datetime", required,
                     value=value)
    if key.endswith("_party_id"):
        kind = key.removesuffix("_party_id")
        return Field(key, words.field(key), "party", required,
                     tuple((p.id, p.name) for p in parties.get(kind, [])), value)
    return Field(key, words.field(key), "textarea" if key in LONG_TEXT else "text", required, value=value)


def actions(definition: dict, case, allowed: list[str], parties: dict[str, list], words,
            entered: dict[str, dict[str, str]] | None = None) -> list[Action]:
    """One form per trigger this actor may fire on ``case`` now."""
    entered = entered or {}
    here = {t["trigger"]: t for t in definition["transitions"] if case.state in t["sources"]}
    made = []
    for trigger in allowed:
        t = here.get(trigger)
        if t is None:
            continue
        mine = entered.get(trigger, {})
        fields = [_field(key, words, True, parties, mine) for key in t["required"]]
        named = t.get("names_party")
        if named and named not in t["required"] and getattr(case, named, None) is None:
            fields.append(_field(named, words, True, parties, mine))
        if "note" not in t["required"]:
            fields.append(Field("note", words("note"), "textarea", False, value=mine.get("note", "")))
        made.append(Action(trigger, words.trigger(trigger), words.state(t["dest"]), t["description"] or "",
                           tuple(fields), tuple(g["description"] for g in t["guards"])))
    return made


def parse(action: Action | None, form: dict[str, str], words) -> tuple[dict[str, object], str | None]:
    """The submitted form as the data and note ``cases.fire`` takes; times become aware in the
    viewer's zone."""
    if action is None:
        return {}, None
    data: dict[str, object] = {}
    note = None
    for field in action.fields:
        raw = (form.get(field.name) or "").strip()
        if field.name == "note" and not field.required:
            note = raw or None
            continue
        if not raw:
            continue  # the service names what is missing
        if field.kind == "datetime":
            try:
                local = datetime.fromisoformat(raw)
            except ValueError:
                raise ValidationError(field.name, raw, "is not a date and time") from None
            data[field.name] = (local.replace(tzinfo=words.zone) if local.tzinfo is None else local).isoformat()
        elif field.kind == "party":
            if not raw.isdigit():
                raise ValidationError(field.name, raw, "choose one from the list")
            data[field.name] = int(raw)
        else:
            data[field.name] = raw
    return data, note
