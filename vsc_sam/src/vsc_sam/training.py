"""SAM training: data from real training-split pairs plus synthesised matrices, the paper's
loss and augmentations, accelerate for single-process or DDP (torchrun / accelerate launch),
JSON-lines metrics, safetensors checkpoints and resume."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vsc_sam.benchmark import Benchmark
from vsc_sam.checkpoint import load_checkpoint, read_state, save_checkpoint
from vsc_sam.localization.heatmap import copy_line_target
from vsc_sam.localization.sam_net import SAMUNet, soft_cross_entropy_sum
from vsc_sam.localization.training_data import (
    SynthesisConfig,
    augment,
    pad_to_canvas,
    synthesized_sample,
)
from vsc_sam.retrieval import top_refs_by_max_similarity


@dataclass
class TrainConfig:
    canvas: int = 64
    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 5e-5
    n_synthetic: int = 2000
    checkpoint_every: int = 100
    seed: int = 0
    log_every: int = 10


def real_pair_samples(
    bench: Benchmark,
    desc: dict[str, np.ndarray],
    negatives_per_query: int,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """GT pairs with their heat-map targets, plus the most similar non-GT refs of each query
    (hard negatives, all-zero targets), from a split with known ground truth."""
    by_pair: dict[tuple[str, str], list] = {}
    for m in bench.ground_truth:
        by_pair.setdefault(m.pair_id, []).append(
            (m.query_start, m.query_end, m.ref_start, m.ref_end)
        )
    samples = [(desc[q] @ desc[r].T, None, segs) for (q, r), segs in by_pair.items()]
    refs = list(bench.refs)
    for q in bench.queries:
        others = [r for r in refs if (q, r) not in by_pair]
        for r in top_refs_by_max_similarity(desc, q, others, negatives_per_query):
            samples.append((desc[q] @ desc[r].T, None, []))
    rng.shuffle(samples)
    return [(sim.astype(np.float32), copy_line_target(sim.shape, segs)) for sim, _, segs in samples]


class MatrixDataset(torch.utils.data.Dataset):
    """Real and synthesised (matrix, target) pairs; augmentation is seeded per (epoch, index)."""

    def __init__(self, samples, canvas: int, seed: int):
        self.samples, self.canvas, self.seed, self.epoch = samples, canvas, seed, 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sim, target = augment(*self.samples[index], rng)
        x, t = pad_to_canvas(sim, target, self.canvas)
        return torch.from_numpy(x)[None], torch.from_numpy(t)


def build_samples(cfg: TrainConfig, real: list) -> list:
    rng = np.random.default_rng(cfg.seed)
    synth_cfg = SynthesisConfig(max_size=cfg.canvas)
    return list(real) + [synthesized_sample(rng, synth_cfg) for _ in range(cfg.n_synthetic)]


def train_sam(
    samples: list,
    cfg: TrainConfig,
    model_cfg: dict,
    out_dir: str | Path,
    resume: bool = True,
    cpu: bool | None = None,
) -> dict:
    """Train SAM-lite; returns final stats. Works single-process and under torchrun."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if cfg.canvas % 2 ** model_cfg.get("depth", 3):
        raise ValueError(f"trainer.canvas={cfg.canvas} must be a multiple of 2**model.depth")
    accelerator = Accelerator(cpu=cpu if cpu is not None else not torch.cuda.is_available())
    set_seed(cfg.seed)
    out_dir = Path(out_dir)
    model = SAMUNet(**model_cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if resume and read_state(out_dir) is not None:
        step = load_checkpoint(out_dir, model, optimizer)
    dataset = MatrixDataset(samples, cfg.canvas, cfg.seed)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= cfg.batch_size * accelerator.num_processes,
    )
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    log_path = out_dir / "metrics.jsonl"
    config = {"train": cfg.__dict__, "model": model_cfg}
    bar = tqdm(
        total=cfg.steps, initial=step, desc="train SAM", disable=not accelerator.is_main_process
    )
    loss_value = float("nan")
    while step < cfg.steps:
        dataset.epoch = step  # distinct augmentations each pass, reproducible on resume
        for x, target in loader:
            # Cosine decay computed from the step, so a resumed run follows the same schedule.
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(step / cfg.steps, 1.0)))
            logits = model(x)
            # Sum over pixels (paper), divided by a constant canvas size to keep Adam's lr sane.
            loss = soft_cross_entropy_sum(logits, target) / (cfg.canvas * cfg.canvas)
            optimizer.zero_grad()
            accelerator.backward(loss)
            optimizer.step()
            step += 1
            loss_value = float(loss.detach())
            bar.update(1)
            if accelerator.is_main_process and (step % cfg.log_every == 0 or step == cfg.steps):
                out_dir.mkdir(parents=True, exist_ok=True)
                with log_path.open("a") as handle:
                    handle.write(json.dumps({"step": step, "loss": loss_value}) + "\n")
            if step % cfg.checkpoint_every == 0 or step >= cfg.steps:
                accelerator.wait_for_everyone()
                if accelerator.is_main_process:
                    save_checkpoint(
                        out_dir, accelerator.unwrap_model(model), optimizer, step, config
                    )
            if step >= cfg.steps:
                break
    bar.close()
    checksum = float(
        sum(p.detach().double().sum() for p in accelerator.unwrap_model(model).parameters())
    )
    if accelerator.num_processes > 1:
        print(
            f"rank {accelerator.process_index} world {accelerator.num_processes} "
            f"param_checksum {checksum:.10f}",
            flush=True,
        )
    return {
        "step": step,
        "loss": loss_value,
        "param_checksum": checksum,
        "world_size": accelerator.num_processes,
        "pid": os.getpid(),
    }
