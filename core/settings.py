"""Installation settings: one TOML file, overridable from the environment, checked strictly.

The file is ``$DEALERCRM_SETTINGS`` or ``./dealercrm.toml`` if present. Every table is
declared as an attrs class (``dealercrm.settings_schema``): the core's here, each plugin's
through ``dealercrm_register_settings``. A key nobody declared (``quiet_dayz``), a table
nobody declared (``[plugins.channel_emial]``) or a value of the wrong type (``[contact]
budget = "four"``) is refused when the application starts, naming the key, the value and
what is allowed — not at the first message sent hours later. ``load_settings`` checks the
core's tables; the plugins' are checked by ``connect()`` once the plugins are known
(``check_plugin_tables``). ``dealercrm settings check`` lists every problem at once.

Plugins read their table as it was written (``settings.plugin("name")``, a dict) or as
its declared class with the defaults filled in (``settings.of("name")``).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from .errors import ValidationError
from .settings_schema import check, raise_first, schema_problem, secret_field, unknown_key

__all__ = ["Settings", "load_settings", "read_settings", "check_plugin_tables", "secret_field", "schema_problem"]


def _channel_names(value: Any) -> tuple[str, ...]:
    """``manual_channels = ["phone", "post"]``; a bare string is one name, not its letters."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValidationError("[contact] manual_channels", value, 'must be a list of channel names, e.g. ["post"]')
    return tuple(n.strip() for n in names)


@attrs.frozen
class ContactSettings:
    """How often a person may be contacted, and on what legal basis per purpose.

    ``legal_basis`` per purpose: "consent" needs a recorded grant on the channel;
    "contract" (service messages about the customer's own case or purchase) is allowed
    unless the customer revoked that channel for that purpose.
    """

    budget: int = 4
    window_days: int = 365
    legal_basis: dict[str, Literal["consent", "contract"]] = attrs.field(factory=lambda: {"service": "contract", "marketing": "consent"})
    #: consent channels people use by hand, with or without a channel plugin: a letter, a
    #: call. Consent can be recorded on these and on every channel plugin's ``consent_channel``.
    manual_channels: tuple[str, ...] = attrs.field(default=("phone", "post"), converter=_channel_names)


def _levels(value: Any):
    from .relationships import parse_levels

    return parse_levels(value)


def _window_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3660:
        raise ValidationError("[relationships] window_days", value, "must be a whole number of days, 1 to 3660")
    return value


@attrs.frozen
class RelationshipSettings:
    """``[relationships]``: the levels of a relationship with a company customer (our roles
    with their functions, ``dealercrm.relationships``) and ``window_days``, the span in which
    an account's personal touches must involve more than one of our people and more than one
    of their functions not to count as single-threaded (the report; the single-thread rule's
    default)."""

    levels: tuple = attrs.field(default=None, converter=_levels)
    window_days: int = attrs.field(default=90, converter=_window_days)


@attrs.frozen
class ServiceLevelTable:
    """One ``[cases.service_levels.<workflow>.<level>]``: who the level is for (a case of one
    of the ``priorities``, of a product of one of the ``categories``, under one of the
    ``contracts``), what it is (``description``) and its deadlines, state by state ("4h",
    "30m", "2d"). Only its shape is declared here; what it means for the workflow — states
    that exist, durations, a level that breaks the workflow's proof — is checked with the
    workflow (``dealercrm.workflow.levels``)."""

    description: str = ""
    priorities: list[str] | str = attrs.Factory(list)
    categories: list[str] | str = attrs.Factory(list)
    contracts: list[str] | str = attrs.Factory(list)
    deadlines: dict[str, str] = attrs.Factory(dict)


def _service_levels(value: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """``[cases.service_levels]`` checked against ``ServiceLevelTable`` level by level and kept
    as written (which keys a level gives decides what it replaces)."""
    if not isinstance(value, Mapping):
        raise ValidationError("[cases.service_levels]", value, "must be a table per workflow, of a table per level")
    problems: list[ValidationError] = []
    for workflow, levels in value.items():
        if not isinstance(levels, Mapping):
            raise ValidationError(f"[cases.service_levels.{workflow}]", levels, "must be a table per level, e.g. "
                                  f"[cases.service_levels.{workflow}.premium]")
        for level, table in levels.items():
            check(ServiceLevelTable, table, f"[cases.service_levels.{workflow}.{level}]", problems)
    if problems:
        raise problems[0]
    return {workflow: {level: dict(table) for level, table in levels.items()} for workflow, levels in value.items()}


@attrs.frozen
class CaseSettings:
    """``[cases]``: ``default_workflow`` is the workflow a case opened without naming one
    follows; unset, the one registered workflow (with several, each case must name its own).
    ``service_levels``: per workflow and level (``ServiceLevelTable``), deadlines and
    conditions that change or add to the workflow's declared service levels
    (``dealercrm.workflow.levels``), checked and proven with the workflow when the
    application starts."""

    default_workflow: str | None = None
    service_levels: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict, converter=_service_levels)


