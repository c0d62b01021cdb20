"""The core's layers, enforced by import-linter from the contract in pyproject.toml:
adapters (cli, http) → application (app, as_actor) → services → the unit of work and its
access rules → plugin machinery → workflow and fields → tables → events, errors, clock;
and no import cycle between the core's packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def lint(config: Path) -> subprocess.CompletedProcess:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    return subprocess.run([command, "--config", str(config), "--no-cache"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_the_core_keeps_its_layers_and_has_no_import_cycle():
    done = lint(ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 kept, 0 broken" in done.stdout


def test_the_contract_would_catch_a_lower_layer_importing_a_higher_one(tmp_path):
    """The same contract with two layers swapped must break: the tool really reads the imports."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = config["contracts"][0]["layers"]
    services = layers.index("dealercrm.services")
    layers[services - 1], layers[services] = layers[services], layers[services - 1]
    swapped = tmp_path / "swapped.toml"
    swapped.write_text(_toml(config), encoding="utf-8")
    done = lint(swapped)
    assert done.returncode != 0 and "BROKEN" in done.stdout


def _toml(config: dict) -> str:
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace('"', '\\"') + '"'

    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {value(v)}" for k, v in config.items() if k != "contracts"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"] + [f"{k} = {value(v)}" for k, v in contract.items()]
    return "\n".join(lines) + "\n"
