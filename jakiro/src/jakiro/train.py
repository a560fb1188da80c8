"""`jakiro-train`: train an EAGLE or Jakiro draft head (Hydra main, DDP-ready via accelerate).

Order matters: the config is validated (typed schema) and checked against the run folder's
recorded config before the target is loaded or any feature is computed.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from jakiro.checkpoint import CheckpointError, latest_checkpoint, verify_checkpoint
from jakiro.config import ConfigError, TrainRun, parse
from jakiro.data import DataError
from jakiro.features import draft_vocab
from jakiro.pipeline import load_target, set_threads, training_features
from jakiro.runs import RunFolderError, prepare_run
from jakiro.training import train_head

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def finished(out_dir: Path, digest: str) -> dict | None:
    """The verified state of a run folder whose last checkpoint is its last step, else None."""
    unit = latest_checkpoint(out_dir / "checkpoints")
    if unit is None:
        return None
    state = verify_checkpoint(unit, digest)
    return state if state["step"] >= state["total"] else None


def run(cfg: DictConfig) -> dict:
    c = OmegaConf.to_container(cfg, resolve=True)
    run_cfg: TrainRun = parse(TrainRun, c)  # unknown keys, types, ranges: before any work
    resolved = dataclasses.asdict(run_cfg)
    out_dir = Path(run_cfg.out_dir)
    from accelerate import Accelerator

    acc = Accelerator(cpu=not torch.cuda.is_available())
    # Every rank checks (and refuses identically); only the main process wipes or records.
    digest = prepare_run(out_dir, resolved, run_cfg.overwrite, write=acc.is_main_process)
    acc.wait_for_everyone()
    done = finished(out_dir, digest)
    if done is not None:
        summary = {"steps": done["step"], "finished": True, "out_dir": str(out_dir),
                   "config_hash": digest, "note": "run already finished with this config"}
        print(json.dumps(summary))
        return summary
    threads = set_threads(run_cfg.threads)
    target = load_target(run_cfg.model.spec)
    seqs, counts, token_counts = training_features(target, resolved["data"])
    vocab_ids = draft_vocab(counts, token_counts, run_cfg.draft_vocab_size)
    meta = {"target_name": target.name, "data": resolved["data"], "train": resolved["train"],
            "threads": threads, "num_sequences": len(seqs), "config_hash": digest,
            "num_tokens": sum(s.input_ids.numel() for s in seqs),
            "num_loss_tokens": int(sum(s.loss_mask.sum() for s in seqs))}
    summary = train_head(target.model, seqs, run_cfg.head, vocab_ids, run_cfg.train, out_dir,
                         meta, accelerator=acc, config_hash=digest)
    summary.update(out_dir=str(out_dir), config_hash=digest)
    print(json.dumps(summary))
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (ConfigError, RunFolderError, CheckpointError, DataError, FileNotFoundError) as e:
        # One clear message, no traceback, non-zero exit.
        print(f"jakiro-train: error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
