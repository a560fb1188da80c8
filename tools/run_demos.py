"""Run every implemented subproject's `make demo` and print one table of their results/demo.json."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("paper", "metric", "value", "baseline", "baseline value", "seconds")


def fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def run_demo(name: str) -> tuple[list[str], bool]:
    """One table row for `name` and whether its demo succeeded with a fresh results/demo.json."""
    result_file = ROOT / name / "results" / "demo.json"
    print(f"\n=== {name}: make demo", flush=True)
    start = time.time()
    code = subprocess.run(
        ["make", "--no-print-directory", "-C", name, "demo", f"PYTHON={sys.executable}"], cwd=ROOT
    ).returncode
    seconds = f"{time.time() - start:.0f}"
    if code != 0:
        return [name, f"demo failed (exit {code})", "-", "-", "-", seconds], False
    if not result_file.is_file() or result_file.stat().st_mtime < start:
        return [name, "demo wrote no fresh results/demo.json", "-", "-", "-", seconds], False
    try:
        result = json.loads(result_file.read_text())
    except json.JSONDecodeError as err:
        return [name, f"results/demo.json is not JSON: {err}", "-", "-", "-", seconds], False
    row = [str(result.get("paper", name)), str(result.get("metric", "?")), fmt(result.get("value")),
           str(result.get("baseline", "?")), fmt(result.get("baseline_value")), seconds]
    return row, True


def print_table(rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [list(COLUMNS), *rows]) for i in range(len(COLUMNS))]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))

    print("\n" + line(COLUMNS))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("papers", nargs="+")
    parser.add_argument("--only")
    args = parser.parse_args()
    papers = [args.only] if args.only else args.papers
    done = [p for p in papers if (ROOT / p / "pyproject.toml").is_file()]
    missing = [p for p in papers if p not in done]
    if not done:
        print("no subproject is implemented yet: nothing to demo "
              f"(not implemented yet: {', '.join(missing)})")
        return 0
    rows, ok = [], True
    for name in done:
        row, success = run_demo(name)
        rows.append(row)
        ok &= success
    rows += [[name, "not implemented yet", "-", "-", "-", "-"] for name in missing]
    print_table(rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
