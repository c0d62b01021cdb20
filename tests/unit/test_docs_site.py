"""The reference site builds with ``mkdocs build --strict`` and holds what it promises.

Strict means any warning fails the build: a docstring naming a parameter the function
does not have, an object mkdocstrings cannot find, a link to a page or anchor that does
not exist. The generated pages are checked against the code they come from: every service
method, every visible command, every operation of the OpenAPI document.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
import reference  # noqa: E402  (docs/_hooks/reference.py: what the build generates)


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    # `python -m mkdocs`: with the `mkdocs` script, the venv's bin/ comes first on sys.path and
    # griffe would take the `dealercrm` console script there for the package
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], capture_output=True, text=True, cwd=config.parent, env=env,
                          timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    done = build(ROOT / "mkdocs.yml", site)
    assert done.returncode == 0, done.stderr[-6000:]
    return site


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_every_public_method_of_every_service_is_on_the_services_page(site):
    html = page(site, "python/services")
    missing = [f"{cls.__qualname__}.{name}" for _, cls in reference.services()
               for name in vars(cls) if not name.startswith("_") and callable(getattr(cls, name))
               and f'id="{cls.__module__}.{cls.__qualname__}.{name}"' not in html]
    assert not missing, f"not in the reference: {missing}"
    assert len(reference.services()) >= 20


def test_connect_events_errors_and_hook_specifications_are_rendered(site):
    assert 'id="dealercrm.connect"' in page(site, "python/connect")
    import dealercrm.errors
    import dealercrm.events
    import dealercrm.hookspecs
    for module, name in ((dealercrm.events, "python/events"), (dealercrm.errors, "python/errors")):
        html = page(site, name)
        classes = [c for c, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__]
        assert classes and all(f'id="{module.__name__}.{c}"' in html for c in classes), name
    hooks = page(site, "python/hookspecs")
    assert all(f'id="dealercrm.hookspecs.{h}"' in hooks for h in vars(dealercrm.hookspecs) if h.startswith("dealercrm_"))


def test_the_hook_reference_http_and_portal_pages_are_part_of_the_site(site):
    assert "dealercrm_handle_event" in page(site, "hooks")
    assert "Who sees what" in page(site, "http")
    assert "Sign-in" in page(site, "portal") or "Signing in" in page(site, "portal")


def test_every_visible_command_is_on_the_command_line_page_with_its_help(site):
    from dealercrm.cli import build_cli
    root = typer.main.get_command(build_cli())
    html = page(site, "cli")
    paths = reference.commands(root, (), root.context_class(root, info_name="dealercrm"))
    assert len(paths) > 30
    for path in paths:
        assert f"Usage: dealercrm {' '.join(path)} " in html, path


def test_every_operation_and_schema_of_the_openapi_document_is_on_its_page(site):
    spec = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    html = page(site, "openapi")
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            assert f'id="{reference.anchor(method + " " + path)}"' in html, (method, path)
            assert op["operationId"] in html
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{reference.anchor(name)}"' in html, name
    assert (site / "openapi.json").is_file(), "the document itself is published beside the page"


def test_a_strict_build_fails_on_a_docstring_naming_a_parameter_that_does_not_exist(tmp_path):
    """The build is really strict: the same configuration on a module whose docstring
    documents an argument the function lacks (the way a renamed argument leaves its old
    name behind) fails, naming it."""
    shutil.copytree(ROOT / "docs" / "_hooks", tmp_path / "docs" / "_hooks")
    (tmp_path / "docs" / "index.md").write_text("# Stale\n\n::: stale_doc.register\n", encoding="utf-8")
    (tmp_path / "stale_doc.py").write_text(
        'def register(name: str, *, by: int) -> int:\n'
        '    """Register someone.\n\n    Args:\n        name: who.\n        owner: the old name of `by`.\n\n'
        '    Returns:\n        The new id.\n    """\n    return 1\n', encoding="utf-8")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:")[0]
    config = config.replace("          options:\n", "          paths: [.]\n          options:\n", 1)
    (tmp_path / "mkdocs.yml").write_text(config + "\nnav:\n  - index.md\n", encoding="utf-8")
    done = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "owner" in done.stderr and "does not appear in the function signature" in done.stderr
