"""Charts where a picture says more: time held per party, NPS over time (matplotlib)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from ..db.case_models import Case, CaseEvent
from ..db.models import Party
from ..errors import ValidationError
from ..services import reports
from ..services.case_report import periods_of


def write_charts(crm, folder: Path) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValidationError("--chart", str(folder), "needs matplotlib: pip install 'dealercrm[charts]'") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission …
        raise ValidationError("--chart", str(folder),
                              f"cannot be a folder for the charts: {exc.strerror or exc}") from None
    written = []
    held = hours_held_per_party(crm)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if held:
        labels = sorted(held)
        ax.boxplot([held[k] for k in labels], showfliers=False)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=15)
    ax.set_ylabel("hours held per hand-off")
    ax.set_title("Time held per party")
    fig.tight_layout()
    written.append(folder / "time_held_per_party.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    months = reports.nps_by_month(crm)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([m["month"] for m in months], [m["nps"] for m in months], marker="o")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_ylim(-100, 100)
    ax.set_ylabel("NPS")
    ax.set_title("Net promoter score over time")
    fig.tight_layout()
    written.append(folder / "nps_over_time.png")
    fig.savefig(written[-1], dpi=110)
    plt.close(fig)
    return written


def hours_held_per_party(crm) -> dict[str, list[float]]:
    with crm.read(crm.system) as uow:
        names = {p.id: p.name for p in uow.session.scalars(select(Party))}
        cases = {c.id: c for c in uow.session.scalars(select(Case))}
        events = list(uow.session.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.id)))
    by_case = defaultdict(list)
    for e in events:
        by_case[e.case_id].append(e)
    held: dict[str, list[float]] = defaultdict(list)
    now = crm.clock.now()
    for case_id, rows in by_case.items():
        wf = crm.cases.workflow(cases[case_id].workflow).workflow
        for p in periods_of(rows, cases[case_id].closed_at or now, lambda s: wf.state(s).owner):
            if p.party_id is not None:
                held[names.get(p.party_id, str(p.party_id))].append(p.length.total_seconds() / 3600)
    return dict(held)
