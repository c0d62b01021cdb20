"""The project ``dealercrm plugin new NAME`` makes: a plugin that works and is tested as made.

What it makes is what docs/tutorial.md builds by hand: a channel (each message becomes a
letter, a JSON file in a folder a print-and-post service picks up) and a rule (a customer
who mentions an interest gets a letter about it), one settings table declared for both,
the entry point that installs them, and a test using dealercrm's pytest fixtures. A test
of dealercrm's own (``tests/cli/test_plugin_scaffold.py``) makes it, installs it and runs
its test, so what a plugin author starts from keeps working.
"""

from __future__ import annotations

import keyword
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import ValidationError

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A dealercrm plugin: letters to customers who mention an interest."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["dealercrm>={dealercrm_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# how dealercrm finds the plugin once the project is installed: `dealercrm plugins list` lists it
[project.entry-points.dealercrm]
{name} = "{module}"

[tool.pytest.ini_options]
testpaths = ["tests"]
# the installed dealercrm plugins the `crm` fixtures load: this one only ("*": all of them)
dealercrm_plugins = ["{name}"]
'''

README = '''\
# {dist}

A [dealercrm](https://pypi.org/project/dealercrm/) plugin: the channel `{name}` drops each
message as a letter (a JSON file) into a folder for a print-and-post service, and the rule
`{name}` writes such a letter to every customer who mentions an interest — with their
consent to letters (`post`) for marketing.

```sh
pip install -e '.[test]'
pytest                      # the plugin at work in a fresh dealercrm application
dealercrm plugins list      # lists {name}, from its entry point
dealercrm settings check    # checks [plugins.{name}] in dealercrm.toml
```

```toml
# dealercrm.toml
[plugins.{name}]
folder = "/var/spool/letters"
interest = "skiing"
```
'''

MODULE = '''\
"""{title}: letters to customers who mention an interest.

The channel ``{name}`` writes each message as a letter — a JSON file named after the
message's idempotency key, so a resend after a crash is the same letter, not a second
one — into a folder a print-and-post service picks up. The rule ``{name}`` reacts when an
interest is noted: the customer gets a letter about it, once, if they agreed to
marketing by post (``crm.consents.grant(customer_id, "post", "marketing", ...)``).

Settings, in dealercrm.toml (checked when dealercrm starts: ``dealercrm settings check``)::

    [plugins.{name}]
    folder = "letters"              # where the letters go
    interest = "skiing"             # the interest the rule writes about
    subject = "An idea for you"
    body = "Hello {{name}}, you told us about {{interest}}: ..."
    enabled = true                  # false switches the rule off
"""

from __future__ import annotations

import json
from pathlib import Path

import attrs
from sqlalchemy import select

import dealercrm
from dealercrm.channels import DeliveryResult, OutgoingMessage
from dealercrm.db.models import Customer
from dealercrm.rules import Candidate, RuleSettings

NAME = "{name}"


@attrs.frozen
class {cls}Settings(RuleSettings):
    """``[plugins.{name}]``: one table for the channel and the rule (a rule's table is its name)."""

    folder: str = "letters"
    interest: str = "skiing"
    subject: str = "An idea for you"
    body: str = "Hello {{name}},\\n\\nyou told us about {{interest}}. Come and see what we have for it!"


class LetterChannel:
    """Each message a letter: a JSON file in ``folder``, addressed to the customer's street."""

    name = NAME
    purposes = frozenset({{"service", "marketing"}})
    consent_channel = "post"  # consent to letters: one of dealercrm's manual consent channels
    address_field = "street"  # the customer file's field that addresses a letter
    consent_required_for = frozenset({{"marketing"}})

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        letter = self.folder / f"{{message.idempotency_key}}.json"
        if not letter.exists():  # a resend after a crash: the letter is there already
            self.folder.mkdir(parents=True, exist_ok=True)
            letter.write_text(json.dumps({{"to": message.recipient, "subject": message.subject,
                                          "body": message.body}}, ensure_ascii=False), encoding="utf-8")
        return DeliveryResult.delivered(letter.name)


class InterestLetter:
    """A letter to a customer who mentions the interest in the settings."""

    name = NAME
    description = "a letter to customers who mention an interest"
    events = (dealercrm.InterestNoted,)  # what on_event is called for

    def on_event(self, event, ctx):
        if event.tag == ctx.settings["interest"]:
            return [Candidate(event.customer_id, f"interest:{{event.tag}}", customer_id=event.customer_id)]
        return None

    def act(self, candidate, ctx):
        settings = ctx.crm.settings.of(NAME)
        name = ctx.uow.connection.execute(select(Customer.name).where(Customer.id == candidate.customer_id)).scalar()
        ctx.message(subject=settings.subject, body=settings.body.format(name=name, interest=settings.interest),
                    purpose="marketing", channels=(NAME,))


@dealercrm.hookimpl
def dealercrm_register_settings():
    return {{NAME: {cls}Settings}}


@dealercrm.hookimpl
def dealercrm_register_channels(crm):
    return [LetterChannel(crm.settings.of(NAME).folder)]


@dealercrm.hookimpl
def dealercrm_register_rules(crm):
    return [InterestLetter()]
'''

TEST = '''\
"""{title} at work in a fresh dealercrm application, made by dealercrm's pytest fixtures.

``crm_factory`` makes an application on a temporary SQLite file with the built-in plugins
and the installed plugins named in ``dealercrm_plugins`` (pyproject.toml): this one.
"""

import json

import pytest

import dealercrm
from dealercrm.settings import Settings


@pytest.fixture
def shop(crm_factory, tmp_path):
    """A dealer with Erika, who agreed to letters about offers; letters go to a folder of the test's own."""
    crm = crm_factory(settings=Settings(plugins={{"{name}": {{"folder": str(tmp_path / "letters")}}}}))
    dealer = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    erika = crm.customers.add("Erika Mustermann", street="Taubenweg 3", owner_party_id=dealer.id, by=crm.system)
    crm.consents.grant(erika.id, "post", "marketing", source="signed at the counter", by=crm.system)
    return crm, erika


def test_the_plugin_is_loaded_from_its_entry_point(shop):
    crm, _ = shop
    assert crm.plugins.origins["{name}"].startswith("entry point")
    assert "{name}" in crm.channels and "{name}" in crm.rules.rules


def test_a_customer_who_mentions_the_interest_gets_one_letter(shop, tmp_path):
    crm, erika = shop
    crm.interests.note(erika.id, "skiing", by=crm.system)
    crm.interests.note(erika.id, "skiing", note="again, at the next visit", by=crm.system)  # one letter, not two
    crm.outbox.dispatch()

    [letter] = (tmp_path / "letters").iterdir()
    sent = json.loads(letter.read_text(encoding="utf-8"))
    assert sent["to"] == "Taubenweg 3" and "skiing" in sent["body"] and "Erika" in sent["body"]


def test_no_letter_about_another_interest(shop, tmp_path):
    crm, erika = shop
    crm.interests.note(erika.id, "cooking", by=crm.system)
    crm.outbox.dispatch()
    assert not (tmp_path / "letters").exists()


def test_a_mistyped_setting_stops_the_application_naming_the_right_one(crm_factory):
    with pytest.raises(dealercrm.ValidationError, match="did you mean 'folder'"):
        crm_factory(settings=Settings(plugins={{"{name}": {{"fodler": "letters"}}}}))
'''


def make_plugin_project(name: str, directory: Path | None = None) -> Path:
    """Write the project of plugin ``name`` into ``directory`` (default ``./dealercrm-<name>``);
    refuses a name that cannot be a plugin and a folder that is not empty."""
    if not NAME.fullmatch(name or "") or keyword.iskeyword(name):
        raise ValidationError("plugin name", name, "must be lower case letters, digits and _, starting with a "
                              "letter (it names the entry point, the module and the settings table), e.g. roofbox")
    target = Path(directory) if directory is not None else Path(f"dealercrm-{name.replace('_', '-')}")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ValidationError("directory", str(target), "exists and is not empty: choose another with --directory")
    module = f"dealercrm_{name}"
    values = dict(name=name, module=module, dist=f"dealercrm-{name.replace('_', '-')}",
                  cls="".join(part.title() for part in name.split("_")), title=name.replace("_", " ").capitalize(),
                  dealercrm_version=_version())
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"src/{module}/__init__.py": MODULE,
             f"tests/test_{name}.py": TEST}
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return target


def _version() -> str:
    """The installed dealercrm's version: what the new plugin is known to work with."""
    try:
        return ".".join(version("dealercrm").split(".")[:2])
    except PackageNotFoundError:  # pragma: no cover (a checkout that was never installed)
        return "0.1"
