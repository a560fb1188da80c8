"""``nauf_return-train``: build M_o (or load it), unlearn with ``method``, save M_u.

Runs single-process, under ``torchrun --nproc_per_node=N -m nauf_return.train`` or under
``accelerate launch -m nauf_return.train`` (DDP; gloo on CPU, NCCL/DeepSpeed on GPU).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from nauf_return import pipeline, runs
from nauf_return.cli import CONFIG_DIR, guarded, set_threads
from nauf_return.schema import check as check_schema
from nauf_return.world import build_world


def parameter_digest(model) -> str:
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        if p.requires_grad:
            h.update(name.encode())
            h.update(p.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


def run_train(cfg: DictConfig) -> Path:
    cfg = check_schema(cfg)  # unknown keys, wrong types, out-of-range values: before any work
    set_threads(int(cfg.threads))
    method = pipeline.validate(cfg)
    accelerator = pipeline.make_accelerator()
    out_dir = Path(str(cfg.output_dir))
    if accelerator.is_main_process:
        runs.prepare(out_dir, cfg)  # refuses a folder made with another config; may wipe
    accelerator.wait_for_everyone()
    digest = runs.prepare(out_dir, cfg, is_main=False)  # every rank: re-check, read the hash
    final = out_dir / method.name / "final"
    if (final / "unlearned.json").is_file():
        accelerator.print(f"finished already (same config, hash {digest[:12]}): {final}")
        return final
    world = build_world(cfg.data)
    mo, tokenizer, bench, info = pipeline.original_model(cfg, world, accelerator, out_dir)
    if accelerator.is_main_process:
        pipeline.write_split_files(bench, out_dir / "splits", cfg)
    torch.manual_seed(int(cfg.seed))
    mu, log = pipeline.unlearn(cfg, method, mo, tokenizer, bench, accelerator, out_dir,
                               lr=cfg.method_lr.get(method.name))
    # Every rank records its weights' digest: DDP must leave them identical.
    final.mkdir(parents=True, exist_ok=True)
    (final / f"digest_rank{accelerator.process_index}.txt").write_text(parameter_digest(mu))
    if accelerator.is_main_process:
        # What was actually trained: the steps and examples of this folder's run, under the
        # config recorded in config.yaml (whose hash is here), never a later invocation's.
        pipeline.save_unlearned(mu, final, {
            "method": method.name, "memorisation": info, "config_hash": digest,
            "optimizer_steps": log[-1]["step"], "examples_seen": log[-1]["examples_seen"],
            "lr": float(cfg.method_lr.get(method.name, cfg.trainer.lr)),
            "config": OmegaConf.to_container(cfg, resolve=True)})
    accelerator.wait_for_everyone()
    accelerator.print(f"saved unlearned model to {final}")
    return final


@hydra.main(config_path=CONFIG_DIR, config_name="train", version_base=None)
def _hydra_main(cfg: DictConfig) -> None:
    guarded(run_train, cfg)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
