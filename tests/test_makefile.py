"""Top-level Makefile behaviour on bad input and the shape of its targets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PAPERS, ROOT


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("target", ["test-nosuchpaper", "demo-nosuchpaper"])
def test_unknown_name_lists_valid_names_and_exits_2(target: str) -> None:
    run = make(target)
    assert run.returncode == 2
    assert "unknown subproject 'nosuchpaper'" in run.stderr
    for name in PAPERS:
        assert name in run.stderr


def test_setup_without_python311_says_what_is_missing() -> None:
    run = make("setup", "PYTHON311=/nonexistent/python3.11")
    assert run.returncode != 0
    assert "Python 3.11 is missing" in run.stderr
    assert "PYTHON311=" in run.stderr


def test_setup_with_wrong_python_version_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "python3.11"
    fake.write_text("#!/bin/sh\n"
                    "case \"$*\" in *sys.exit*) exit 1;; *platform*) echo 3.9.0;; esac\n")
    fake.chmod(0o755)
    run = make("setup", f"PYTHON311={fake}")
    assert run.returncode != 0
    assert "3.11 is required" in run.stderr


@pytest.mark.parametrize("target", ["setup", "test-all", "demo", "lint", "clean", "readme",
                                    "doctor", "setup-mm", f"test-{PAPERS[0]}", f"demo-{PAPERS[0]}"])
def test_required_targets_exist(target: str) -> None:
    run = make("-n", target)
    assert run.returncode == 0, run.stderr


def test_ci_runs_make_test_all_only() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in script.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[0] == "#!/usr/bin/env bash" or script.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in commands
    assert commands[-1] == "make test-all"


def test_gitignore_covers_venv_and_outputs_but_not_results() -> None:
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", path],
                              timeout=30).returncode == 0

    for path in [".venv/bin/python", "jakiro/.venv/x", "x/__pycache__/a.pyc",
                 "jakiro/outputs/run/model.safetensors", "jakiro/checkpoints/last.pt"]:
        assert ignored(path), path
    assert not ignored("jakiro/results/demo.json")
