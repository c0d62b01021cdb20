"""Building the plugin manager of one application.

Built-in plugins are named in ``DEFAULT_PLUGINS`` and imported by name, exactly as a
third-party plugin is found through the ``dealercrm`` entry-point group; a host can
block any of them by name. Every plugin's origin is recorded so ``dealercrm plugins``
can say where each hook implementation came from.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, Vetoed

log = logging.getLogger("dealercrm.plugin_manager")

# Built-ins mark their hooks trylast so user plugins run first; among trylast
# implementations pluggy calls the earlier registered first, so the customer-file demo
# seeds before the service-case demo builds on it.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "dealercrm.plugins.service_case",
    "dealercrm.plugins.case_notifications",
    "dealercrm.plugins.channel_phone",
    "dealercrm.plugins.channel_email",
    "dealercrm.plugins.channel_webhook",
    "dealercrm.plugins.channel_sms",
    "dealercrm.plugins.channel_whatsapp",
    "dealercrm.plugins.http_subscriptions",
    "dealercrm.plugins.rule_interest_offer",
    "dealercrm.plugins.rule_after_sale",
    "dealercrm.plugins.rule_satisfaction",
    "dealercrm.plugins.rule_case_reminders",
    "dealercrm.plugins.demo_customer_file",
    "dealercrm.plugins.demo_service_case",
    "dealercrm.plugins.rule_loyal_quiet",
    "dealercrm.plugins.rule_lost_customers",
)
ENTRY_POINT_GROUP = "dealercrm"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the origin of every plugin and error-isolating calls."""

    def __init__(self) -> None:
        super().__init__("dealercrm")
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, str] = {}
        self.blocked: set[str] = set()

    def set_blocked(self, name: str) -> None:
        self.blocked.add(name)
        super().set_blocked(name)

    def register_named(self, plugin: object, name: str, origin: str) -> None:
        if self.is_blocked(name):
            return
        try:
            self.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(name, "register", exc) from exc
        self.origins[name] = origin

    def checked_call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call a hook inside a transaction: the first failure aborts, naming the plugin."""
        results = []
        for impl in reversed(getattr(self.hook, hook).get_hookimpls()):
            result = self.checked_call_one(impl, hook, **kwargs)
            if result is not None:
                results.append(result)
        return results

    def checked_call_one(self, impl: Any, hook: str, **kwargs: Any) -> Any:
        """One implementation, with its failure named (used where results are chained)."""
        try:
            return impl.function(*[kwargs[a] for a in impl.argnames])
        except Vetoed:
            raise
        except Exception as exc:
            raise PluginError(impl.plugin_name, hook, exc) from exc

    def collect_named(self, hook: str, kind: str, method: str, *, isolate: bool = False,
                      failures: list | None = None, **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Objects plugins provide through ``hook``, by their ``name``, and the plugin of each.

        Each needs a ``name`` and a callable ``method``; two with one name are refused naming
        both plugins. With ``isolate`` a plugin that raises is logged and appended to
        ``failures`` and the others still count (one broken channel must not silence all).
        """
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for impl in reversed(getattr(self.hook, hook).get_hookimpls()):
            try:
                provided = self.checked_call_one(impl, hook, **kwargs) or ()
            except PluginError as failure:
                if not isolate:
                    raise
                log.error("%s", failure)
                if failures is not None:
                    failures.append(failure)
                continue
            for item in provided:
                name = getattr(item, "name", None)
                if not name or not callable(getattr(item, method, None)):
                    raise PluginError(impl.plugin_name, hook, f"{item!r} has no name or {method}()")
                if name in found:
                    raise PluginError(impl.plugin_name, hook,
                                      f"{kind} {name!r} is provided by both {owners[name]!r} and {impl.plugin_name!r}")
                found[name], owners[name] = item, impl.plugin_name
        return found, owners

    def isolated_call(self, hook: str, **kwargs: Any) -> tuple[list[Any], list[PluginError]]:
        """Call every implementation even if some raise; failures come back named."""
        results, failures = [], []
        for impl in reversed(getattr(self.hook, hook).get_hookimpls()):
            try:
                result = impl.function(*[kwargs[a] for a in impl.argnames])
            except Exception as exc:
                failure = PluginError(impl.plugin_name, hook, exc)
                log.error("%s", failure, exc_info=exc)
                failures.append(failure)
                continue
            if result is not None:
                results.append(result)
        return results, failures


def build_plugin_manager(
    plugins: Iterable[object] | Mapping[str, object] = (),
    block: Iterable[str] = (),
    load_entry_points: bool = True,
) -> PluginManager:
    pm = PluginManager()
    for name in block:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        short = module_name.rsplit(".", 1)[-1]
        if not pm.is_blocked(short):
            pm.register_named(_import(short, module_name), short, f"built-in ({module_name})")
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(ep.name, "import", f"{type(exc).__name__}: {exc} "
                                  f"(entry point {ep.value}; block it with DEALERCRM_BLOCK_PLUGINS={ep.name})") from exc
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown distribution"
            pm.register_named(plugin, ep.name, f"entry point ({dist}: {ep.value})")
    items = plugins.items() if isinstance(plugins, Mapping) else ((None, p) for p in plugins)
    for name, plugin in items:
        register_inline(pm, plugin, name)
    _check_pending(pm)
    return pm


def register_inline(pm: PluginManager, plugin: object, name: str | None = None) -> str:
    name = name or getattr(plugin, "__name__", None) or f"{type(plugin).__name__}-{id(plugin):x}"
    pm.register_named(plugin, name, "inline (registered by the host)")
    try:
        _check_pending(pm)
    except PluginError:
        pm.unregister(name=name)
        pm.origins.pop(name, None)
        raise
    return name


def _import(name: str, module_name: str) -> object:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(name, "import", exc) from exc


def _check_pending(pm: PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(pm.get_name(exc.plugin) or repr(exc.plugin), "register", exc) from exc
