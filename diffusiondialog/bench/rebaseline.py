"""Re-derive a results JSON's headline fields from its stored rows (no re-decoding).

Issue 21: the committed headline compared DiffusionDialog with beam-search BART only. This
applies `evaluation.headline_fields` (strongest same-run baseline, every baseline compared) to
the rows already in the file and keeps the old fields under `rebaselined.previous`, so the
change is auditable. Usage: python bench/rebaseline.py results/bench.json [--top-p 0.9]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from diffusiondialog.evaluation import headline_fields, write_result


def rebaseline(path: Path, top_p: float) -> dict:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path}: not valid JSON ({err}); regenerate it with its `command`") \
            from None
    if not isinstance(result.get("rows"), dict):
        raise SystemExit(f"{path}: expected a 'rows' object of decoded rows")
    head = headline_fields(result["rows"], top_p)
    previous = {k: result.get(k) for k in ("metric", "baseline", "baseline_value", "targets")}
    result.update({k: v for k, v in head.items() if k != "targets"})
    result["targets"] = head.get("targets")
    result["rebaselined"] = {
        "command": "python bench/rebaseline.py " + " ".join(sys.argv[1:]),
        "date": datetime.date.today().isoformat(), "nucleus_top_p": top_p,
        "previous": result.get("rebaselined", {}).get("previous", previous),
    }
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--top-p", type=float, default=0.9, help="eval.decode.top_p of those runs")
    args = ap.parse_args()
    for path in args.paths:
        result = rebaseline(path, args.top_p)
        write_result(result, path)
        print(f"{path}: {result['baseline']} = {result['baseline_value']:.4g}; "
              f"dominated_by {result['targets']['dominated_by']}")


if __name__ == "__main__":
    main()
