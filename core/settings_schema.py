"""Settings declared as attrs classes, and a strict check of what a settings file says.

A settings table (``[contact]``, ``[plugins.rule_loyal_quiet]``) is declared once, as an
``attrs`` class whose fields carry a type and a default::

    @attrs.frozen
    class RoofboxSettings:
        interest: str = "skiing"
        due_in_days: int = 3
        api_token: str = dealercrm.settings.secret_field()       # masked by ``dealercrm settings show``

``check`` reads a table against it. Nothing is coerced behind the user's back: a key the
class does not declare is refused with the closest known key ("did you mean 'quiet_days'?"),
a value of the wrong type is refused naming the key, the value and what is allowed
(``budget = "four"`` is not a whole number), and every problem is collected so one run
names them all. A field's ``converter`` widens what the file may say (it runs first, the
declared type is checked on what it returns); a field's ``validator`` or the class's
``__attrs_post_init__`` may refuse a value with ``ValueError``/``TypeError``/``ValidationError``,
reported the same way. A plugin's class may define ``check_against(self, settings)`` for what
depends on another table (``dealercrm.settings.check_plugin_tables`` calls it).

Types understood: ``str``, ``int`` (not ``true``), ``float`` (an integer too), ``bool``,
``Literal[...]``, ``X | None`` and other unions, ``list[T]``, ``tuple[T, ...]``,
``dict[str, T]``, ``Any``, and nested attrs classes (a sub-table, or ``list[...]``/``dict[...]``
of them). TOML has no null, so ``None`` can only be a default.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

import attrs

from .errors import ValidationError

#: field metadata marking a secret: never shown by ``dealercrm settings show``
SECRET = "dealercrm_secret"
#: field metadata naming the key in the file when it cannot be a Python name (``from``)
KEY = "dealercrm_key"
#: keys masked even where no schema says so (a plugin that declares no settings)
SECRET_NAMES = re.compile(r"secret|password|passwd|token|api_?key|private_?key|credential", re.IGNORECASE)
MASK = "***"
_BAD = object()


def secret_field(default: Any = "", **kwargs: Any) -> Any:
    """An attrs field for a secret: kept out of reprs and masked by ``dealercrm settings show``."""
    return attrs.field(default=default, repr=lambda v: repr(MASK) if v else repr(v), metadata={SECRET: True},
                       **kwargs)


def at_least_zero(_instance: Any, attribute: attrs.Attribute, value: float) -> None:
    """An attrs validator for a count or an amount a setting gives: 0 or more (the file's key is
    named by ``dealercrm settings check`` with the message)."""
    if value < 0:
        raise ValueError(f"must be {'a whole number' if isinstance(value, int) else 'a number'} >= 0")


def is_secret(name: str, field: attrs.Attribute | None = None) -> bool:
    """A field made with ``secret_field()``, or a key whose name says it is one."""
    return bool(field is not None and field.metadata.get(SECRET)) or bool(SECRET_NAMES.search(name))


def schema_problem(cls: Any) -> str | None:
    """Why ``cls`` cannot be a settings schema (an attrs class whose every field has a default)."""
    if not (isinstance(cls, type) and attrs.has(cls)):
        return f"{cls!r} is not an attrs class (decorate it with @attrs.frozen)"
    missing = [f.name for f in attrs.fields(cls) if f.default is attrs.NOTHING]
    if missing:
        return f"setting {missing[0]!r} of {cls.__name__} has no default: an installation need not configure a plugin"
    try:
        typing.get_type_hints(cls)
    except Exception as exc:  # an annotation naming something not importable at run time
        return f"the annotations of {cls.__name__} cannot be resolved: {exc}"
    return None


def check(cls: type, values: Any, where: str, problems: list[ValidationError]) -> Any:
    """An instance of ``cls`` made from the table ``values``; problems are appended, not raised.

    ``where`` names the table as the user wrote it (``[plugins.channel_email]``). Returns
    the class's defaults where the table has problems, so checking can go on.
    """
    if not isinstance(values, Mapping):
        problems.append(ValidationError(where, values, f"must be a table ({describe(cls)}), not {kind_of(values)}"))
        return cls()
    fields = {key_of(f): f for f in attrs.fields(cls)}
    hints = typing.get_type_hints(cls)
    given: dict[str, Any] = {}
    for key, value in values.items():
        field = fields.get(key)
        if field is None:
            problems.append(unknown_key(where, key, fields))
        elif field.converter is not None:
            given[_arg(field)] = value  # the converter reads it; its result is checked below
        else:
            before = len(problems)
            converted = convert(hints[field.name], value, f"{where} {key}", problems, field)
            if len(problems) == before:
                given[_arg(field)] = converted
    try:
        instance = cls(**given)
    except ValidationError as exc:
        problems.append(exc)
        return cls()
    except (TypeError, ValueError) as exc:
        problems.append(_refused(cls, where, given, exc))
        return cls()
    for field in attrs.fields(cls):
        if _arg(field) in given and field.converter is not None:
            before = len(problems)
            convert(hints[field.name], getattr(instance, field.name), f"{where} {key_of(field)}", problems, field)
            if len(problems) > before:
                return cls()
    return instance


def _refused(cls: type, where: str, given: Mapping[str, Any], exc: Exception) -> ValidationError:
    """A validator's refusal, naming the key it is about when one key alone is refused."""
    by_arg = {_arg(f): f for f in attrs.fields(cls)}
    for arg, value in given.items():
        try:
            cls(**{arg: value})
        except (TypeError, ValueError, ValidationError) as alone:
            field = by_arg[arg]
            shown = MASK if is_secret(field.name, field) else value
            return ValidationError(f"{where} {key_of(field)}", shown, str(alone))
    fields = {key_of(f): f for f in attrs.fields(cls)}
    return ValidationError(where, _shown({key_of(by_arg[a]): v for a, v in given.items()}, fields), str(exc))


