"""Run every benchmark (bench/bench_*.py) and collect their one-line summaries.

``python bench/run_all.py [--quick] [NAME ...]``: each script runs in its own process and writes
bench/results/<name>.json; the summaries are gathered in bench/results/summary.txt.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. log local_model")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
    failures = 0
    summaries = []
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script), *(["--quick"] if args.quick else [])], check=False)
        if proc.returncode != 0:
            failures += 1
            summaries.append(f"{name}: FAILED (exit {proc.returncode})")
            continue
        result = HERE / "results" / f"{name}.json"
        if result.exists():
            summaries.append(json.loads(result.read_text())["summary"])
        print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "summary.txt").write_text("\n".join(summaries) + "\n")
    print("\n".join(["", "== summary", *summaries]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
