"""Building the plugin manager of one application, and calling hooks through it.

Built-in plugins are named in ``DEFAULT_PLUGINS`` and imported by name, exactly as a
third-party plugin is found through the ``dealercrm`` entry-point group; a host can
block any of them by name. Every plugin's origin is recorded so ``dealercrm plugins list``
can say where each hook implementation came from.

Every hook is called by pluggy (``pm.hook.<name>(...)``), so wrappers
(``@hookimpl(wrapper=True)``), ``add_hookcall_monitoring`` and tracing
(``DEALERCRM_TRACE_HOOKS=1``) see every call. Two ways of calling:

* ``checked_call``: one pluggy call with every implementation; the first failure aborts it
  (hooks inside a transaction, commands, the demo).
* ``call_each``: one pluggy call *per plugin*, through ``pm.subset_hook_caller`` with the
  other plugins' plain implementations removed, so every wrapper still runs around each.
  Used where one plugin must not stop or hide the others (after-commit handlers) and where
  what each plugin provides must be told apart (channels, rules, workflows).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, Vetoed

log = logging.getLogger("dealercrm.plugin_manager")
hook_log = logging.getLogger("dealercrm.hooks")

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
    "dealercrm.plugins.rule_single_threaded",
    "dealercrm.plugins.portal",
)
ENTRY_POINT_GROUP = "dealercrm"
TRACE_ENV = "DEALERCRM_TRACE_HOOKS"
BLOCK_ENV = "DEALERCRM_BLOCK_PLUGINS"
#: an allow-list of installed plugins, as datasette's ``DATASETTE_LOAD_PLUGINS``: set, only the
#: entry points it names (comma-separated) are loaded, set empty none; built-ins are not affected
LOAD_ENV = "DEALERCRM_LOAD_PLUGINS"
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

Each = tuple[tuple[str, pluggy.HookCaller], ...]


class PluginFailures:
    """The last ``keep`` plugin failures, and how many each (plugin, hook) had in all.

    A long-running process must not hold every traceback it ever saw: older failures leave
    this list (each was logged to ``dealercrm.plugin_manager`` when it happened) and live
    on only in ``counts``.
    """

    def __init__(self, keep: int = 100) -> None:
        self._last: deque[PluginError] = deque(maxlen=keep)
        self.counts: Counter[tuple[str, str]] = Counter()

    def append(self, failure: PluginError) -> None:
        log.error("%s", failure, exc_info=failure.cause if isinstance(failure.cause, BaseException) else None)
        self._last.append(failure)
        self.counts[(failure.plugin, failure.hook)] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __iter__(self) -> Iterator[PluginError]:
        return iter(list(self._last))

    def __len__(self) -> int:
        return len(self._last)

    def __getitem__(self, index: int) -> PluginError:
        return self._last[index]

    def __repr__(self) -> str:
        return f"<PluginFailures last {len(self)} of {self.total}>"


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the origin of every plugin and failure-naming calls."""

    def __init__(self) -> None:
        super().__init__("dealercrm")
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, str] = {}
        self.blocked: set[str] = set()
        #: plugins that failed to load, with why and how to block them (only when loading
        #: tolerated it: ``build_plugin_manager(tolerate_broken=True)``)
        self.failed: dict[str, PluginError] = {}
        self._each: dict[str, Each] = {}  # per-plugin callers, rebuilt after (un)registering

    # -- registering ----------------------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            hash(plugin)
        except TypeError:  # subset_hook_caller keeps plugins in a set
            raise PluginError(name or repr(plugin), "register",
                              f"a {type(plugin).__name__} is unhashable; pluggy tells plugins apart by identity, "
                              "so register a module, a class or an instance of a hashable class") from None
        _refuse_two_implementations(self, plugin, name or self.get_canonical_name(plugin))
        self._each.clear()
        try:
            return super().register(plugin, name)
        finally:  # also after a historic replay that called hooks while this plugin was half in
            self._each.clear()

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self._each.clear()

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

    # -- calling --------------------------------------------------------------------------
    def checked_call(self, hook: str, **kwargs: Any) -> list[Any]:
        """``pm.hook.<hook>(**kwargs)``: every implementation and wrapper in one pluggy call.

        The first failure aborts the call and comes back as ``PluginError`` naming the plugin
        that raised (``Vetoed`` passes unchanged: it names its plugin itself).
        """
        if hook in hookspecs.EACH_PLUGIN:
            raise ValueError(f"{hook} is called for each plugin on its own: use call_each")
        try:
            return getattr(self.hook, hook)(**kwargs)
        except Vetoed:
            raise
        except Exception as exc:
            raise PluginError(self.culprit(hook, exc), hook, exc) from exc

    def each(self, hook: str, without: str | None = None) -> Each:
        """A caller per plugin implementing ``hook``, in pluggy's calling order.

        Each is ``pm.subset_hook_caller`` with every *other* plugin's plain implementation
        removed: it calls that plugin and every wrapper. Cached until a plugin is registered
        or unregistered (building them costs more than a hook call). ``without`` leaves one
        plugin out entirely, wrappers too (not cached: to see what unregistering would do).
        """
        found = self._each.get(hook) if without is None else None
        if found is None:
            if hook not in hookspecs.EACH_PLUGIN:
                raise ValueError(f"{hook} is called once for all plugins: use checked_call")
            impls = getattr(self.hook, hook).get_hookimpls()
            left_out = [i.plugin for i in impls if i.plugin_name == without]
            plain = [i for i in impls if not (i.wrapper or i.hookwrapper) and i.plugin_name != without]
            found = tuple((impl.plugin_name,
                           self.subset_hook_caller(hook, [*left_out, *(o.plugin for o in plain if o is not impl)]))
                          for impl in reversed(plain))
            if without is None:
                self._each[hook] = found
        return found

    def call_one(self, hook: str, plugin: str, caller: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
        """One plugin's call from ``each``; a failure is ``PluginError`` naming the plugin that
        raised (that plugin, or a wrapper around it)."""
        try:
            return caller(**kwargs)
        except Vetoed:
            raise
        except Exception as exc:
            raise PluginError(self.culprit(hook, exc, caller, fallback=plugin), hook, exc) from exc

    def call_each(self, hook: str, *, failures: PluginFailures | list | None = None, only: str | None = None,
                  without: str | None = None, **kwargs: Any) -> list[tuple[str, list[Any]]]:
        """Call each plugin implementing ``hook`` on its own: ``[(plugin, its results), ...]``.

        With ``failures`` a plugin that raises is recorded there (and logged) and the others
        still run; without, the first failure aborts. ``only`` calls just that plugin.
        """
        done = []
        callers = self._each.get(hook) if without is None else None  # after-commit handlers: every event
        for plugin, caller in callers if callers is not None else self.each(hook, without):
            if only is not None and plugin != only:
                continue
            try:
                done.append((plugin, caller(**kwargs)))
            except Exception as exc:
                if isinstance(exc, Vetoed) and failures is None:
                    raise
                failure = PluginError(self.culprit(hook, exc, caller, fallback=plugin), hook, exc)
                if failures is None:
                    raise failure from exc
                failures.append(failure)
        return done

    def collect_named(self, hook: str, kind: str, method: str, *, failures: PluginFailures | list | None = None,
                      only: str | None = None, without: str | None = None,
                      **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Objects plugins provide through ``hook``, by their ``name``, and the plugin of each.

        Each needs a ``name`` and a callable ``method``; two with one name are refused naming
        both plugins. With ``failures`` a plugin that raises is recorded there and the others
        still count (one broken channel must not silence all).
        """
        found: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin, results in self.call_each(hook, failures=failures, only=only, without=without, **kwargs):
            for provided in results:
                for item in provided or ():
                    name = getattr(item, "name", None)
                    if not name or not callable(getattr(item, method, None)):
                        raise PluginError(plugin, hook, f"{item!r} has no name or {method}()")
                    if name in found:
                        first = owners[name]  # blame the newcomer, not the built-in that happens to be called last
                        culprit = first if self.origins.get(plugin, "").startswith("built-in") else plugin
                        raise PluginError(culprit, hook,
                                          f"{kind} {name!r} is provided by both {first!r} and {plugin!r}")
                    found[name], owners[name] = item, plugin
        return found, owners

    def culprit(self, hook: str, exc: BaseException, caller: pluggy.HookCaller | None = None,
                fallback: str | None = None) -> str:
        """The plugin whose implementation of ``hook`` raised ``exc``.

        A traceback only grows outwards as an exception travels, so its innermost frame that
        runs one of the hook's implementations is the one that raised it or let it out of
        code it called: a plain implementation, a wrapper that raised, or (for an exception a
        wrapper passed on) the implementation inside it. Work done only after a failure.
        """
        impls = (caller or getattr(self.hook, hook)).get_hookimpls()
        by_code: dict[Any, list[Any]] = {}
        for impl in impls:
            for code in _codes(impl.function):
                by_code.setdefault(code, []).append(impl)
        blamed = None
        tb = exc.__traceback__
        while tb is not None:
            found = by_code.get(tb.tb_frame.f_code)
            if found:
                blamed = _told_apart(found, tb.tb_frame)
            tb = tb.tb_next
        if blamed:
            return blamed
        if fallback:
            return fallback
        names = sorted({impl.plugin_name for impl in impls})
        return names[0] if len(names) == 1 else f"one of {', '.join(names)}"


def _refuse_two_implementations(pm: PluginManager, plugin: object, name: str) -> None:
    """A hook called for each plugin on its own calls one plugin object with every
    wrapper of the *other* plugins: a wrapper next to a plain implementation in the same
    plugin could only wrap its neighbour, so it is refused."""
    hooks = Counter()
    for attr in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attr)
        if opts is not None:
            hooks[opts.get("specname") or attr] += 1
    twice = sorted(h for h, n in hooks.items() if n > 1 and h in hookspecs.EACH_PLUGIN)
    if twice:
        raise PluginError(name, twice[0], "implemented twice in one plugin (a wrapper next to a plain implementation?); "
                                      "this hook is called for each plugin on its own: put the wrapper in a plugin "
                                      "of its own")


def _codes(function: Any) -> Iterator[Any]:
    """The code objects a hook implementation runs as (through decorators and partials)."""
    seen = 0
    while function is not None and seen < 10:
        code = getattr(function, "__code__", None)
        if code is None:
            code = getattr(getattr(type(function), "__call__", None), "__code__", None)
        if code is not None:
            yield code
        function = getattr(function, "__wrapped__", None) or getattr(function, "func", None)
        seen += 1


def _told_apart(impls: list[Any], frame: Any) -> str | None:
    """Which of several implementations sharing one code object ran in ``frame``."""
    if len({impl.plugin_name for impl in impls}) == 1:
        return impls[0].plugin_name
    # methods of one class on several instances: the frame's ``self`` says which
    code = frame.f_code
    first = frame.f_locals.get(code.co_varnames[0]) if code.co_argcount else None
    for impl in impls:
        if getattr(impl.function, "__self__", None) is first and first is not None:
            return impl.plugin_name
    return f"one of {', '.join(sorted({impl.plugin_name for impl in impls}))}"


def trace_hooks(pm: PluginManager) -> Any:
    """Trace every hook call (pluggy's own tracing) to the ``dealercrm.hooks`` logger, or to
    stderr when logging is not set up. Returns pluggy's undo function."""

    def write(line: str) -> None:
        if hook_log.hasHandlers():
            hook_log.info("%s", line.rstrip("\n"))
        else:
            sys.stderr.write(line)

    pm.trace.root.setwriter(write)
    return pm.enable_tracing()


def build_plugin_manager(
    plugins: Iterable[object] | Mapping[str, object] = (),
    block: Iterable[str] = (),
    load_entry_points: bool | Iterable[str] = True,
    tolerate_broken: bool = False,
) -> PluginManager:
    """The plugin manager: the built-in plugins, the installed ones (entry points of the
    ``dealercrm`` group: all with ``load_entry_points=True``, none with False, or only those
    named), then ``plugins`` registered inline. Blocked names are left out. With
    ``load_entry_points=True``, ``$DEALERCRM_LOAD_PLUGINS`` (if set) narrows the installed
    plugins to those it names: an operator's allow-list, without uninstalling anything.

    A plugin that fails to import or register is a ``PluginError`` naming it and how to
    block it; with ``tolerate_broken`` it is left out and listed in ``pm.failed`` instead,
    so the commands that need none of it (``dealercrm plugins list``, ``db``, ``settings``,
    ``--help``) still work with a broken plugin installed.
    """
    allowed = os.environ.get(LOAD_ENV)
    if load_entry_points is True and allowed is not None:
        load_entry_points = [name.strip() for name in allowed.split(",") if name.strip()]
    pm = PluginManager()
    if os.environ.get(TRACE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off"):
        trace_hooks(pm)
    for name in block:
        pm.set_blocked(name)

    def load(name: str, get: Any, origin: str, where: str) -> None:
        try:
            pm.register_named(get(), name, origin)
        except Exception as exc:
            cause = exc.cause if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
            failure = PluginError(name, "import" if not isinstance(exc, PluginError) else exc.hook,
                                  f"{cause} ({where}; block it with {BLOCK_ENV}={name})")
            if not tolerate_broken:
                raise failure from exc
            log.warning("%s", failure)
            pm.failed[name] = failure

    for module_name in DEFAULT_PLUGINS:
        short = module_name.rsplit(".", 1)[-1]
        if not pm.is_blocked(short):
            load(short, lambda m=module_name: importlib.import_module(m), f"built-in ({module_name})",
                 f"built-in module {module_name}")
    if load_entry_points:
        wanted = None if load_entry_points is True else set(load_entry_points)
        found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        for name in sorted((wanted or set()) - set(found)):
            failure = PluginError(name, "import", f"no installed plugin has the entry point {name!r} in the "
                                  f"{ENTRY_POINT_GROUP!r} group (installed: {', '.join(sorted(found)) or 'none'}); "
                                  f"pip install the plugin's project first, or take it off {LOAD_ENV}")
            if not tolerate_broken:
                raise failure
            pm.failed[name] = failure
        for ep in found.values():
            if (wanted is not None and ep.name not in wanted) or pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown distribution"
            load(ep.name, ep.load, f"entry point ({dist}: {ep.value})", f"entry point {ep.value}")
    items = plugins.items() if isinstance(plugins, Mapping) else ((None, p) for p in plugins)
    for name, plugin in items:
        register_inline(pm, plugin, name)
    while True:
        try:
            _check_pending(pm)
            break
        except PluginError as exc:  # a hook implementation of no hook (a typo)
            if not tolerate_broken or exc.plugin not in pm.origins or "inline" in pm.origins[exc.plugin]:
                raise
            pm.unregister(name=exc.plugin)
            pm.origins.pop(exc.plugin)
            pm.failed[exc.plugin] = PluginError(exc.plugin, "register", f"{exc.cause} (block it with "
                                                f"{BLOCK_ENV}={exc.plugin})")
    return pm


def declared_settings(pm: PluginManager, only: str | None = None) -> dict[str, tuple[str, type]]:
    """Every settings table the plugins declare (``dealercrm_register_settings``): table →
    (plugin, attrs class). A table declared twice, or a class that cannot be a settings
    schema, is a ``PluginError`` naming the plugin."""
    from .settings_schema import schema_problem

    found: dict[str, tuple[str, type]] = {}
    for plugin, results in pm.call_each("dealercrm_register_settings", only=only):
        for declared in results:
            if declared is None:
                continue
            if not isinstance(declared, Mapping):
                raise PluginError(plugin, "dealercrm_register_settings",
                                  f"must return {{'<table>': <attrs class>}}, not {declared!r}")
            for table, cls in declared.items():
                if not isinstance(table, str) or not TABLE_NAME.fullmatch(table):
                    raise PluginError(plugin, "dealercrm_register_settings",
                                      f"table name {table!r} must be lower case letters, digits and _")
                problem = schema_problem(cls)
                if problem:
                    raise PluginError(plugin, "dealercrm_register_settings", f"[plugins.{table}]: {problem}")
                if table in found and found[table][0] != plugin:
                    raise PluginError(plugin, "dealercrm_register_settings",
                                      f"[plugins.{table}] is declared by both {found[table][0]!r} and {plugin!r}")
                found[table] = (plugin, cls)
    return found


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


def _check_pending(pm: PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(pm.get_name(exc.plugin) or repr(exc.plugin), "register", exc) from exc
