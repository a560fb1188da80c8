"""Run every implemented subproject's `make test` in its own process, then the monorepo's tests.

Prints one table (subproject, passed, failed, skipped, seconds) and a last line
`N passed, N failed`; exits 1 when anything failed, errored or timed out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / ".test-reports"
# CONTRIBUTING.md: each subproject's tests get 4 minutes on 2 cores.
BUDGET_SECONDS = 240


@dataclass
class Outcome:
    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    note: str = ""


def implemented(papers: list[str]) -> list[str]:
    return [p for p in papers if (ROOT / p / "pyproject.toml").is_file()]


def count_junit(report: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a pytest junit XML; errors count as failures."""
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def run_one(name: str, command: list[str], report: Path, timeout: float) -> Outcome:
    report.unlink(missing_ok=True)
    print(f"\n=== {name}: {' '.join(command)}", flush=True)
    start = time.monotonic()
    try:
        code = subprocess.run(command, cwd=ROOT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        code = None
    outcome = Outcome(name, seconds=time.monotonic() - start)
    if report.is_file():
        outcome.passed, outcome.failed, outcome.skipped = count_junit(report)
    if code is None:
        outcome.failed += 1
        outcome.note = f"timed out after {timeout:.0f} s"
    elif code != 0 and outcome.failed == 0:
        # A crash before or after pytest (missing target, import error at collection) is a failure.
        outcome.failed += 1
        outcome.note = f"exit code {code}"
    elif code == 0 and outcome.passed + outcome.failed + outcome.skipped == 0:
        outcome.failed += 1
        outcome.note = "ran no test"
    if outcome.seconds > BUDGET_SECONDS and not outcome.note:
        outcome.note = f"over the {BUDGET_SECONDS} s budget"
    return outcome


def subproject_command(name: str, report: Path) -> list[str]:
    return [
        "make", "--no-print-directory", "-C", name, "test",
        f"PYTHON={sys.executable}",
        f"PYTEST_ARGS=--junitxml={report} -p no:cacheprovider",
    ]


def monorepo_command(report: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "tests", f"--junitxml={report}", "-p", "no:cacheprovider"]


def print_table(outcomes: list[Outcome], missing: list[str]) -> None:
    header = f"{'subproject':<18}{'passed':>8}{'failed':>8}{'skipped':>9}{'seconds':>10}  note"
    print("\n" + header)
    print("-" * len(header))
    for o in outcomes:
        print(f"{o.name:<18}{o.passed:>8}{o.failed:>8}{o.skipped:>9}{o.seconds:>10.1f}  {o.note}")
    for name in missing:
        print(f"{name:<18}{'-':>8}{'-':>8}{'-':>9}{'-':>10}  not implemented yet")
    print("-" * len(header))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("papers", nargs="+", help="all paper folder names, in display order")
    parser.add_argument("--only", help="run just this paper (no monorepo tests)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per subproject")
    args = parser.parse_args()

    papers = [args.only] if args.only else args.papers
    done = implemented(papers)
    missing = [p for p in papers if p not in done]
    REPORTS.mkdir(exist_ok=True)
    outcomes = []
    for name in done:
        report = REPORTS / f"{name}.xml"
        outcomes.append(run_one(name, subproject_command(name, report), report, args.timeout))
    if not args.only:
        report = REPORTS / "monorepo.xml"
        outcomes.append(run_one("(monorepo)", monorepo_command(report), report, args.timeout))

    print_table(outcomes, missing)
    passed = sum(o.passed for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    skipped = sum(o.skipped for o in outcomes)
    total_seconds = sum(o.seconds for o in outcomes)
    print(f"total time {total_seconds:.0f} s; {len(done)} implemented, {len(missing)} not implemented yet")
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
