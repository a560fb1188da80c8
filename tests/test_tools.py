"""The test runner's accounting and the README table generator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import readme_table
import run_tests
from conftest import PAPERS, ROOT

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1"
failures="2" skipped="3" tests="10" time="1.0"></testsuite></testsuites>"""


def test_junit_counts_errors_as_failures(tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text(JUNIT)
    assert run_tests.count_junit(report) == (4, 3, 3)


def test_crash_without_report_counts_as_failure(tmp_path: Path) -> None:
    outcome = run_tests.run_one("x", [sys.executable, "-c", "raise SystemExit(3)"],
                                tmp_path / "none.xml", timeout=30)
    assert outcome.failed == 1 and outcome.note == "exit code 3"


def test_run_with_no_test_counts_as_failure(tmp_path: Path) -> None:
    outcome = run_tests.run_one("x", [sys.executable, "-c", "pass"], tmp_path / "none.xml", 30)
    assert outcome.failed == 1 and outcome.note == "ran no test"


def test_timeout_counts_as_failure(tmp_path: Path) -> None:
    outcome = run_tests.run_one("x", [sys.executable, "-c", "import time; time.sleep(5)"],
                                tmp_path / "none.xml", timeout=0.5)
    assert outcome.failed == 1 and "timed out" in outcome.note


def test_every_paper_has_title_and_arxiv_id() -> None:
    assert set(readme_table.PAPER_INFO) == set(PAPERS)


def test_readme_table_is_up_to_date() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_table.py"),
                          str(ROOT / "README.md"), *PAPERS, "--check"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_headline_prefers_flagged_result(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "demo.json").write_text(json.dumps({"metric": "demo"}))
    assert readme_table.headline(tmp_path)["metric"] == "demo"
    (tmp_path / "results" / "bench.json").write_text(json.dumps({"metric": "b", "headline": True}))
    assert readme_table.headline(tmp_path)["metric"] == "b"
