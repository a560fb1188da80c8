"""`jakiro-train`: train an EAGLE or Jakiro draft head (Hydra main, DDP-ready via accelerate)."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from jakiro.draft_head import HeadConfig
from jakiro.features import draft_vocab
from jakiro.losses import LossWeights
from jakiro.pipeline import load_target, set_threads, training_features
from jakiro.training import TrainConfig, train_head

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def run(cfg: DictConfig) -> dict:
    c = OmegaConf.to_container(cfg, resolve=True)
    # Validate every section before loading the model (cheap, clear errors first).
    head_cfg = HeadConfig(**c["head"])
    tc = dict(c["train"])
    tc["loss"] = LossWeights(**tc.get("loss", {}))
    tc["betas"] = tuple(tc.get("betas", (0.9, 0.95)))
    train_cfg = TrainConfig(**tc)
    threads = set_threads(c.get("threads", 0))
    target = load_target(c["model"]["spec"])
    seqs, counts, token_counts = training_features(target, c["data"])
    vocab_ids = draft_vocab(counts, token_counts, c.get("draft_vocab_size", 0))
    out_dir = Path(c["out_dir"])
    meta = {"target_name": target.name, "data": c["data"], "train": c["train"],
            "threads": threads, "num_sequences": len(seqs)}
    summary = train_head(target.model, seqs, head_cfg, vocab_ids, train_cfg, out_dir, meta)
    summary["out_dir"] = str(out_dir)
    print(json.dumps(summary))
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