def _arg(field: attrs.Attribute) -> str:
    """The field's argument to the class (attrs drops a leading underscore)."""
    return getattr(field, "alias", None) or field.name.lstrip("_")


def key_of(field: attrs.Attribute) -> str:
    """The key a field is written as in the settings file."""
    return field.metadata.get(KEY, field.name)


def unknown_key(where: str, key: str, known: Mapping[str, Any] | Sequence[str]) -> ValidationError:
    names = sorted(known)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return ValidationError(f"{where} key", key, f"is no setting of {where}; {hint}known: {', '.join(names) or 'none'}")


def convert(tp: Any, value: Any, name: str, problems: list[ValidationError],
            field: attrs.Attribute | None = None) -> Any:
    """``value`` checked against the type ``tp`` (and converted: lists to tuples, ints to floats)."""
    found = _convert(tp, value, name, problems)
    if found is _BAD:
        shown = MASK if is_secret(name.rsplit(" ", 1)[-1], field) else value
        choices = [a for a in _literals(tp) if isinstance(a, str)]
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6) if isinstance(value, str) else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        given = "" if isinstance(value, str) and choices else f", not {kind_of(value)}"  # the text, not its kind
        problems.append(ValidationError(name, shown, f"{allowed(tp, field)}{given}{hint}"))
    return found


