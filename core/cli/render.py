"""Rich renderings of the customer file, shared by ``customers show`` and ``demo``."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from ..db.models import PURPOSES
from ..fields import FieldSet
from ..services.customers import CustomerView
from ..services.relationships import RelationshipMap
from .common import fmt_time, viewer_zone


def _e(value: object) -> str:
    """What people typed is shown as typed: ``[erased]`` or ``[/]`` is text, not Rich markup."""
    return escape(str(value))


def customer_view(view: CustomerView, fields: FieldSet | None = None, channels: tuple[str, ...] = ()) -> Panel:
    """``channels``: the consent channels to show a row for (``crm.consents.channels()``);
    any other channel with a recorded answer is shown too."""
    c = view.customer
    head = Table.grid(padding=(0, 2))
    owner = f"{_e(view.owner_party.name)} (party {view.owner_party.id})" if view.owner_party else "(withheld)"
    head.add_row("kind", _e(c.get("kind", "—")), "owner", owner)
    head.add_row("email", _e(c.get("email") or "—"), "account owner",
                 _e(view.account_owner.name) if view.account_owner else "—")
    head.add_row("phone", _e(c.get("phone") or "—"), "last personal touch", fmt_time(c.get("last_touch_at")))
    status = ("erased" if c.get("erased_at") else f"merged into {c['merged_into_id']}" if c.get("merged_into_id")
              else "active" if view.visibility == "full" else "case contact (minimised)")
    head.add_row("birthday", str(c.get("birthday") or "—"), "status", status)
    for f in (fields.custom if fields is not None else ()):
        head.add_row(f.name.replace("_", " "), _e(c.get(f.name) or "—"), "", "")
    parts: list = [head]
    if view.contacts:
        t = Table("contact", "function", "email", "phone", title="Contact persons", title_justify="left")
        for p in view.contacts:
            t.add_row(_e(p.name), _e(p.function), _e(p.email or "—"), _e(p.phone or "—"))
        parts.append(t)
    if view.assets:
        t = Table("asset", "product", "serial", "handed over", "warranty until", title="Assets", title_justify="left")
        for a, p in view.assets:
            t.add_row(str(a.id), _e(p.name), _e(a.serial_number or "—"), str(a.handed_over_on or "—"),
                      f"{a.warranty_until or '—'}{' (override)' if a.warranty_overridden else ''}")
        parts.append(t)
    if view.cases:
        t = Table("case", "state", "opened", "due", "summary", title="Cases", title_justify="left")
        for case in reversed(view.cases):  # the newest first, like the timeline
            t.add_row(str(case.id), case.state if case.closed_at is None else f"{case.state} (closed)",
                      fmt_time(case.opened_at), fmt_time(case.due_at), _e(case.summary))
        parts.append(t)
    if view.interests:
        t = Table("interest", "noted", "note", title="Interests", title_justify="left")
        for i in view.interests:
            t.add_row(_e(i.tag), fmt_time(i.noted_at), _e(i.note or ""))
        parts.append(t)
    t = Table("channel", *PURPOSES, title="Consents (latest record)", title_justify="left")
    shown = sorted(set(channels) | {ch for ch, _ in view.consents}) if view.consents is not None else ()
    for ch in shown:
        cells = []
        for pu in PURPOSES:
            rec = view.consents.get((ch, pu))
            cells.append("—" if rec is None else f"{'[green]yes' if rec.granted else '[red]no'}[/] ({_e(rec.source)})")
        t.add_row(ch, *cells)
    parts.append(t)
    names = {p.id: f"{p.name} ({p.function})" for p in view.contacts or ()}
    if view.timeline:
        t = Table("when", "channel", "dir", "with", "summary", title="Timeline (newest first)", title_justify="left")
        for i in view.timeline[:15]:
            if i.kind == "hand_off":
                due = f", due {fmt_time(i.due_at)}" if i.due_at else ""
                t.add_row(fmt_time(i.at), "case", "—", "—", _e(i.summary + due))
            else:
                t.add_row(fmt_time(i.at), i.channel, i.direction, _e(names.get(i.contact_person_id, "—")),
                          _e(i.summary) + ("" if i.personal else " [dim](mass)[/]"))
        parts.append(t)
    if view.open_tasks:
        t = Table("task", "due", "title", "with", "origin", title="Open tasks", title_justify="left")
        for task in view.open_tasks:
            t.add_row(str(task.id), fmt_time(task.due_at), _e(task.title),
                      _e(names.get(task.contact_person_id, "—")), task.origin)
        parts.append(t)
    if view.relationships is not None and (view.relationships.threads or view.contacts):
        parts.append(relationship_levels(view.relationships))
    return Panel(Group(*parts), title=f"customer {c.id}: {_e(c.name)}", title_align="left")


def relationship_levels(m: RelationshipMap) -> Table:
    """Per level (salesman and buyer, service and technician …): kept, lapsed, never met."""
    state = {"ours": "one of our people", "theirs": "one of their functions", "both": "one of ours, one of theirs"}
    title = (f"Relationships by level (window {m.window_days} days"
             + (f"; single-threaded: {state[m.single_threaded]}" if m.single_threaded else "") + ")")
    t = Table("level", "state", "who", title=title, title_justify="left", min_width=len(title))
    colour = {"kept": "green", "lapsed": "yellow", "never met": "red"}
    for level in m.levels:
        if level.state == "neither":
            continue
        shown = f"[{colour[level.state]}]{level.state}[/]" if level.state in colour else level.state
        t.add_row(level.level, shown, _e(m.describe(level).split(": ", 1)[1]))
    return t


def relationship_map(m: RelationshipMap, customer_name: str) -> Panel:
    """``customers relationships``: our people against their contact persons, then the levels."""
    head = Table.grid(padding=(0, 2))
    owner = m.person(m.account_owner_id) if m.account_owner_id else None
    head.add_row("account owner", _e(f"{owner.name} ({owner.role})" + ("" if owner.active else ", left"))
                 if owner else "—")
    head.add_row("our people in the last " + str(m.window_days) + " days",
                 _e(", ".join(m.person_name(i) for i in m.our_people_in_window) or "nobody"))
    head.add_row("their functions in the last " + str(m.window_days) + " days",
                 _e(", ".join(m.their_functions_in_window) or "none named"))
    columns = [*m.contacts, None] if any(t.contact_id is None for t in m.threads) else list(m.contacts)
    title = "Our people and theirs: last personal touch · touches in 12 months · channel"
    grid = Table("ours \\ theirs", *(_e(f"{c.name} ({c.function})") if c else "(the company)" for c in columns),
                 title=title, title_justify="left", min_width=len(title))
    rows = [p for p in m.people if p.account_owner or any(t.actor_id == p.actor_id for t in m.threads)]
    for person in rows:
        cells = []
        for c in columns:
            thread = next((t for t in m.threads if t.actor_id == person.actor_id
                           and t.contact_id == (c.contact_id if c else None)), None)
            cells.append("—" if thread is None else
                         f"{thread.last_touch_at.astimezone(viewer_zone()):%Y-%m-%d} · {thread.touches_12_months}× · "
                         f"{thread.channel}")
        label = f"{person.name} ({person.role})" + (", account owner" if person.account_owner else "") + (
            "" if person.active else ", left")
        grid.add_row(_e(label), *cells)
    return Panel(Group(head, grid, relationship_levels(m)), title=f"relationships of customer {m.customer_id}: "
                 f"{_e(customer_name)}", title_align="left")