@attrs.frozen
class OutboxSettings:
    """``[outbox]``: how often and how patiently the dispatcher retries a message."""

    max_attempts: int = 6
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 3600.0
    lease_seconds: float = 300.0
    batch_size: int = 100


@attrs.frozen
class HttpSettings:
    """Bounds on what one HTTP request may take from the server (``[http]``).

    ``max_body_bytes``: a larger body is refused with 413 before it is read.
    ``body_timeout_seconds``: the whole body must arrive within this time after the
    headers, or the request is answered 408 and the connection closed — a slow client
    holds nothing but its own socket meanwhile. ``import_chunk_rows``: a CSV import over
    HTTP files this many rows per transaction and lets other writers in between.
    """

    max_body_bytes: int = 1 << 20
    body_timeout_seconds: float = 30.0
    import_chunk_rows: int = 500

    def __attrs_post_init__(self) -> None:
        for name, kinds in (("max_body_bytes", int), ("body_timeout_seconds", (int, float)),
                            ("import_chunk_rows", int)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
                raise ValidationError(f"[http] {name}", value, "must be a positive "
                                      + ("whole number" if kinds is int else "number"))


@attrs.frozen
class UnsubscribeSettings:
    """One-click unsubscribe links in marketing e-mail (``[unsubscribe]``, RFC 8058).

    ``base_url``: where this installation's HTTP API is reached from the internet (the
    link is ``<base_url>/unsubscribe/<token>``); ``secret``: signs the tokens (at least 16
    characters; ``DEALERCRM_UNSUBSCRIBE_SECRET`` wins; a list accepts every entry and signs
    with the first, for rotation); ``mailto``: an address whose mail reaches
    ``/inbound/email``, offered as a second way (optional). Checked in
    ``dealercrm.unsubscribe``; without ``base_url`` and a secret no link is offered.
    """

    base_url: str = ""
    secret: str | list[str] = secret_field("")
    mailto: str = ""


@attrs.frozen
class CoreTable:
    """``[dealercrm]``: the installation itself (each key also has an environment variable,
    which wins: README, "Configuration")."""

    database_url: str | None = None
    default_region: str = "DE"
    home_dealer: str = "Our Dealership"
    block_plugins: list[str] | str = attrs.Factory(list)
    language: str = "de"
    secret_key: str | None = secret_field(None)


@attrs.frozen
class InboundTrigger:
    """One entry of ``[inbound] triggers``: a reply containing ``contains`` fires ``trigger``."""

    contains: str = ""
    trigger: str = ""


UnknownCase = Literal["task", "open_case", "timeline"]


@attrs.frozen
class InboundRulesTable:
    """The keys of ``[inbound]`` that say what a reply does (``dealercrm.services.inbound``;
    the defaults live there)."""

    triggers: list[InboundTrigger] = attrs.Factory(list)
    unknown_case: UnknownCase | dict[str, UnknownCase] = "task"
    opt_out_keywords: dict[str, list[str]] = attrs.Factory(dict)


@attrs.frozen
class InboundChannelTable:
    """``[inbound.<channel>]``: how that channel's senders authenticate (``dealercrm.http.inbound_auth``)."""

    auth: Literal["secret", "hmac-sha256", "dealercrm"] = "secret"
    secret: str | list[str] = secret_field("")
    header: str = ""
    prefix: str = ""
    tolerance_seconds: float = 300.0


#: the core's tables of the settings file, each declared once
SECTIONS: dict[str, type] = {"contact": ContactSettings, "outbox": OutboxSettings, "cases": CaseSettings,
                             "relationships": RelationshipSettings, "http": HttpSettings,
                             "unsubscribe": UnsubscribeSettings}
TABLES = ("dealercrm", *SECTIONS, "inbound", "plugins")


@attrs.frozen
class Settings:
    database_url: str | None = None
    default_region: str = "DE"
    home_dealer: str = "Our Dealership"
    block_plugins: tuple[str, ...] = ()
    #: each plugin's table as written in the file (``[plugins.<name>]``), type-checked by ``connect()``
    plugins: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    language: str = "de"
    contact: ContactSettings = attrs.Factory(ContactSettings)
    outbox: OutboxSettings = attrs.Factory(OutboxSettings)
    cases: CaseSettings = attrs.Factory(CaseSettings)
    relationships: RelationshipSettings = attrs.Factory(RelationshipSettings)
    #: ``triggers``, ``unknown_case``, ``opt_out_keywords`` (``dealercrm.services.inbound``) and one
    #: table per inbound channel (``[inbound.email]``: how its senders authenticate, see
    #: ``dealercrm.http.inbound_auth``)
    inbound: dict[str, Any] = attrs.field(factory=dict)
    http: HttpSettings = attrs.Factory(HttpSettings)
    unsubscribe: UnsubscribeSettings = attrs.Factory(UnsubscribeSettings)
    source: str = "defaults"
    #: what links handed out without an account are signed with (a customer's link to their
    #: case); ``DEALERCRM_SECRET_KEY`` wins. None: one is made once and kept in the database
    secret_key: str | None = attrs.field(default=None, repr=False)
    #: each declared plugin table as its class, defaults filled in (set by ``check_plugin_tables``)
    checked: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    def plugin(self, name: str) -> dict[str, Any]:
        """``[plugins.<name>]`` as written (empty when the file has no such table): what a plugin
        uses to tell "not configured at all" from "configured"."""
        return dict(self.plugins.get(name, {}))

    def of(self, name: str) -> Any:
        """``[plugins.<name>]`` as the class its plugin declared (``dealercrm_register_settings``),
        checked, with the defaults for what the file leaves out."""
        try:
            return self.checked[name]
        except KeyError:
            raise LookupError(f"no plugin declared settings for [plugins.{name}] (declared: "
                              f"{', '.join(sorted(self.checked)) or 'none'})") from None


def load_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The installation's settings: the file, then the environment; the first problem is raised
    (``ValidationError`` naming the key, the value and what is allowed)."""
    problems: list[ValidationError] = []
    settings = read_settings(path, env, problems)
    raise_first(problems)
    return settings


def read_settings(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
                  problems: list[ValidationError] | None = None) -> Settings:
    """``load_settings`` collecting every problem in ``problems`` instead of raising the first
    (a file that cannot be read or parsed is still raised: nothing can be checked then)."""
    env = os.environ if env is None else env
    problems = [] if problems is None else problems
    candidate = path or env.get("DEALERCRM_SETTINGS") or ("dealercrm.toml" if Path("dealercrm.toml").exists() else None)
    data: dict[str, Any] = {}
    source = "defaults"
    if candidate:
        try:
            data = tomllib.loads(Path(candidate).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError("settings file", str(candidate), "does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError("settings file", str(candidate), f"cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError("settings file", str(candidate), f"is not valid TOML: {exc}") from None
        source = str(candidate)
    found: list[ValidationError] = []
    for name in data:
        if name not in TABLES:
            close = difflib.get_close_matches(name, TABLES, n=1, cutoff=0.6)
            found.append(ValidationError("table", f"[{name}]", "is not a settings table; " + (
                f"did you mean [{close[0]}]? " if close else "") + f"known: {', '.join(f'[{t}]' for t in TABLES)}"))
        elif not isinstance(data[name], dict):
            found.append(ValidationError(f"[{name}]", data[name], "must be a table"))
    data = {k: v for k, v in data.items() if k in TABLES and isinstance(v, dict)}
    core = check(CoreTable, data.get("dealercrm", {}), "[dealercrm]", found)
    sections = {name: check(cls, data.get(name, {}), f"[{name}]", found) for name, cls in SECTIONS.items()}
    inbound = _inbound(data.get("inbound", {}), found)
    plugins = {}
    for name, table in data.get("plugins", {}).items():
        if isinstance(table, dict):
            plugins[name] = table
        else:
            found.append(ValidationError(f"[plugins] {name}", table, f"must be a table [plugins.{name}]"))
    block = env.get("DEALERCRM_BLOCK_PLUGINS")
    try:
        region = _region(env.get("DEALERCRM_DEFAULT_REGION") or core.default_region, source)
    except ValidationError as exc:
        found.append(exc)
        region = "DE"
    try:
        key = _secret_key(env.get("DEALERCRM_SECRET_KEY") or core.secret_key, source)
    except ValidationError as exc:
        found.append(exc)
        key = None
    problems.extend(_in(source, p) for p in found)
    return Settings(
        database_url=env.get("DEALERCRM_DATABASE_URL") or core.database_url,
        default_region=region,
        home_dealer=core.home_dealer,
        block_plugins=_names(block.split(",")) if block else _block_list(core.block_plugins),
        plugins=plugins,
        language=core.language,
        inbound=inbound,
        source=source,
        secret_key=key,
        **sections,
    )


def _in(source: str, problem: ValidationError) -> ValidationError:
    """The problem, saying which file it is in."""
    if source == "defaults" or source in problem.reason:
        return problem
    return ValidationError(problem.field, problem.value, f"{problem.reason} (in {source})")


def _inbound(table: dict[str, Any], problems: list[ValidationError]) -> dict[str, Any]:
    """``[inbound]``: its rule keys, and a table per channel; checked, kept as written."""
    rules = {k: v for k, v in table.items() if k in attrs.fields_dict(InboundRulesTable)}
    check(InboundRulesTable, rules, "[inbound]", problems)
    for name, value in table.items():
        if name in rules:
            continue
        if not isinstance(value, dict):
            close = unknown_key("[inbound]", name, attrs.fields_dict(InboundRulesTable))
            problems.append(ValidationError(close.field, close.value, close.reason.replace(
                "; known:", "; a table [inbound.<channel>] configures a channel's senders; known keys:")))
            continue
        check(InboundChannelTable, value, f"[inbound.{name}]", problems)
    return dict(table)


def check_plugin_tables(settings: Settings, declared: Mapping[str, tuple[str, type]], unchecked: Iterable[str] = (),
                        problems: list[ValidationError] | None = None) -> Settings:
    """``settings`` with every ``[plugins.<table>]`` checked against the class a plugin declared.

    A class may also define ``check_against(self, settings)``: called with the installation's
    settings once its own table is of the right shape, it refuses (``ValidationError``) a value
    that must agree with another table — ``company_levels`` naming the levels of
    ``[relationships] levels``.

    ``declared``: table → (plugin, class), from ``dealercrm_register_settings``. ``unchecked``:
    names whose tables are accepted as written — plugins that declare no settings, blocked
    plugins and plugins that failed to load (their classes are unknown). Any other table is
    refused, with the closest declared name. Raises the first problem unless ``problems`` is
    given to collect them.
    """
    found: list[ValidationError] = []
    accepted = set(declared) | set(unchecked)
    for table in settings.plugins:
        if table not in accepted:
            refused = unknown_key("[plugins]", table, sorted(accepted))
            found.append(ValidationError("table", f"[plugins.{table}]", refused.reason.replace(
                "is no setting of [plugins]", "no loaded plugin declares it")))
    checked = {}
    for table, (_, cls) in declared.items():
        before = len(found)
        checked[table] = check(cls, settings.plugins.get(table, {}), f"[plugins.{table}]", found)
        against = getattr(checked[table], "check_against", None)
        if len(found) == before and callable(against):  # a table of the right shape: does it fit the others?
            try:
                against(settings)
            except ValidationError as exc:
                found.append(exc)
    found = [_in(settings.source, p) for p in found]
    if problems is None:
        raise_first(found)
    else:
        problems.extend(found)
    return attrs.evolve(settings, checked={**settings.checked, **checked})


def _secret_key(value: Any, source: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) < 32:
        raise ValidationError("secret_key", "***", f"must be a string of at least 32 characters ({source}); make one "
                              "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return value


def _names(items) -> tuple[str, ...]:
    return tuple(b.strip() for b in items if b.strip())


def _block_list(value: Any) -> tuple[str, ...]:
    """``block_plugins = ["a", "b"]``; a bare string is one name (or several, comma-separated),
    not its letters."""
    if isinstance(value, str):
        return _names(value.split(","))
    return _names(value)


def _region(value: Any, source: str) -> str:
    """The region phone numbers without a country code are read in, e.g. DE, AT, CH."""
    import phonenumbers  # loaded on use: a large package

    region = str(value).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("default_region", value, f"is not a region code such as DE, AT or CH ({source})")
    return region
