"""Warranty: in or out, judged once, on the day the case opens.

An asset's warranty ends on ``Asset.warranty_until``: its purchase (or handover) date
plus the product's warranty period, unless the dealer overrode it (an extended warranty;
``crm.assets.record(..., warranty_until=...)``). A case opened on an asset records what
that meant on the opening day, in the dealer's time zone — the last day of the warranty
still counts — so that a later change to the asset, or the calendar running on, does not
rewrite what the dealer told the customer when the case was opened:

* ``"in"`` — opened on or before the warranty's last day;
* ``"out"`` — opened after it;
* ``"unknown"`` — the asset has neither a purchase nor a handover date (nor an override);
* ``None`` — the case is about no asset.

A replacement unit starts a warranty of its own on the day it is delivered (``replacement``).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import attrs

from .assets import add_months

IN, OUT, UNKNOWN = "in", "out", "unknown"


@attrs.frozen
class Warranty:
    status: str | None
    until: date | None


def judge(asset, day: date) -> Warranty:
    """The warranty of ``asset`` (None: no asset) on ``day``."""
    if asset is None:
        return Warranty(None, None)
    if asset.warranty_until is None:
        return Warranty(UNKNOWN, None)
    return Warranty(IN if day <= asset.warranty_until else OUT, asset.warranty_until)


def local_day(at: datetime, tz: str) -> date:
    """The calendar day ``at`` falls on in the zone ``tz`` (a party's working calendar's)."""
    return at.astimezone(ZoneInfo(tz)).date()


def replacement(old, warranty_months: int, delivered_on: date) -> tuple[date, bool]:
    """(warranty end, overridden) of a unit delivered on ``delivered_on`` to replace ``old``.

    The new unit has the product's full period from its delivery. An extended warranty the
    dealer recorded on the old unit (an override) is the customer's and carries over when
    it reaches further than that; an override shorter than the new unit's own period does not
    shorten it."""
    own = add_months(delivered_on, warranty_months)
    if old.warranty_overridden and old.warranty_until is not None and old.warranty_until > own:
        return old.warranty_until, True
    return own, False


def describe(status: str | None, until: date | None) -> str:
    """For people: 'in warranty (until 2028-02-24)', 'out of warranty (ended 2025-01-09)' …"""
    if status == IN:
        return f"in warranty (until {until})"
    if status == OUT:
        return f"out of warranty (ended {until})"
    if status == UNKNOWN:
        return "warranty unknown (the asset has no purchase or handover date)"
    return "no asset"
