"""What a host pays for dealercrm: the wheel's size and the time ``import dealercrm`` takes.

The wheel is built from this checkout (``python -m build --wheel --no-isolation``, no
download). The import is timed in fresh interpreters, ``runs`` times each, against the
baseline measured in the same run: an interpreter that imports nothing (``python -c pass``).
The median of each is printed, their difference (what ``import dealercrm`` adds) and its
ratio to the baseline; then ``python -X importtime``'s own cumulative figure for the package
and the five heaviest libraries it imports. The machine's load average is printed too: these are
wall-clock times.

    .venv/bin/python bench/footprint.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wheel_size() -> tuple[str, int]:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "-o", out, str(ROOT)],
                       check=True, capture_output=True)
        [wheel] = Path(out).glob("dealercrm-*.whl")
        return wheel.name, wheel.stat().st_size


def timed(code: str, runs: int) -> tuple[float, float]:
    """Medians of the wall-clock time and of the CPU time (user + system) of a fresh interpreter
    running ``code``: on a busy machine the CPU time says more than the wall clock."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=tempfile.gettempdir())
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def importtime() -> tuple[float, list[tuple[float, str]]]:
    """``-X importtime``: the package's cumulative time and its heaviest imports (seconds)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import dealercrm"], check=True,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip()) - 1) // 2  # importtime indents by two per level
            rows.append((int(parts[1]) / 1e6, name.strip(), depth))
    total = next(t for t, name, depth in rows if name == "dealercrm")
    outside = [(t, n) for t, n, depth in rows if depth == 1 and not n.startswith("dealercrm")] + \
              [(t, n) for t, n, depth in rows if depth == 2 and not n.startswith("dealercrm")]
    return total, sorted(outside, reverse=True)[:5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    name, size = wheel_size()
    print(f"wheel: {name}, {size:,} bytes ({size / 1024:.0f} KiB)")
    (base, base_cpu), (imported, imported_cpu) = timed("pass", args.runs), timed("import dealercrm", args.runs)
    print(f"python -c pass: {base * 1000:.0f} ms wall, {base_cpu * 1000:.0f} ms CPU; python -c 'import dealercrm': "
          f"{imported * 1000:.0f} ms wall, {imported_cpu * 1000:.0f} ms CPU (medians of {args.runs})")
    print(f"import dealercrm adds {(imported - base) * 1000:.0f} ms wall = {(imported - base) / base:.1f}x an empty "
          f"interpreter's start; {(imported_cpu - base_cpu) * 1000:.0f} ms CPU = "
          f"{(imported_cpu - base_cpu) / base_cpu:.1f}x")
    total, top = importtime()
    print(f"-X importtime, cumulative for dealercrm: {total * 1000:.0f} ms; heaviest: "
          + ", ".join(f"{n} {t * 1000:.0f} ms" for t, n in top))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
