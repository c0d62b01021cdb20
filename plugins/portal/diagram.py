"""The workflow drawn on the server: one lane per owner, the current state highlighted.

States are placed top to bottom by how many steps they lie from the initial state, each
in the lane of the party that owns it (final states in a lane of their own), and the ways
out of the current state are drawn as arrows. Drawn from the loaded workflow — plugins'
extensions included — so the picture is the flow that fires. SVG presentation attributes
only (no inline styles: the portal's Content-Security-Policy forbids them); the same
information is given as a list next to it for screen readers and keyboards.
"""

from __future__ import annotations

from collections import deque
from xml.sax.saxutils import escape

from markupsafe import Markup

LANES = ("dealer", "manufacturer", "technician", "customer", None)
LANE_W, BOX_H, ROW_H, TOP = 210, 34, 48, 40
FILL = {"dealer": "#e8f0fe", "manufacturer": "#fdf2e3", "technician": "#e6f4ea", "customer": "#f3e8fd", None: "#eeeeee"}


def depths(workflow) -> dict[str, int]:
    """Steps from the initial state (breadth first); unreachable states (none, once proven) last."""
    found = {workflow.initial: 0}
    queue = deque([workflow.initial])
    while queue:
        state = queue.popleft()
        for t in workflow.transitions_from(state):
            if t.dest not in found:
                found[t.dest] = found[state] + 1
                queue.append(t.dest)
    deepest = max(found.values(), default=0)
    return {s.name: found.get(s.name, deepest + 1) for s in workflow.states}


def layout(workflow) -> tuple[dict[str, tuple[int, int]], int]:
    """``{state: (x, y)}`` of each box's top-left corner, and the height of the drawing."""
    level = depths(workflow)
    places: dict[str, tuple[int, int]] = {}
    y = TOP
    for depth in sorted(set(level.values())):
        here = [s for s in workflow.states if level[s.name] == depth]
        rows = 0
        for lane, owner in enumerate(LANES):
            mine = [s for s in here if (None if s.final else s.owner) == owner]
            for row, state in enumerate(mine):
                places[state.name] = (10 + lane * LANE_W, y + row * ROW_H)
            rows = max(rows, len(mine))
        y += rows * ROW_H
    return places, y + 10


def _edge_end(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    """Where the line from (x1, y1) to the centre (x2, y2) of a box meets its border."""
    dx, dy = x2 - x1, y2 - y1
    hw, hh = (LANE_W - 20) / 2 + 3, BOX_H / 2 + 3
    scale = min(hw / abs(dx) if dx else float("inf"), hh / abs(dy) if dy else float("inf"))
    return x2 - dx * scale, y2 - dy * scale


def svg(workflow, current: str, words) -> Markup:
    places, height = layout(workflow)
    width = LANE_W * len(LANES) + 10
    nexts = sorted({t.dest for t in workflow.transitions_from(current) if t.dest != current})
    title = f"{words('workflow')}: {workflow.name}"
    desc = (f"{words('you_are_here')}: {words.state(current)}. "
            + ", ".join(words.state(n) for n in nexts))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="diagram" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-labelledby="wf-title wf-desc">',
           f'<title id="wf-title">{escape(title)}</title><desc id="wf-desc">{escape(desc)}</desc>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1a237e"/></marker></defs>']
    for lane, owner in enumerate(LANES):
        x = 10 + lane * LANE_W
        label = words(f"lane_{owner or 'final'}")
        out.append(f'<text x="{x + (LANE_W - 20) / 2}" y="22" text-anchor="middle" font-size="13" '
                   f'font-weight="bold" fill="#222222">{escape(label)}</text>')
    cx, cy = places[current][0] + (LANE_W - 20) / 2, places[current][1] + BOX_H / 2
    for dest in nexts:
        tx, ty = places[dest][0] + (LANE_W - 20) / 2, places[dest][1] + BOX_H / 2
        ex, ey = _edge_end(cx, cy, tx, ty)
        out.append(f'<line x1="{cx:.0f}" y1="{cy:.0f}" x2="{ex:.0f}" y2="{ey:.0f}" stroke="#1a237e" '
                   'stroke-width="2" marker-end="url(#arrow)"/>')
    for state in workflow.states:
        x, y = places[state.name]
        here = state.name == current
        fill = "#1a237e" if here else FILL[None if state.final else state.owner]
        ink, bold = ("#ffffff", ' font-weight="bold"') if here else ("#222222", "")
        out.append(f'<g><rect x="{x}" y="{y}" width="{LANE_W - 20}" height="{BOX_H}" rx="6" fill="{fill}" '
                   f'stroke="{"#000000" if here else "#777777"}" stroke-width="{3 if here else 1}"/>'
                   f'<text x="{x + (LANE_W - 20) / 2}" y="{y + BOX_H / 2 + 4}" text-anchor="middle" font-size="12" '
                   f'fill="{ink}"{bold}>{escape(words.state(state.name))}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))


def as_list(workflow, current: str, words) -> list[dict]:
    """The same drawing as data for an HTML list: each state, its owner, whether it is the
    current one, and where it can lead."""
    level = depths(workflow)
    return [{"name": s.name, "label": words.state(s.name), "owner": words.role(s.owner) if s.owner else None,
             "final": s.final, "current": s.name == current,
             "next": sorted({words.state(t.dest) for t in workflow.transitions_from(s.name) if t.dest != s.name})}
            for s in sorted(workflow.states, key=lambda s: (level[s.name], LANES.index(None if s.final else s.owner)
                                                              if (None if s.final else s.owner) in LANES else 9))]
