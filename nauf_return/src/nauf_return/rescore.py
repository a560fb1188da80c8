"""``python -m nauf_return.rescore``: re-judge stored outputs with any judge, no model needed.

    python -m nauf_return.rescore results/bench_tiny.predictions.jsonl --judge keyspan \
        --out results/bench_tiny.rescored_keyspan.json

Reads a predictions file written by ``bench/run_bench.py``, judges every output again, and
recomputes each method's forget/retain/average scores against the stored M_o outputs (same
formulas and CIs as the benchmark). With the judge that wrote the file, verdicts and scores are
reproduced exactly (a test checks it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nauf_return.errors import ConfigError
from nauf_return.evaluation import SetResult, set_result
from nauf_return.judge import JUDGE_KINDS, build_judge
from nauf_return.predictions import ORIGINAL, group, read_predictions, write_predictions
from nauf_return.templates import load_templates


def rejudge(judge, res: SetResult) -> SetResult:
    recs = res.records
    verdicts = judge([r["question"] for r in recs], [r["gold"] for r in recs],
                     [r["pred"] for r in recs], [r["key"] for r in recs])
    return set_result(res.names, [{**r, "verdict": v} for r, v in zip(recs, verdicts,
                                                                       strict=True)])


def rescore(rows: list[dict], judge, seed: int = 0) -> tuple[dict, list[dict]]:
    """(scores per method, re-judged rows)."""
    from nauf_return.pipeline import compare  # pipeline pulls in torch; keep the CLI light

    grouped = group(rows)
    if ORIGINAL not in grouped:
        raise ConfigError(f"predictions: no rows with method '{ORIGINAL}' (the M_o outputs "
                          "that the scores are relative to)")
    judged = {m: {s: rejudge(judge, res) for s, res in sets.items()}
              for m, sets in grouped.items()}
    scores = {m: compare(judged[ORIGINAL], sets, seed) for m, sets in judged.items()
              if m != ORIGINAL}
    # group() keeps each (method, set)'s rows in file order, so the file order is restored.
    pending = {(m, s): iter([r["verdict"] for r in res.records])
               for m, sets in judged.items() for s, res in sets.items()}
    new_rows = [{**r, "verdict": next(pending[(r["method"], r["set"])])} for r in rows]
    return scores, new_rows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nauf_return.rescore", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("predictions", type=Path)
    p.add_argument("--judge", choices=JUDGE_KINDS, default="keyspan")
    p.add_argument("--templates", nargs="*", default=[], type=Path,
                   help="extra refusal/IDK template files for the refusal detector")
    p.add_argument("--min-coverage", type=float, default=0.5)
    p.add_argument("--threshold", type=float, default=0.75, help="similarity judge threshold")
    p.add_argument("--secondary", choices=["none", "similarity"], default="none")
    p.add_argument("--nli-model", default=None)
    p.add_argument("--seed", type=int, default=None, help="bootstrap seed (default: the file's)")
    p.add_argument("--out", type=Path, default=None, help="scores JSON (default: stdout)")
    p.add_argument("--out-predictions", type=Path, default=None)
    return p


def write_scores(path: Path, out: dict) -> None:
    """Results-schema JSON: best refusal (NAUF-type) method against the best other method."""
    from nauf_return.results import write_result

    avg = {m: s["average_score"] for m, s in out["methods"].items()}
    nauf = {m: v for m, v in avg.items() if "refuse" in m}
    base = {m: v for m, v in avg.items() if "refuse" not in m}
    best_n = max(nauf, key=nauf.get) if nauf else None
    best_b = max(base, key=base.get) if base else None
    extra = {} if best_n and best_b else {"note": "no refusal method or no baseline in the file"}
    write_result(path, metric="average unlearning score x100, re-judged from stored outputs",
                 value=nauf.get(best_n), baseline=f"best baseline ({best_b})",
                 baseline_value=base.get(best_b), config=str(out["predictions"]),
                 seed=int(out["seed"]), command=out["command"], method=best_n, **{
                     k: v for k, v in out.items() if k not in ("command", "seed")}, **extra)


def main(argv: list[str] | None = None) -> dict:
    args = _parser().parse_args(argv)
    try:
        if not 0.0 < args.min_coverage <= 1.0:
            raise ConfigError(f"--min-coverage must be in (0, 1], got {args.min_coverage}")
        rows = read_predictions(args.predictions)
        templates = [t for f in args.templates for t in load_templates(f, "idk")]
        judge = build_judge(args.judge, templates, min_coverage=args.min_coverage,
                            threshold=args.threshold, secondary=args.secondary,
                            model=args.nli_model)
        seed = args.seed if args.seed is not None else int(rows[0]["seed"])
        scores, new_rows = rescore(rows, judge, seed)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    out = {"predictions": str(args.predictions), "judge": vars(args) | {
        "predictions": str(args.predictions), "out": str(args.out),
        "out_predictions": str(args.out_predictions),
        "templates": [str(t) for t in args.templates]}, "command": " ".join(
        ["python -m nauf_return.rescore"] + (argv if argv is not None else sys.argv[1:])),
        "seed": seed, "methods": scores}
    if args.out:
        write_scores(args.out, out)
    else:
        print(json.dumps(out, indent=2, default=float))
    if args.out_predictions:
        write_predictions(args.out_predictions, new_rows)
    return out


if __name__ == "__main__":
    main()
