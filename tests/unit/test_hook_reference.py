"""The hook reference stays true: every hook documented with its exact signature, and
exercised by at least one test (as datasette keeps its plugin docs honest)."""

import inspect
import re
from pathlib import Path

import pytest

from dealercrm import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("dealercrm_") and callable(fn)}


def test_hook_names_follow_the_verb_noun_convention():
    assert HOOKS, "no hooks found"
    for name in HOOKS:
        assert re.fullmatch(r"dealercrm_[a-z]+_[a-z_]+", name), name


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_documented_with_its_exact_arguments(name):
    params = ", ".join(inspect.signature(HOOKS[name]).parameters)
    assert f"### {name}({params})" in DOC, f"docs/hooks.md lacks the heading '### {name}({params})'"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_has_a_docstring_for_plugin_authors(name):
    assert (HOOKS[name].__doc__ or "").strip(), f"{name} has no docstring in core/hookspecs.py"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_exercised_by_a_test(name):
    this = Path(__file__).resolve()
    used = [p for p in (ROOT / "tests").rglob("test_*.py") if p.resolve() != this and f"def {name}(" in p.read_text(encoding="utf-8")]
    assert used, f"no test implements {name}"


def test_no_documented_hook_is_missing_from_the_specification():
    documented = set(re.findall(r"^### (dealercrm_\w+)\(", DOC, flags=re.M))
    assert documented == set(HOOKS)
