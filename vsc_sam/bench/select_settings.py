"""Choose TN and SAM-lite settings on a VALIDATION eval run by one rule, and write the choice.

Usage: python bench/select_settings.py runs/val/eval/result.json results/search_val.json

The input is the self-recording ``result.json`` of a ``vsc_sam-eval`` run on a validation split
that scored the candidates side by side on the same matrices: TN variants (``eval.tn_grid``,
localisers ``tn`` / ``tn_grid<i>``) and SAM-lite checkpoints (``sam`` / ``sam_<label>``).
Rule, the same for both families (the rule SAM-lite's settings were chosen by): the candidate with
the highest mean segment µAP over the run's descriptors; ties go to the first candidate. The output
records every candidate's scores, the choice, the input's config hash and command, and this
command, so the table is a command's output and not assembled by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from vsc_sam.eval import write_json
from vsc_sam.run_folder import command_line, provenance


def family_of(name: str) -> str | None:
    if name == "tn" or name.startswith("tn_grid"):
        return "tn"
    if name == "sam" or (name.startswith("sam_") and name != "sam_post"):
        return "sam"
    return None


def candidates(result: dict) -> dict[str, dict[str, dict]]:
    """{family: {localiser: {"per_descriptor": {kind: µAP}, "mean": µAP}}} in the run's order."""
    kinds = list(result["descriptors"])
    names = list(result["descriptors"][kinds[0]]["localisers"])
    out: dict[str, dict[str, dict]] = {"tn": {}, "sam": {}}
    for name in names:
        family = family_of(name)
        if family is None:
            continue
        per = {k: result["descriptors"][k]["localisers"][name]["segment_micro_ap"] for k in kinds}
        out[family][name] = {"per_descriptor": per, "mean": sum(per.values()) / len(per)}
    return out


def select(table: dict[str, dict]) -> str:
    best = max(table.values(), key=lambda row: row["mean"])["mean"]
    return next(name for name, row in table.items() if row["mean"] == best)


def settings_of(name: str, result: dict) -> dict:
    """What a candidate is: TN parameters or the SAM checkpoint folder (and its fingerprint)."""
    config = result["config"]
    if name == "tn":
        return config["tn"]
    if name.startswith("tn_grid"):
        return result["tn_grid"][name]
    folder = (
        config["eval"]["checkpoint"] if name == "sam" else config["eval"]["extra_sam"][name[4:]]
    )
    return {"checkpoint": folder, "fingerprint": result["input_checkpoints"].get(name)}


def payload(result: dict, source: Path) -> dict:
    table = candidates(result)
    missing = [family for family, rows in table.items() if not rows]
    if missing:
        raise SystemExit(f"{source}: no {' / '.join(missing)} candidates among the localisers")
    chosen = {family: select(rows) for family, rows in table.items()}
    sam, tn = table["sam"][chosen["sam"]], table["tn"][chosen["tn"]]
    record = provenance({"input": str(source)}, ())
    return {
        "paper": result["paper"],
        "metric": "validation segment µAP, mean over descriptors "
        f"{list(result['descriptors'])}, of the chosen SAM-lite candidate {chosen['sam']}",
        "value": sam["mean"],
        "baseline": f"the chosen TN candidate {chosen['tn']}, same rule, same matrices",
        "baseline_value": tn["mean"],
        "rule": "highest mean segment µAP over the descriptors; ties: first candidate",
        "chosen": {
            f: {"localiser": n, "settings": settings_of(n, result)} for f, n in chosen.items()
        },
        "candidates": table,
        "validation_split": result["benchmark"]["test"],
        "input": {
            "path": str(source),
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "config_hash": result["config_hash"],
            "command": result["command"],
        },
        "seed": result["seed"],
        **{k: record[k] for k in ("command", "code_version", "date", "hardware")},
        "config": {"rule": "max mean µAP", "input_config": result["config"]},
        "headline": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path, help="result.json of a validation eval run")
    parser.add_argument("output", type=Path)
    parser.add_argument(
        "--print-tn-overrides",
        action="store_true",
        help="only print tn.<field>=<value> of the choice",
    )
    args = parser.parse_args()
    result = json.loads(args.result.read_text())
    if args.print_tn_overrides:
        tn = settings_of(select(candidates(result)["tn"]), result)
        print(" ".join(f"tn.{k}={v}" for k, v in tn.items()))
        return
    out = payload(result, args.result)
    write_json(args.output, out)
    print(f"{command_line()}\nchosen: {json.dumps(out['chosen'])}")
    for family, rows in out["candidates"].items():
        for name, row in rows.items():
            print(f"{family} {name}: mean {row['mean']:.4f} {row['per_descriptor']}")


if __name__ == "__main__":
    main()
