"""`make doctor` reports and never crashes, also when assets are missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import doctor
from conftest import PAPERS, ROOT


def test_missing_asset_is_reported_not_raised() -> None:
    def broken() -> Path:
        raise FileNotFoundError("nothing here")

    assert doctor.probe(broken).startswith("MISSING or broken: FileNotFoundError")


def test_present_asset_reports_size_and_time(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"\0" * 2**20)
    assert doctor.probe(lambda: tmp_path).startswith("ok (1.0 MiB, loaded in")


def test_every_paper_has_an_asset_list() -> None:
    assert set(doctor.USES) == set(PAPERS)
    assert {a for uses in doctor.USES.values() for a in uses} <= set(doctor.ASSETS)


def test_doctor_runs_to_the_end() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "doctor.py"), *PAPERS],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "torch threads" in run.stdout and "free disk" in run.stdout
