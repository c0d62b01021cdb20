"""The examples in the reference run, and show what they say.

Every ``>>>`` example in the docstring of ``connect``, of ``CRM``'s methods and of the
services' methods (the ones the reference site renders) is run as a doctest, each in a
world of its own in a fresh folder: a SQLite database with the dealer ``dealer``, its
manager ``lea`` and the customer ``anna``, the shop's e-mail configured (the e-mail channel
is offered only then) — the world docs/python/services.md introduces.

A method several services share (``uow``, ``read``) has one docstring, run once. The world
is made once (connecting migrates a new database, the slow part) and each example gets a
copy of its file: as fresh as a new world, a tenth of the time.
"""

from __future__ import annotations

import doctest
import shutil

import pytest

import dealercrm
from dealercrm.settings import Settings
from test_api_docstrings import API, METHODS

#: the settings of the reference's examples: the shop's mail server (nothing is sent here)
SETTINGS = Settings(plugins={"channel_email": {"host": "smtp.example.org", "from_address": "service@example.org"}})

EXAMPLES: dict[str, object] = {}
for _name, (_, _fn) in API.items():
    if ">>>" in (_fn.__doc__ or "") and _fn not in EXAMPLES.values():
        EXAMPLES[_name] = _fn


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """The world's database file, made once: ``{"file": path, "dealer": id, "lea": id, "anna": id}``."""
    folder = tmp_path_factory.mktemp("world")
    crm = dealercrm.connect(f"sqlite:///{folder}/world.db", settings=SETTINGS)
    dealer = crm.parties.add("dealer", "Autohaus Berg", by=crm.system).id
    lea = crm.parties.add_actor(dealer, "Lea Wolf", "manager", by=crm.system).id
    anna = crm.customers.add("Anna Berg", email="anna@example.org", by=lea).id
    crm.close()  # the last connection closes: the file holds everything (no -wal file left)
    assert sorted(p.name for p in folder.iterdir()) == ["world.db"]
    return {"file": folder / "world.db", "dealer": dealer, "lea": lea, "anna": anna}


@pytest.fixture
def world(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that connects makes its file here
    shutil.copy(template["file"], tmp_path / "world.db")
    crm = dealercrm.connect(f"sqlite:///{tmp_path}/world.db", settings=SETTINGS)
    names = {k: template[k] for k in ("dealer", "lea", "anna")}
    yield {"crm": crm, **names, "dealercrm": dealercrm}
    crm.close()


def test_the_reference_has_examples_for_the_operations_the_issue_names():
    for name in ("dealercrm.connect", "crm.customers.add", "crm.products.add", "crm.assets.record",
                 "crm.cases.open", "crm.cases.fire", "crm.cases.record_fact"):
        assert name in EXAMPLES, name


def test_every_method_of_the_reference_has_an_example_run_here():
    functions = set(EXAMPLES.values())
    missing = sorted(name for name in METHODS if API[name][1] not in functions)
    assert not missing, f"no example run for: {', '.join(missing)}"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_in_the_reference_runs_as_shown(name, world):
    test = doctest.DocTestParser().get_doctest(EXAMPLES[name].__doc__, world, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
