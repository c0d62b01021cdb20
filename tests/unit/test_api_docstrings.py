"""Every public method reachable from ``crm`` says what it does and is fully annotated.

"Reachable from ``crm``": ``dealercrm.connect``, the public methods and properties of
``CRM``, and those of every service that a property of ``CRM`` returns (found from its
return annotation, so a new service is checked the day it is added). Each must have a
docstring of its own and an annotation on every parameter and on its return value.

Every method — not the properties, which read like attributes — is what the reference is
read for, so its docstring follows the Google style: ``Args:`` naming every parameter,
``Returns:`` (unless it returns None), ``Raises:`` (or the words "raises nothing" for the
few that raise nothing of their own) and ``Examples:`` with at least one ``>>>`` line,
which tests/unit/test_api_examples.py runs. A method added without them fails here.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path

import pytest

import dealercrm
from dealercrm.app import CRM

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
import reference  # noqa: E402  (the same discovery the reference site uses)

def members(cls: type) -> Iterator[tuple[str, Callable]]:
    """Public methods and properties defined on ``cls`` or a dealercrm base class."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("dealercrm."):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(attr, property):
                yield name, attr.fget
            elif isinstance(attr, cached_property):
                yield name, attr.func
            elif isinstance(attr, (staticmethod, classmethod)):
                yield name, attr.__func__
            elif inspect.isfunction(attr):
                yield name, attr


def api() -> dict[str, tuple[str, Callable]]:
    """``{"crm.customers.add": (service, function)}`` for everything the checks cover."""
    found = {"dealercrm.connect": ("connect", dealercrm.connect)}
    found.update({f"crm.{name}": ("crm", fn) for name, fn in members(CRM)})
    for prop, cls in reference.services():
        for name, fn in members(cls):
            found.setdefault(f"crm.{prop}.{name}", (prop, fn))
    return found


def is_property(fn: Callable) -> bool:
    """``fn`` is the getter of a property (``crm.customers``, ``crm.system``): read as an attribute."""
    return any(isinstance(attr, (property, cached_property)) and fn in (getattr(attr, "fget", None),
                                                                         getattr(attr, "func", None))
               for klass in (CRM, *(cls for _, cls in reference.services())) for k in klass.__mro__
               for attr in vars(k).values())


API = api()
#: the methods: everything but the properties, each with the full sections
METHODS = {name for name, (_, fn) in API.items() if not is_property(fn)}
NAMES = reference.namespace()


def problems_of(fn: Callable, sectioned: bool) -> list[str]:
    """What is missing from ``fn``'s docstring and annotations (empty: nothing)."""
    found = []
    doc = fn.__doc__
    if not (doc or "").strip():
        return ["no docstring"]
    signature = inspect.signature(fn)
    params = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    found += [f"parameter {p.name!r} has no annotation" for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        found.append("no return annotation")
    else:
        try:
            typing.get_type_hints(fn, localns=NAMES)
        except Exception as exc:  # an annotation a type checker could not resolve either
            found.append(f"annotations do not resolve: {exc}")
    if sectioned:
        doc = inspect.cleandoc(doc)
        sections = dict(re.findall(r"^(Args|Returns|Raises|Examples):\n((?:(?:    .*)?\n?)*)", doc + "\n", re.M))
        documented = set(re.findall(r"^    \**(\w+)(?: \(.*?\))?:", sections.get("Args", ""), re.M))
        found += [f"Args: does not name {p.name!r}" for p in params if p.name not in documented]
        returns_none = signature.return_annotation in (None, "None")
        raises_nothing = re.search(r"\braises nothing\b", doc, re.I) is not None
        found += [f"no {s}: section" for s in ("Returns", "Raises", "Examples")
                  if s not in sections and not (s == "Returns" and returns_none)
                  and not (s == "Raises" and raises_nothing)]
        if "Examples" in sections and ">>>" not in sections["Examples"]:
            found.append("Examples: has no >>> example to run")
    return found


def is_operation(fn: Callable) -> bool:
    return "by" in inspect.signature(fn).parameters or fn is dealercrm.connect


@pytest.mark.parametrize("name", sorted(API))
def test_every_public_method_reachable_from_crm_has_a_docstring_and_full_annotations(name):
    service, fn = API[name]
    sectioned = name in METHODS
    problems = problems_of(fn, sectioned)
    assert not problems, f"{name}: {'; '.join(problems)}"


def test_the_check_covers_every_service_and_its_operations():
    services = {service for service, _ in API.values()}
    assert len(services) >= 22  # connect, crm and twenty services
    assert sum(is_operation(fn) for _, fn in API.values()) > 80
    # the methods are sectioned, the properties (``crm.customers``, ``crm.system``) are not
    assert {"dealercrm.connect", "crm.uow", "crm.cases.fire", "crm.cases.tick", "crm.outbox.enqueue"} <= METHODS
    assert not {"crm.customers", "crm.system", "crm.customers.fields", "crm.inbound.rules"} & METHODS


# -- the check can fail ----------------------------------------------------------------------

class Undocumented:
    def add(self, name, *, by: int) -> int:
        return 1


class HalfDocumented:
    def add(self, name: str, owner: int | None = None, *, by: int) -> int:
        """Register someone.

        Args:
            name: who.
            by: the acting actor.

        Returns:
            The new id.
        """
        return 1


def test_a_method_without_docstring_or_annotations_is_caught():
    assert problems_of(Undocumented.add, sectioned=False) == ["no docstring"]
    Undocumented.add.__doc__ = "Register someone."
    assert problems_of(Undocumented.add, sectioned=False) == ["parameter 'name' has no annotation"]


class QuietlyDocumented:
    def close(self) -> None:
        """Let go of the connections; raises nothing.

        Examples:
            An example in words only, which nothing runs.
        """

    def flush(self) -> None:
        """Write what is pending.

        Examples:
            >>> print("flushed")
            flushed
        """


def test_an_operation_missing_an_argument_raises_and_examples_is_caught():
    assert problems_of(HalfDocumented.add, sectioned=True) == [
        "Args: does not name 'owner'", "no Raises: section", "no Examples: section"]
    assert problems_of(HalfDocumented.add, sectioned=False) == []


def test_a_method_that_raises_nothing_says_so_and_its_example_must_run():
    assert problems_of(QuietlyDocumented.close, sectioned=True) == ["Examples: has no >>> example to run"]
    assert problems_of(QuietlyDocumented.flush, sectioned=True) == ["no Raises: section"]
