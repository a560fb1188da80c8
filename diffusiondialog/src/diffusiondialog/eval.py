"""`diffusiondialog-eval`: decode with each checkpoint, metrics side by side, results JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from diffusiondialog.checkpoint import CheckpointError
from diffusiondialog.data import DataError
from diffusiondialog.evaluation import evaluate, write_result
from diffusiondialog.plots import plot_ddim_study
from diffusiondialog.schema import ConfigError

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        result = evaluate(cfg)
    except (ConfigError, CheckpointError, DataError, FileNotFoundError) as err:
        print(f"diffusiondialog-eval: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    path = write_result(result, cfg.eval.output)
    if cfg.eval.plot:
        plot_ddim_study(result, cfg.eval.plot)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
