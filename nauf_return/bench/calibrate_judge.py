"""Judge calibration on hand-labelled real outputs (issue 12).

    python bench/calibrate_judge.py sample results/calibration_run.predictions.jsonl \
        --n 240 --out results/judge_labels.jsonl      # outputs to label, verdicts left out
    python bench/calibrate_judge.py score results/judge_labels.jsonl \
        --out results/judge_calibration              # confusion matrices -> .json + .md

``sample`` draws outputs stratified by method and evaluation set (seeded) and writes them with
``"label": null`` and *without* the judge's verdict, so the labeller does not see it. Labels are
``correct`` / ``wrong`` / ``refusal``, filled in by a person reading question, gold and output.
``score`` compares every judge with the labels: a 3x3 confusion matrix, accuracy, and the two
errors that matter for the scores (a leak counted as forgotten, a refusal counted as correct).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

from nauf_return.errors import ConfigError
from nauf_return.judge import VERDICTS, build_judge
from nauf_return.predictions import read_predictions
from nauf_return.records import atomic_write_text
from nauf_return.results import write_result

JUDGES = {
    "attribute": {"kind": "attribute"},
    "keyspan (gold sentence only)": {"kind": "keyspan", "no_keys": True},
    "keyspan + attribute key": {"kind": "keyspan"},
    "similarity (MiniLM 0.75)": {"kind": "similarity", "no_keys": True},
}


def sample(path: Path, n: int, out: Path, seed: int = 0) -> None:
    rows = read_predictions(path)
    strata: dict[tuple, list[dict]] = {}
    for r in rows:
        strata.setdefault((r["method"], r["set"]), []).append(r)
    rng = random.Random(seed)
    per = -(-n // len(strata))
    picked = []
    for key in sorted(strata):
        picked += rng.sample(strata[key], min(per, len(strata[key])))
    rng.shuffle(picked)
    keep = ("method", "set", "person", "question", "gold", "key", "output")
    atomic_write_text(out, "".join(json.dumps({k: r[k] for k in keep} | {"label": None},
                                              ensure_ascii=False) + "\n" for r in picked[:n]))


def read_labels(path: Path) -> list[dict]:
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        if row.get("label") not in VERDICTS:
            raise ConfigError(f"{path}:{line_no}: label must be one of {VERDICTS}, got "
                              f"{row.get('label')!r}")
        rows.append(row)
    return rows


def confusion(labels: list[str], verdicts: list[str]) -> dict:
    counts = Counter(zip(labels, verdicts, strict=True))
    matrix = {lab: {v: counts[(lab, v)] for v in VERDICTS} for lab in VERDICTS}
    n = len(labels)
    return {"n": n, "accuracy": sum(counts[(v, v)] for v in VERDICTS) / n,
            "matrix_label_to_verdict": matrix,
            "correct_precision": _ratio(counts[("correct", "correct")],
                                        sum(counts[(lab, "correct")] for lab in VERDICTS)),
            "correct_recall": _ratio(counts[("correct", "correct")],
                                     sum(counts[("correct", v)] for v in VERDICTS)),
            "refusal_recall": _ratio(counts[("refusal", "refusal")],
                                     sum(counts[("refusal", v)] for v in VERDICTS)),
            "refusal_scored_correct": counts[("refusal", "correct")],
            "wrong_scored_correct": counts[("wrong", "correct")],
            "correct_scored_not_correct": counts[("correct", "wrong")]
            + counts[("correct", "refusal")]}


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def score(path: Path, out: Path, templates: list[Path]) -> dict:
    from nauf_return.templates import load_templates

    rows = read_labels(path)
    extra = [t for f in templates for t in load_templates(f, "idk")]
    labels = [r["label"] for r in rows]
    report = {"labels": str(path), "label_counts": dict(Counter(labels)), "judges": {},
              "command": "python bench/calibrate_judge.py " + " ".join(sys.argv[1:])}
    for name, spec in JUDGES.items():
        judge = build_judge(spec["kind"], extra)
        keys = [None if spec.get("no_keys") else r["key"] for r in rows]
        if spec["kind"] == "attribute" and any(k is None for k in keys):
            continue
        verdicts = judge([r["question"] for r in rows], [r["gold"] for r in rows],
                         [r["output"] for r in rows], keys)
        report["judges"][name] = confusion(labels, verdicts)
    judges = report["judges"]
    write_result(out.with_suffix(".json"),
                 metric="judge accuracy vs hand labels (key-span judge, gold sentence only)",
                 value=judges["keyspan (gold sentence only)"]["accuracy"],
                 baseline="MiniLM similarity judge (threshold 0.75; the old RETURN judge)",
                 baseline_value=judges["similarity (MiniLM 0.75)"]["accuracy"],
                 config=str(path), seed=0, command=report.pop("command"), **report)
    atomic_write_text(out.with_suffix(".md"), markdown(report))
    return report


def markdown(report: dict) -> str:
    lines = [f"Judge calibration on {report['label_counts']} hand labels ({report['labels']})",
             ""]
    for name, c in report["judges"].items():
        lines += [f"**{name}**: accuracy {c['accuracy']:.3f}; refusals scored correct "
                  f"{c['refusal_scored_correct']}, wrong scored correct "
                  f"{c['wrong_scored_correct']}", "",
                  "| label \\ verdict | " + " | ".join(VERDICTS) + " |",
                  "|---|" + "---|" * len(VERDICTS)]
        lines += [f"| {lab} | " + " | ".join(str(c["matrix_label_to_verdict"][lab][v])
                                             for v in VERDICTS) + " |" for lab in VERDICTS]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("predictions", type=Path)
    s.add_argument("--n", type=int, default=240)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("score")
    c.add_argument("labels", type=Path)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--templates", type=Path, nargs="*", default=[])
    args = p.parse_args()
    try:
        if args.cmd == "sample":
            sample(args.predictions, args.n, args.out, args.seed)
        else:
            print(json.dumps(score(args.labels, args.out, args.templates)["judges"], indent=1))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
