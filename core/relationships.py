"""Levels of a relationship between our company and a company customer.

Selling today needs relationships at every level of both companies (seed 001): salesman
and buyer, service man and technician, clerk and dispatcher, accounting and accounting,
marketing with every level, management with management. A **level** pairs the roles of
our people (``Actor.role``) with the functions of their contact persons
(``ContactPerson.function``); both are free text, matched without regard to case.

A personal touch counts for a level when **our** person's role is one of the level's
``ours`` and the contact person it names has one of the level's ``theirs`` functions
(``"*"``: any function). A touch naming no contact person (the company as a whole, or
not said) counts for the levels of our person's role. So a salesman's personal letter to
their accounting is no touch for the buyer — nor for accounting, which is our
accountant's thread.

Set them in ``[relationships] levels`` (the defaults below, with common German words);
the relationship map, the single-threaded accounts report, the single-thread rule and
the loyal-customers rule read the same levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
from sqlalchemy import and_, false, func, or_

from .errors import ValidationError
from .settings_schema import unknown_key

ANY = "*"
#: the keys of one level in ``[relationships] levels``
KEYS = ("name", "ours", "theirs")


def _words(value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise ValidationError("[relationships] levels", value, 'each level needs ours = [...] and theirs = [...], '
                              'lists of roles and functions, e.g. ours = ["service"], theirs = ["technician"]')
    return tuple(dict.fromkeys(v.strip().casefold() for v in items))


@attrs.frozen
class Level:
    """One level: our ``ours`` roles with their ``theirs`` functions (lower case)."""

    name: str
    ours: tuple[str, ...] = attrs.field(converter=_words)
    theirs: tuple[str, ...] = attrs.field(converter=_words)

    def has_role(self, role: str | None) -> bool:
        return (role or "").strip().casefold() in self.ours

    def has_function(self, function: str | None) -> bool:
        return ANY in self.theirs or (function or "").strip().casefold() in self.theirs

    def counts(self, role: str | None, function: str | None, named: bool = True) -> bool:
        """Whether a touch by one of ours with ``role``, with a contact of ``function``, is of this level;
        ``named=False``: the touch named no contact person."""
        return self.has_role(role) and (not named or self.has_function(function))

    # -- the same, as SQL over the actor's role and the contact person's function --------
    def role_sql(self, role_column):
        return func.lower(func.trim(role_column)).in_(self.ours)

    def function_sql(self, function_column):
        if ANY in self.theirs:
            return function_column.is_not(None)
        return func.lower(func.trim(function_column)).in_(self.theirs)

    def touch_sql(self, role_column, function_column, contact_column):
        """A WHERE clause: a touch (our actor's role, the named contact's function, the named
        contact's id or NULL) counts for this level."""
        return and_(self.role_sql(role_column),
                    or_(contact_column.is_(None), self.function_sql(function_column)))


DEFAULT_LEVELS: tuple[Level, ...] = (
    Level("sales", ["sales", "salesman", "sales rep", "verkauf", "vertrieb", "verkäufer"],
          ["buyer", "purchasing", "procurement", "einkauf", "einkäufer"]),
    Level("service", ["service", "service lead", "technician", "kundendienst", "servicetechniker"],
          ["technician", "service", "technik", "techniker", "werkstatt"]),
    Level("operations", ["clerk", "office", "dispatch", "back office", "innendienst", "sachbearbeitung"],
          ["dispatcher", "clerk", "logistics", "disposition", "lager", "sachbearbeitung"]),
    Level("accounting", ["accounting", "buchhaltung"], ["accounting", "accounts payable", "buchhaltung"]),
    Level("marketing", ["marketing"], [ANY]),
    Level("management", ["owner", "manager", "management", "geschäftsführung", "geschäftsführer"],
          ["management", "owner", "managing director", "ceo", "geschäftsführung", "geschäftsführer", "inhaber"]),
)


def parse_levels(value: Any, source: str = "settings") -> tuple[Level, ...]:
    """``[relationships] levels = [{name = "service", ours = ["service"], theirs = ["technician"]}, …]``."""
    if value is None:
        return DEFAULT_LEVELS
    if isinstance(value, tuple) and all(isinstance(v, Level) for v in value):
        return value
    if not isinstance(value, (list, tuple)) or not value:
        raise ValidationError("[relationships] levels", value, f"must be a list of tables in {source}")
    levels, names = [], set()
    for n, item in enumerate(value):
        if isinstance(item, Level):
            levels.append(item)
            continue
        if isinstance(item, Mapping) and set(item) - set(KEYS):  # a typo: named with the closest key
            raise unknown_key(f"[relationships] levels[{n}]", sorted(set(item) - set(KEYS))[0], KEYS)
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ValidationError("[relationships] levels", item, f'each must be {{name = "…", ours = [...], '
                                  f'theirs = [...]}} in {source}')
        levels.append(Level(item["name"].strip(), item.get("ours"), item.get("theirs")))
    for level in levels:
        if level.name in names:
            raise ValidationError("[relationships] levels", level.name, f"is named twice in {source}")
        names.add(level.name)
    return tuple(levels)


def level_named(levels: Iterable[Level], name: str) -> Level:
    for level in levels:
        if level.name == name:
            return level
    known = ", ".join(level.name for level in levels)
    raise ValidationError("level", name, f"is no level; levels: {known}")


def any_level_sql(levels: Iterable[Level], role_column, function_column, contact_column):
    """A WHERE clause: the touch counts for at least one level."""
    found = [level.touch_sql(role_column, function_column, contact_column) for level in levels]
    return or_(*found) if found else false()


__all__ = ["ANY", "DEFAULT_LEVELS", "Level", "any_level_sql", "level_named", "parse_levels"]
