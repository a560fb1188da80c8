"""`kangaroo-train`: train the adapter of a target at exit layer l (Hydra main; torchrun-ready).

    kangaroo-train experiment=tiny
    torchrun --nproc_per_node=2 -m kangaroo.train experiment=tiny   # gloo on CPU, nccl on GPU
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import hydra
import torch
import torch.distributed as dist
from omegaconf import DictConfig

from kangaroo.adapter import AdapterSpec, expected_parameters, init_adapter
from kangaroo.assets import check_exit_layer, load_target
from kangaroo.pipeline import resolved, run_main, set_threads, training_samples
from kangaroo.run_folder import config_hash, open_run_folder
from kangaroo.schema import TRAIN_KEYS, Root
from kangaroo.training import target_features, train_adapter

CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "configs")


def run(cfg: DictConfig) -> dict:
    full, c = resolved(cfg, Root)
    plain = {k: full[k] for k in TRAIN_KEYS}  # what the run folder records and compares
    out_dir = Path(c.out_dir)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank == 0:
        open_run_folder(out_dir, plain, c.overwrite)  # refuses a changed config before work
    if world > 1:
        dist.barrier()
    summary_file = out_dir / "summary.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
        print(json.dumps({"status": "finished earlier", **summary}))
        return summary
    threads = set_threads(c.threads)
    target = load_target(c.model.spec, c.model.dtype)
    check_exit_layer(c.model.exit_layer, target.model)
    target.model.float()  # features in fp32; the adapter trains in fp32
    samples = training_samples(target, c.data)
    data = target_features(target.model, samples, c.model.exit_layer)
    spec = AdapterSpec.for_target(target.model, target.name, c.model.exit_layer,
                                  c.adapter.num_attention_heads, c.adapter.num_key_value_heads)
    adapter = init_adapter(spec, target.model, c.train.seed)
    params = sum(p.numel() for p in adapter.parameters())
    target_params = sum(p.numel() for p in target.model.parameters())
    meta = {"target": target.name, "exit_layer": c.model.exit_layer, "threads": threads,
            "adapter_parameters": params, "expected_parameters": expected_parameters(spec),
            "target_parameters": target_params,
            "adapter_fraction": round(params / target_params, 5),
            "sequences": len(data), "assistant_tokens": int(sum(int(f.mask.sum()) for f in data))}
    summary = train_adapter(adapter, target.model.head_weight, data, c.train, out_dir,
                            config_hash(plain), meta)
    if rank == 0:
        print(json.dumps(summary))
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _main(cfg: DictConfig) -> None:
    run_main("kangaroo-train", lambda: run(cfg))


def main() -> None:
    _main()


if __name__ == "__main__":
    main()
