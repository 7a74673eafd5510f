"""How long `import keel` takes in a fresh interpreter, and what it drags in.

    python benchmarks/import_time.py [--runs 15] [--importtime-runs 5] [--top 15]

* `import keel` alone: timed inside a fresh subprocess around the import statement
  (interpreter start-up excluded), median of `--runs` runs after one untimed run;
* whole process: `python -c "import keel"` against `python -c "pass"`, wall clock;
* sys.modules after `import keel`: no llama.cpp binding and no provider SDK may be
  loaded (exit status 1 if one is); lazily loaded dependencies are listed for information;
* `python -X importtime -c "import keel"`: the modules with the largest cumulative import
  time (median over `--importtime-runs` runs; -X importtime itself adds some overhead),
  then the same runs' self time summed by top-level package.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict

from _common import first_paragraph, machine_line, print_table

TARGET_MS = 150.0
TIMED_IMPORT = "import time; t = time.perf_counter(); import keel; print(time.perf_counter() - t)"
FORBIDDEN = (
    "xllamacpp",
    "llama_cpp",
    "openai",
    "anthropic",
    "google.genai",
    "google.generativeai",
    "mistralai",
    "cohere",
    "groq",
    "boto3",
    "litellm",
    "ollama",
    "httpx",
    "httpx2",
    "requests",
    "aiohttp",
    "huggingface_hub",
    "torch",
)
LAZY = ("opentelemetry", "docstring_parser", "typer", "rich", "click", "sqlite3", "asyncio")
MODULES = (
    "import json, sys, keel\n"
    "names = {n.split('.')[0] for n in sys.modules} | set(sys.modules)\n"
    "print(json.dumps(sorted(names)))"
)


def python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True)


def import_ms(runs: int) -> list[float]:
    """`import keel` timed inside each fresh subprocess, in ms."""
    python("-c", TIMED_IMPORT)  # untimed: writes any missing .pyc files
    return [float(python("-c", TIMED_IMPORT).stdout) * 1000 for _ in range(runs)]


def process_ms(code: str, runs: int) -> list[float]:
    """Wall time of whole `python -c code` processes, in ms."""
    python("-c", code)
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        python("-c", code)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def loaded_after_import() -> set[str]:
    """Module names (and their top-level packages) in sys.modules after `import keel`."""
    return set(json.loads(python("-c", MODULES).stdout))


def importtime_rows(runs: int) -> dict[str, tuple[float, float]]:
    """Module -> (median self ms, median cumulative ms) from `-X importtime`.

    Keys keep -X importtime's indentation (two spaces per level of nesting): a module
    can be listed twice at different depths, for the parent-package import around it.
    """
    samples: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for _ in range(runs):
        for line in python("-X", "importtime", "-c", "import keel").stderr.splitlines():
            parts = line.removeprefix("import time:").split("|")
            if len(parts) != 3 or not parts[0].strip().isdigit():
                continue  # the header line
            samples[parts[2].rstrip()[1:]].append((int(parts[0]), int(parts[1])))
    return {
        module: (
            statistics.median(s for s, _ in pairs) / 1000,
            statistics.median(c for _, c in pairs) / 1000,
        )
        for module, pairs in samples.items()
    }


def timing_row(what: str, samples: list[float], target: float | None = None) -> list[str]:
    median = statistics.median(samples)
    cells = [what, f"{median:.1f}", f"{min(samples):.1f}", f"{max(samples):.1f}"]
    if target is None:
        return [*cells, "", ""]
    return [*cells, f"<= {target:.0f}", "ok" if median <= target else "MISSED"]


def print_timing(imports: list[float], keel: list[float], bare: list[float]) -> None:
    rows = [
        timing_row("import keel (in-process timer)", imports, TARGET_MS),
        timing_row('python -c "import keel" (whole process)', keel),
        timing_row('python -c "pass" (whole process)', bare),
    ]
    print_table(["what", "median ms", "min ms", "max ms", "target", ""], rows)


def print_modules(loaded: set[str]) -> bool:
    """Print what is and is not loaded; True if no forbidden module is loaded."""
    bad = [m for m in FORBIDDEN if m in loaded]
    print(f"provider SDKs / llama.cpp loaded by `import keel`: {', '.join(bad) or 'none'}")
    print(f"  (checked: {', '.join(FORBIDDEN)})")
    lazy = [f"{m} {'LOADED' if m in loaded else 'not loaded'}" for m in LAZY]
    print(f"other dependencies: {'; '.join(lazy)}")
    return not bad


def print_importtime(rows: dict[str, tuple[float, float]], top: int) -> None:
    ranked = sorted(rows.items(), key=lambda item: item[1][1], reverse=True)[:top]
    table = [[module, f"{c:.1f}", f"{s:.1f}"] for module, (s, c) in ranked]
    print_table(["module (indent = import depth)", "cumulative ms", "self ms"], table)


def print_packages(rows: dict[str, tuple[float, float]], top: int) -> None:
    """Self time summed by top-level package: whose code the import time is spent in."""
    by_package: dict[str, list[float]] = defaultdict(list)
    for module, (self_ms, _) in rows.items():
        by_package[module.strip().split(".")[0]].append(self_ms)
    ranked = sorted(by_package.items(), key=lambda item: sum(item[1]), reverse=True)[:top]
    table = [[name, f"{sum(ms):.1f}", str(len(ms))] for name, ms in ranked]
    print_table(["top-level package", "self ms (sum)", "modules"], table)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--runs", type=int, default=15, help="fresh subprocesses to time")
    parser.add_argument("--importtime-runs", type=int, default=5, help="-X importtime runs")
    parser.add_argument("--top", type=int, default=15, help="modules to list")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    imports = import_ms(args.runs)
    keel, bare = process_ms("import keel", args.runs), process_ms("pass", args.runs)
    print(f"{machine_line()}; {args.runs} fresh subprocesses each\n")
    print_timing(imports, keel, bare)
    print()
    clean = print_modules(loaded_after_import())
    print(f"\nTop {args.top} by cumulative time, python -X importtime -c 'import keel' ", end="")
    print(f"(median of {args.importtime_runs} runs):\n")
    rows = importtime_rows(args.importtime_runs)
    print_importtime(rows, args.top)
    print("\nThe same runs, self time summed by top-level package:\n")
    print_packages(rows, args.top)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
