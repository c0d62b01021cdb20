"""How a settings table is read against the class that declares it (``dealercrm.settings_schema``):
strictly, naming the key, the value and what is allowed, and every problem at once."""

from __future__ import annotations

from datetime import date
from typing import Literal

import attrs

from dealercrm.settings_schema import KEY, MASK, as_table, check, secret_field


@attrs.frozen
class Occasion:
    name: str = ""
    day: date | str = ""


@attrs.frozen
class Shop:
    opens: int = 8
    rate: float = 1.5
    mode: Literal["all", "any"] = "all"
    tags: tuple[str, ...] = ()
    occasions: list[Occasion] = attrs.Factory(list)
    per_channel: dict[str, int] = attrs.Factory(dict)
    sender: str = attrs.field(default="from", metadata={KEY: "from"})  # a key that is no Python name
    window: float = attrs.field(default=24.0, validator=attrs.validators.le(24))
    token: str = secret_field()


def read(table: dict) -> tuple[Shop, list[str]]:
    problems: list = []
    return check(Shop, table, "[plugins.shop]", problems), [str(p) for p in problems]


def test_a_table_of_the_right_shape_is_read_into_its_class_and_converted_where_harmless():
    shop, problems = read({"opens": 9, "rate": 2, "tags": ["a"], "occasions": [{"name": "Richtfest",
                           "day": date(2026, 6, 12)}], "per_channel": {"sms": 2}, "from": "Autohaus"})
    assert problems == []
    assert shop == Shop(opens=9, rate=2.0, tags=("a",), occasions=[Occasion("Richtfest", date(2026, 6, 12))],
                        per_channel={"sms": 2}, sender="Autohaus")
    assert isinstance(shop.rate, float) and isinstance(shop.tags, tuple)


def test_every_problem_of_a_table_is_named_with_its_key_value_and_what_is_allowed():
    shop, problems = read({"opens": "eight", "rate": True, "mode": "most", "tags": "a", "occasions": [{"nam": "x"}],
                           "per_channel": {"sms": "two"}, "form": "x", "window": 48})
    assert shop == Shop()  # the defaults, so the check can go on
    assert problems == [
        "invalid [plugins.shop] opens 'eight': must be a whole number (default 8), not a text",
        "invalid [plugins.shop] rate True: must be a number (default 1.5), not true",
        "invalid [plugins.shop] mode 'most': must be one of \"all\", \"any\" (default \"all\")",
        "invalid [plugins.shop] tags 'a': must be a list of texts in quotes, not a text",
        "invalid [plugins.shop] occasions[0] key 'nam': is no setting of [plugins.shop] occasions[0]; "
        "did you mean 'name'? known: day, name",
        "invalid [plugins.shop] per_channel.sms 'two': must be a whole number, not a text",
        "invalid [plugins.shop] key 'form': is no setting of [plugins.shop]; did you mean 'from'? known: from, mode, "
        "occasions, opens, per_channel, rate, tags, token, window",
        "invalid [plugins.shop] window 48.0: 'window' must be <= 24: 48.0",  # the field's own validator
    ]


def test_a_secret_never_appears_in_a_message_a_repr_or_a_shown_table():
    shop, problems = read({"token": 12345})
    assert problems == ["invalid [plugins.shop] token '***': must be a text in quotes, not a number"]
    shop, _ = read({"token": "s3cret"})
    assert "s3cret" not in repr(shop) and as_table(shop)["token"] == MASK
    assert as_table(shop)["from"] == "from"  # shown under the key the file uses
