"""The conformance checks accept a minimal valid subproject and reject each deliberate breakage,
so a passing tests/test_conformance.py means something."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import conformance
import pytest
from conftest import PAPERS

NAME = "toyproj"
GOOD_RESULT = {
    "paper": "Toy", "metric": "accuracy", "value": 0.9, "baseline": "chance",
    "baseline_value": 0.1, "config": "experiment=tiny", "seed": 0,
    "hardware": "2-core CPU", "command": "make demo", "date": "2026-11-27",
}
MAKEFILE = """VENV ?= $(if $(wildcard ../.venv/bin/python),../.venv,.venv)
PYTHON ?= $(VENV)/bin/python
.PHONY: setup test demo train eval bench gpu-check
setup:
\tpython3.11 -m venv .venv
test:
\t$(PYTHON) -m pytest tests $(PYTEST_ARGS)
demo:
\t$(PYTHON) -m toyproj.train experiment=tiny
train:
\t$(PYTHON) -m toyproj.train $(ARGS)
eval:
\t$(PYTHON) -m toyproj.eval $(ARGS)
bench:
\t$(PYTHON) bench/run.py
gpu-check:
\t$(PYTHON) bench/gpu_check.py
"""
PYPROJECT = f"""[project]
name = "{NAME}"
version = "0.1.0"
[project.optional-dependencies]
test = ["pytest"]
[project.scripts]
{NAME}-train = "{NAME}.train:main"
{NAME}-eval = "{NAME}.eval:main"
"""
README = """# Toy
## Results
| metric | value |
|---|---|
| accuracy | 0.9 |

Produced by `make demo` (seed 0, 2-core CPU).

## Deviations
None.
"""


def write_valid(root: Path) -> None:
    files = {
        "README.md": README,
        "pyproject.toml": PYPROJECT,
        "requirements.txt": "torch==2.14.1\ntorchvision==0.29.1\n",
        "Makefile": MAKEFILE,
        "configs/experiment/tiny.yaml": "# @package _global_\nepochs: 1\n",
        "configs/experiment/paper.yaml": "# @package _global_\nepochs: 90\n",
        f"src/{NAME}/__init__.py": "",
        f"src/{NAME}/train.py": "import torch\n",
        f"src/{NAME}/eval.py": f"from {NAME} import train\n",
        "tests/test_toy.py": "def test_one():\n    assert 1 + 1 == 2\n",
        "results/demo.json": json.dumps(GOOD_RESULT),
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def edit(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        assert old in path.read_text(), f"fixture text {old!r} not in {rel}"
        path.write_text(path.read_text().replace(old, new))
    return apply


def remove(rel: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        target = root / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return apply


def result_with(**changes: object) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = {k: v for k, v in {**GOOD_RESULT, **changes}.items() if v != "<drop>"}
        (root / "results/demo.json").write_text(json.dumps(data))
    return apply


# Each breakage and a fragment of the problem message it must produce.
BREAKAGES = {
    "no_readme": (remove("README.md"), "missing README.md"),
    "no_results_section": (edit("README.md", "## Results", "## Numbers"), "no '## Results'"),
    "no_deviations": (edit("README.md", "## Deviations", "## Notes"), "no '## Deviations'"),
    "results_without_command": (edit("README.md", "`make demo`", "the demo"), "names no command"),
    "no_requirements": (remove("requirements.txt"), "missing requirements.txt"),
    "unpinned_torch": (edit("requirements.txt", "torch==2.14.1", "torch"), "must pin torch"),
    "no_paper_config": (remove("configs/experiment/paper.yaml"), "paper.yaml"),
    "bad_yaml": (edit("configs/experiment/tiny.yaml", "epochs: 1", "epochs: [1"), "not valid YAML"),
    "no_eval_py": (remove(f"src/{NAME}/eval.py"), "eval.py"),
    "no_tests": (remove("tests"), "tests/test_*.py"),
    "no_test_extra": (edit("pyproject.toml", "test = ", "dev = "), "test extra"),
    "no_eval_script": (edit("pyproject.toml", f"{NAME}-eval", f"{NAME}-evaluate"), "-eval"),
    "wrong_package_name": (edit("pyproject.toml", f'name = "{NAME}"', 'name = "other"'),
                           "[project].name"),
    "no_bench_target": (edit("Makefile", "bench:\n", "benchmark:\n"), "make -n bench"),
    "no_gpu_check_target": (edit("Makefile", "gpu-check:\n", "gpu:\n"), "make -n gpu-check"),
    "sibling_import": (edit(f"src/{NAME}/train.py", "import torch", "import torch\nimport jakiro.tree"),
                       "imports sibling subproject 'jakiro'"),
    "sibling_from_import": (edit(f"src/{NAME}/train.py", "import torch", "from vsc_sam import metric"),
                            "imports sibling subproject 'vsc_sam'"),
    "result_missing_seed": (result_with(seed="<drop>"), "lacks field 'seed'"),
    "result_value_text": (result_with(value="high"), "must be a number"),
    "result_null_no_note": (result_with(baseline_value=None), "without a 'note'"),
    "result_bad_date": (result_with(date="yesterday"), "YYYY-MM-DD"),
    "result_not_json": (edit("results/demo.json", "{", "{{"), "not valid JSON"),
}


@pytest.fixture()
def toy(tmp_path: Path) -> Path:
    root = tmp_path / NAME
    root.mkdir()
    write_valid(root)
    return root


def test_valid_fixture_conforms(toy: Path) -> None:
    assert conformance.all_problems(toy, [*PAPERS, NAME]) == []


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_fixture_is_rejected(toy: Path, breakage: str) -> None:
    apply, expected = BREAKAGES[breakage]
    apply(toy)
    problems = conformance.all_problems(toy, [*PAPERS, NAME])
    assert any(expected in p for p in problems), f"{breakage}: no problem mentions {expected!r}: {problems}"


def test_own_package_import_is_allowed(toy: Path) -> None:
    # eval.py imports toyproj itself; only siblings are forbidden.
    assert conformance.check_imports(toy, [*PAPERS, NAME]) == []


def test_results_subsections_belong_to_results() -> None:
    text = "## Results\n### Headline\nrun `make bench`\n```bash\n## not a heading\n```\n## Deviations\n"
    sections = conformance.readme_sections(text)
    assert set(sections) == {"results", "deviations"}
    assert "`make bench`" in sections["results"]