def _literals(tp: Any) -> list[Any]:
    """Every value a ``Literal`` in ``tp`` allows (through unions, lists and tables)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return list(args)
    return [v for a in args for v in _literals(a)]


def _convert(tp: Any, value: Any, name: str, problems: list[ValidationError]) -> Any:
    """The converted value, ``_BAD`` if it does not fit (the caller reports), or a nested problem
    appended to ``problems`` (then the value is returned as it was and not used)."""
    if tp is Any or tp is object:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        for arm in args:
            if arm is type(None):
                continue
            attempt: list[ValidationError] = []
            found = _convert(arm, value, name, attempt)
            if found is not _BAD and not attempt:
                return found
        return _BAD
    if origin is Literal:
        return value if any(value == a and type(value) is type(a) for a in args) else _BAD
    if tp is bool:
        return value if isinstance(value, bool) else _BAD
    if tp is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if tp is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _BAD
    if tp is str:
        return value if isinstance(value, str) else _BAD
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, Mapping):
            return _BAD
        table = re.fullmatch(r"\[([\w.-]+)\] ([\w.-]+)", name)  # "[plugins.x] inbound" is "[plugins.x.inbound]"
        return check(tp, value, f"[{table[1]}.{table[2]}]" if table else name, problems)
    if origin in (list, tuple, Sequence, frozenset, set) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return _BAD
        item = args[0] if args else Any
        items = [convert(item, v, f"{name}[{i}]", problems) for i, v in enumerate(value)]
        return tuple(items) if origin in (tuple, Sequence, frozenset) or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            return _BAD
        item = args[1] if len(args) == 2 else Any
        return {k: convert(item, v, f"{name}.{k}", problems) for k, v in value.items()}
    if isinstance(tp, type):
        return value if isinstance(value, tp) else _BAD
    return value  # a type this checker does not know: the schema's own validators decide


def allowed(tp: Any, field: attrs.Attribute | None = None) -> str:
    """What a key accepts, in words, with its default: 'must be a whole number (default 4)'."""
    said = f"must be {describe(tp)}"
    if field is not None and field.default is not attrs.NOTHING and not field.metadata.get(SECRET):
        default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default  # type: ignore[attr-defined]
        if default not in (None, "", (), [], {}):
            said += f" (default {_toml(default)})"
    return said


def describe(tp: Any) -> str:
    """A type as a settings file's reader knows it."""
    if tp is Any or tp is object:
        return "any value"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return " or ".join(describe(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(_toml(a) for a in args)
    words = {bool: "true or false", int: "a whole number", float: "a number", str: "a text in quotes"}
    if tp in words:
        return words[tp]
    if isinstance(tp, type) and attrs.has(tp):
        return "a table of " + ", ".join(key_of(f) for f in attrs.fields(tp))
    if origin in (list, tuple, Sequence, frozenset, set) or tp in (list, tuple):
        return f"a list of {_plural(describe(args[0]))}" if args and args[0] is not Any else "a list"
    if origin in (dict, Mapping) or tp is dict:
        return f"a table of {_plural(describe(args[1]))}" if len(args) == 2 and args[1] is not Any else "a table"
    return getattr(tp, "__name__", str(tp))


def _plural(words: str) -> str:
    for single, plural in (("one of", "values each one of"), ("a whole number", "whole numbers"), ("a number", "numbers"),
                           ("a text in quotes", "texts in quotes"), ("true or false", "true/false values"),
                           ("a list", "lists"), ("a table", "tables")):
        if words.startswith(single):
            return plural + words[len(single):]
    return words


def kind_of(value: Any) -> str:
    """What the file said, in words: 'a text', 'true', 'a list'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _shown(values: Mapping[str, Any], fields: Mapping[str, attrs.Attribute]) -> dict[str, Any]:
    """A table for an error message, its secrets masked."""
    return {k: MASK if is_secret(k, fields.get(k)) and v else v for k, v in values.items()}


def raise_first(problems: list[ValidationError]) -> None:
    """Raise the first problem; its reason says how many more there are."""
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        raise ValidationError(first.field, first.value, f"{first.reason} (and {len(problems) - 1} more problem"
                              f"{'s' if len(problems) > 2 else ''}: run 'dealercrm settings check')") from first
    raise first


def as_table(instance: Any, *, masked: bool = True) -> dict[str, Any]:
    """A checked settings object as a plain table (nested ones too), secrets masked."""
    if not attrs.has(type(instance)):
        return instance
    table: dict[str, Any] = {}
    for field in attrs.fields(type(instance)):
        value = getattr(instance, field.name)
        if masked and is_secret(field.name, field) and value:
            table[key_of(field)] = MASK
        else:
            table[key_of(field)] = _plain(value, masked)
    return table


def _plain(value: Any, masked: bool) -> Any:
    if attrs.has(type(value)):
        return as_table(value, masked=masked)
    if isinstance(value, Mapping):
        return {k: _plain(v, masked) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, masked) for v in value]
    return value


def mask_table(table: Any) -> Any:
    """A table no schema describes, keys named like secrets masked (``token``, ``password`` …)."""
    if isinstance(table, Mapping):
        return {k: MASK if is_secret(str(k)) and v and not isinstance(v, Mapping) else mask_table(v)
                for k, v in table.items()}
    if isinstance(table, (list, tuple)):
        return [mask_table(v) for v in table]
    return table
