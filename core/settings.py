"""Installation settings: one TOML file, overridable from the environment.

The file is ``$DEALERCRM_SETTINGS`` or ``./dealercrm.toml`` if present. Plugins read
their own table from ``settings.plugin("name")`` so one file configures the whole
installation (see README, "Configuration").
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import attrs

from .errors import ValidationError


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
    legal_basis: dict[str, str] = attrs.field(factory=lambda: {"service": "contract", "marketing": "consent"})
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
class CaseSettings:
    """``[cases]``: ``default_workflow`` is the workflow a case opened without naming one
    follows; unset, the one registered workflow (with several, each case must name its own).
    ``service_levels``: per workflow and level, deadlines and conditions that change or add
    to the workflow's declared service levels (``dealercrm.workflow.levels``), checked and
    proven with the workflow when the application starts."""

    default_workflow: str | None = None
    service_levels: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class OutboxSettings:
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
    secret: str | list = ""
    mailto: str = ""


@attrs.frozen
class Settings:
    database_url: str | None = None
    default_region: str = "DE"
    home_dealer: str = "Our Dealership"
    block_plugins: tuple[str, ...] = ()
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

    def plugin(self, name: str) -> dict[str, Any]:
        return dict(self.plugins.get(name, {}))


def load_settings(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    candidate = path or env.get("DEALERCRM_SETTINGS") or ("dealercrm.toml" if Path("dealercrm.toml").exists() else None)
    data: dict[str, Any] = {}
    source = "defaults"
    if candidate:
        try:
            data = tomllib.loads(Path(candidate).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError("settings file", str(candidate), "does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError("settings file", str(candidate), f"is not valid TOML: {exc}") from None
        source = str(candidate)
    core = data.get("dealercrm", {})
    unknown = set(core) - {"database_url", "default_region", "home_dealer", "block_plugins", "language", "secret_key"}
    if unknown:
        raise ValidationError("settings key", sorted(unknown)[0], f"unknown in [dealercrm] of {source}")
    block = env.get("DEALERCRM_BLOCK_PLUGINS")
    return Settings(
        database_url=env.get("DEALERCRM_DATABASE_URL") or core.get("database_url"),
        default_region=_region(env.get("DEALERCRM_DEFAULT_REGION") or core.get("default_region", "DE"), source),
        home_dealer=core.get("home_dealer", "Our Dealership"),
        block_plugins=_names(block.split(",")) if block else _block_list(core.get("block_plugins", ()), source),
        plugins={k: v for k, v in data.get("plugins", {}).items()},
        language=core.get("language", "de"),
        contact=_section(ContactSettings, data.get("contact", {}), "contact", source),
        outbox=_section(OutboxSettings, data.get("outbox", {}), "outbox", source),
        cases=_section(CaseSettings, data.get("cases", {}), "cases", source),
        relationships=_section(RelationshipSettings, data.get("relationships", {}), "relationships", source),
        inbound=dict(data.get("inbound", {})),
        http=_section(HttpSettings, data.get("http", {}), "http", source),
        unsubscribe=_section(UnsubscribeSettings, data.get("unsubscribe", {}), "unsubscribe", source),
        source=source,
        secret_key=_secret_key(env.get("DEALERCRM_SECRET_KEY") or core.get("secret_key"), source),
    )


def _secret_key(value: Any, source: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) < 32:
        raise ValidationError("secret_key", "***", f"must be a string of at least 32 characters ({source}); make one "
                              "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return value


def _section(cls, values: dict[str, Any], name: str, source: str):
    known = {f.name for f in attrs.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValidationError("settings key", sorted(unknown)[0], f"unknown in [{name}] of {source}; known: {sorted(known)}")
    return cls(**values)


def _names(items) -> tuple[str, ...]:
    return tuple(b.strip() for b in items if b.strip())


def _block_list(value: Any, source: str) -> tuple[str, ...]:
    """``block_plugins = ["a", "b"]``; a bare string would otherwise block its letters."""
    if isinstance(value, str):
        return _names(value.split(","))
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValidationError("settings key", "block_plugins", f"must be a list of plugin names in {source}")
    return _names(value)


def _region(value: Any, source: str) -> str:
    """The region phone numbers without a country code are read in, e.g. DE, AT, CH."""
    import phonenumbers  # loaded on use: a large package

    region = str(value).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("default_region", value, f"is not a region code such as DE, AT or CH ({source})")
    return region
