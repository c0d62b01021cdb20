"""Bulk imports as one actor may run them (rules in ``dealercrm.access``).

Importing customers is registering them many at a time, so the rule is that of
registering one: a dealer files its own customers (rows naming another party are
rejected, with the line), the system files for any dealer as ``dealercrm import``
does. A manufacturer or technician keeps no customer file.
"""

from __future__ import annotations

from .importing import ImportReport


class ScopedImports:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def customers(self, content: str | bytes, *, source: str = "CSV upload") -> ImportReport:
        """Import a CSV document (the format of ``dealercrm import customers``), UTF-8 if bytes."""
        self.scope.require("dealer", doing="import customers")
        party = None if self.p.kind == "system" else self.p.party_id
        return self.crm.imports.run_text(content, source=source, by=self.p.actor_id, party=party)
