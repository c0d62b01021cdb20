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
import phonenumbers

from .errors import ValidationError


@attrs.frozen
class Settings:
    database_url: str | None = None
    default_region: str = "DE"
    home_dealer: str = "Our Dealership"
    block_plugins: tuple[str, ...] = ()
    plugins: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    source: str = "defaults"

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
    unknown = set(core) - {"database_url", "default_region", "home_dealer", "block_plugins"}
    if unknown:
        raise ValidationError("settings key", sorted(unknown)[0], f"unknown in [dealercrm] of {source}")
    block = env.get("DEALERCRM_BLOCK_PLUGINS")
    return Settings(
        database_url=env.get("DEALERCRM_DATABASE_URL") or core.get("database_url"),
        default_region=_region(env.get("DEALERCRM_DEFAULT_REGION") or core.get("default_region", "DE"), source),
        home_dealer=core.get("home_dealer", "Our Dealership"),
        block_plugins=_names(block.split(",")) if block else _block_list(core.get("block_plugins", ()), source),
        plugins={k: v for k, v in data.get("plugins", {}).items()},
        source=source,
    )


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
    region = str(value).strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError("default_region", value, f"is not a region code such as DE, AT or CH ({source})")
    return region
