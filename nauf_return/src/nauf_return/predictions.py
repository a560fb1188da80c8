"""Stored model outputs: one JSON line per judged answer, beside every results file.

A line holds what is needed to re-judge it without the model (issue 12): method ("original" for
M_o), seed, evaluation set, person, question, gold answer, attribute key (synthetic data), the
model's output and the verdict of the judge that produced the results file.
"""

from __future__ import annotations

import json
from pathlib import Path

from nauf_return.errors import ConfigError
from nauf_return.evaluation import SetResult, set_result
from nauf_return.judge import VERDICTS
from nauf_return.records import atomic_write_text, read_jsonl

ORIGINAL = "original"
FIELDS = ("method", "seed", "set", "person", "question", "gold", "key", "output", "verdict")


def prediction_rows(method: str, seed: int, results: dict[str, SetResult]) -> list[dict]:
    return [{"method": method, "seed": seed, "set": set_name, "person": r["person"],
             "question": r["question"], "gold": r["gold"], "key": r.get("key"),
             "output": r["pred"], "verdict": r["verdict"]}
            for set_name, res in results.items() for r in res.records]


def write_predictions(path: str | Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_predictions(path: str | Path) -> list[dict]:
    """Read and check a predictions file; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"predictions file not found: {path} (bench/run_bench.py writes "
                          "results/<name>.predictions.jsonl)")
    rows = []
    for where, row in read_jsonl(path, "; the file is truncated or corrupted, re-run the "
                                       "benchmark that wrote it"):
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: expected a JSON object with fields {FIELDS}")
        for key in FIELDS:
            if key not in row:
                raise ConfigError(f"{where}: missing field '{key}' (expected {FIELDS})")
        if row["verdict"] not in VERDICTS:
            raise ConfigError(f"{where}: field 'verdict' is {row['verdict']!r}, expected one "
                              f"of {VERDICTS}")
        rows.append(row)
    if not rows:
        raise ConfigError(f"{path}: no predictions")
    return rows


def group(rows: list[dict]) -> dict[str, dict[str, SetResult]]:
    """method -> set -> SetResult, persons in order of first appearance (as evaluated)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for r in rows:
        rec = {"person": r["person"], "question": r["question"], "gold": r["gold"],
               "key": r["key"], "pred": r["output"], "verdict": r["verdict"]}
        out.setdefault(r["method"], {}).setdefault(r["set"], []).append(rec)
    return {m: {s: set_result(list(dict.fromkeys(x["person"] for x in recs)), recs)
                for s, recs in sets.items()} for m, sets in out.items()}
