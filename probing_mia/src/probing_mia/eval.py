"""``probing_mia-eval``: the probe (proxy + per-layer probes, layer chosen on dev) and every
black-box attack on a finished ``probing_mia-train`` run (``target_dir``); writes
``out_dir/results.json``, raw scores and the ROC plot."""

from __future__ import annotations

import json

from omegaconf import DictConfig

from probing_mia import pipeline, run_folder
from probing_mia.cli import hydra_main, typed


def run(raw: DictConfig) -> dict:
    cfg = typed(raw)
    out = run_folder.prepare(cfg)
    done = out / "results.json"
    if done.is_file():  # same config, finished: report it instead of recomputing
        results = json.loads(done.read_text())
    else:
        results = pipeline.evaluate(cfg, out)
    methods = results["methods"]
    print(json.dumps({name: round(m["test"]["auc"]["value"], 4) for name, m in methods.items()}))
    return results


main = hydra_main("eval", run)

if __name__ == "__main__":
    main()
