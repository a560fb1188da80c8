"""Checks that one subproject folder follows CONTRIBUTING.md.

Every check takes the subproject directory and returns a list of problems (empty = conforms), so
the same code runs on the real subprojects and on the deliberately broken fixtures in tests/.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

MAKE_TARGETS = ("setup", "test", "demo", "train", "eval", "bench", "gpu-check")
RESULT_FIELDS = (
    "paper", "metric", "value", "baseline", "baseline_value",
    "config", "seed", "hardware", "command", "date",
)
SKIP_DIRS = {".venv", "__pycache__", ".pytest_cache", "outputs", "multirun", "node_modules"}
# A line that shows how a number was produced: a make target, a console script or python.
COMMAND_PATTERN = re.compile(r"`[^`]*\b(make|python|torchrun|accelerate|[a-z_]+-(train|eval|bench))\b[^`]*`")


def required_files(name: str) -> tuple[str, ...]:
    return (
        "README.md", "pyproject.toml", "requirements.txt", "Makefile",
        "configs/experiment/tiny.yaml", "configs/experiment/paper.yaml",
        f"src/{name}/__init__.py", f"src/{name}/train.py", f"src/{name}/eval.py",
    )


def check_files(root: Path) -> list[str]:
    name = root.name
    problems = [f"missing {rel}" for rel in required_files(name) if not (root / rel).is_file()]
    if not any((root / "tests").glob("test_*.py")):
        problems.append("missing tests/test_*.py")
    return problems


def readme_sections(text: str) -> dict[str, str]:
    """Level-2 markdown heading (lower-cased) -> everything under it, its ### subsections included.
    Lines inside ``` fences are never headings (shell comments start with # too)."""
    sections: dict[str, str] = {}
    current = None
    in_fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        heading = None if in_fence else re.match(r"^##(?!#)\s+(.*?)\s*$", line)
        if heading:
            current = heading.group(1).lower()
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def check_readme(root: Path) -> list[str]:
    path = root / "README.md"
    if not path.is_file():
        return ["missing README.md"]
    sections = readme_sections(path.read_text(encoding="utf-8"))
    problems = []
    results = next((body for title, body in sections.items() if title.startswith("results")), None)
    if results is None:
        problems.append("README.md has no '## Results' section")
    elif not (COMMAND_PATTERN.search(results) or "```" in results):
        problems.append("README.md '## Results' names no command that produced its numbers")
    if not any(title.startswith("deviations") for title in sections):
        problems.append("README.md has no '## Deviations' section")
    return problems


def check_pyproject(root: Path) -> list[str]:
    name = root.name
    path = root / "pyproject.toml"
    if not path.is_file():
        return ["missing pyproject.toml"]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        return [f"pyproject.toml is not valid TOML: {err}"]
    project = data.get("project", {})
    problems = []
    if project.get("name", "").replace("-", "_").lower() != name:
        problems.append(f"pyproject.toml [project].name is {project.get('name')!r}, expected {name!r}")
    if "test" not in project.get("optional-dependencies", {}):
        problems.append("pyproject.toml has no [project.optional-dependencies] test extra")
    scripts = project.get("scripts", {})
    for script in (f"{name}-train", f"{name}-eval"):
        if script not in scripts:
            problems.append(f"pyproject.toml has no console script {script!r}")
    return problems


def check_requirements(root: Path) -> list[str]:
    path = root / "requirements.txt"
    if not path.is_file():
        return ["missing requirements.txt"]
    pins = {line.split("==")[0].strip().lower(): line.strip()
            for line in path.read_text().splitlines() if "==" in line and not line.startswith("#")}
    return [f"requirements.txt must pin {pin}" for pin in ("torch==2.14.1", "torchvision==0.29.1")
            if pins.get(pin.split("==")[0]) != pin]


def check_configs(root: Path) -> list[str]:
    problems = []
    for rel in ("configs/experiment/tiny.yaml", "configs/experiment/paper.yaml"):
        path = root / rel
        if not path.is_file():
            continue
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            problems.append(f"{rel} is not valid YAML: {err}")
    return problems


def check_make_targets(root: Path) -> list[str]:
    if not (root / "Makefile").is_file():
        return ["missing Makefile"]
    problems = []
    for target in MAKE_TARGETS:
        run = subprocess.run(["make", "-n", "-C", str(root), target],
                             capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["?"])[-1]
            problems.append(f"`make -n {target}` fails: {last}")
        elif "Nothing to be done" in run.stdout:
            # A .PHONY name without a rule: make -n succeeds but the target does nothing.
            problems.append(f"`make -n {target}` has no recipe")
    return problems


def python_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if not SKIP_DIRS.intersection(p.relative_to(root).parts)]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def check_imports(root: Path, papers: list[str]) -> list[str]:
    siblings = set(papers) - {root.name}
    problems = []
    for path in python_files(root):
        try:
            found = imported_modules(path) & siblings
        except SyntaxError as err:
            problems.append(f"{path.relative_to(root)}: syntax error: {err}")
            continue
        problems += [f"{path.relative_to(root)} imports sibling subproject {mod!r}"
                     for mod in sorted(found)]
    return problems


def check_result_file(path: Path) -> list[str]:
    rel = f"results/{path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        return [f"{rel} is not valid JSON: {err}"]
    if not isinstance(data, dict):
        return [f"{rel} must hold one JSON object"]
    problems = [f"{rel} lacks field {field!r}" for field in RESULT_FIELDS if field not in data]
    for field in ("value", "baseline_value"):
        value = data.get(field)
        if field in data and value is not None and not isinstance(value, (int, float)):
            problems.append(f"{rel} field {field!r} must be a number or null, got {value!r}")
        if field in data and value is None and "note" not in data:
            problems.append(f"{rel} field {field!r} is null without a 'note' saying why")
    if "date" in data and not re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", str(data["date"])):
        problems.append(f"{rel} field 'date' must start with YYYY-MM-DD, got {data['date']!r}")
    if "command" in data and not str(data["command"]).strip():
        problems.append(f"{rel} field 'command' is empty")
    return problems


def check_results(root: Path) -> list[str]:
    return [problem for path in sorted((root / "results").glob("*.json"))
            for problem in check_result_file(path)]


def all_problems(root: Path, papers: list[str]) -> list[str]:
    return (check_files(root) + check_readme(root) + check_pyproject(root)
            + check_requirements(root) + check_configs(root) + check_make_targets(root)
            + check_imports(root, papers) + check_results(root))


def papers_from_makefile(repo: Path) -> list[str]:
    """The ten folder names, read from the top-level Makefile's PAPERS line (one source of truth)."""
    for line in (repo / "Makefile").read_text().splitlines():
        if line.startswith("PAPERS :="):
            return line.split(":=", 1)[1].split()
    raise ValueError(f"{repo / 'Makefile'} has no 'PAPERS :=' line")
