"""What a host gets from ``import dealercrm`` (the small public API and nothing heavy), and what a
release ships: the wheel built from the sdist, its license, classifiers and data files."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import dealercrm


def test_import_dealercrm_loads_no_cli_server_or_driver_packages():
    code = ("import sys, dealercrm; print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'typer', 'rich', 'psycopg', 'fastapi', 'uvicorn', 'alembic', 'holidays', 'pytest'})))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_the_public_api_is_connect_hookimpl_errors_and_events():
    for name in ("connect", "hookimpl", "DealerCrmError", "NotFound", "ValidationError", "NotPermitted",
                 "TransitionNotAllowed", "Conflict", "PluginError", "WorkflowUnsound",
                 "CustomerRegistered", "InterestNoted", "CaseHandedOver", "CaseEscalated", "CaseClosed"):
        assert hasattr(dealercrm, name), name
    assert issubclass(dealercrm.Conflict, dealercrm.DealerCrmError)


def test_events_are_frozen_and_named_in_the_past_tense():
    import attrs

    from dealercrm.events import all_event_classes

    for cls in all_event_classes():
        assert attrs.has(cls) and any(word.endswith("ed") for word in cls.name.split("_")), cls
    event = dealercrm.CustomerRegistered(at=dealercrm.ManualClock().now(), customer_id=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.customer_id = 2


# -- the distribution ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[zipfile.ZipFile, str]:
    """The sdist and the wheel built from it, as a release builds them, from a copy of the checkout
    (``--no-isolation``: the setuptools of this environment, nothing downloaded); the wheel and
    everything the build printed."""
    here = tmp_path_factory.mktemp("release")
    source = here / "dealercrm"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("core", "plugins", "workflows"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-o", str(here / "dist"), str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [wheel] = (here / "dist").glob("dealercrm-*.whl")
    return zipfile.ZipFile(wheel), done.stdout + done.stderr


def test_the_build_says_nothing_to_warn_about(built):
    _, said = built
    warnings = [line for line in said.splitlines() if "warn" in line.lower() and "byte-compiling" not in line]
    assert warnings == []


def test_the_wheel_declares_an_spdx_license_with_its_file_and_classifiers(built):
    wheel, _ = built
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(wheel.read(metadata).decode())
    assert meta["License-Expression"] == "MIT" and meta.get_all("License-File") == ["LICENSE"]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    classifiers = meta.get_all("Classifier")
    assert "Typing :: Typed" in classifiers and "Programming Language :: Python :: 3.11" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # the expression says it, once
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("phonenumberslite") for r in requires)  # the metadata, not 40 MB of geocoder data
    assert not any(r.split(">")[0].split(";")[0].strip() == "phonenumbers" for r in requires)
    assert any(r.startswith("fastapi-offline") and 'extra == "server"' in r for r in requires)


def test_every_package_data_pattern_names_files_that_exist_and_are_in_the_wheel(built):
    wheel, _ = built
    names = set(wheel.namelist())
    dirs = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        base = ROOT / next(dirs[p] + package[len(p):].replace(".", "/") for p in sorted(dirs, key=len, reverse=True)
                           if package == p or package.startswith(p + "."))
        for pattern in patterns:
            found = [p for p in base.glob(pattern) if p.is_file()]
            assert found, f"{package}: {pattern} names no file"
            for path in found:
                assert f"{package.replace('.', '/')}/{path.relative_to(base).as_posix()}" in names, path
