"""SAM training: data from real training-split pairs plus synthesised matrices, the paper's
loss and augmentations, accelerate for single-process or DDP (torchrun / accelerate launch),
JSON-lines metrics, safetensors checkpoints and resume."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vsc_sam.benchmark import Benchmark
from vsc_sam.checkpoint import atomic_text, load_checkpoint, read_state, save_checkpoint
from vsc_sam.localization.heatmap import copy_line_target
from vsc_sam.localization.sam_net import SAMUNet, soft_cross_entropy_sum
from vsc_sam.localization.training_data import (
    SynthesisConfig,
    augment,
    pad_to_canvas,
    synthesized_sample,
)
from vsc_sam.retrieval import top_refs_by_max_similarity
from vsc_sam.schema import bounded


@dataclass
class TrainConfig:
    canvas: int = bounded(64, low=8)
    steps: int = bounded(300, low=1)
    batch_size: int = bounded(16, low=1)
    lr: float = bounded(1e-3, above=0.0)
    weight_decay: float = bounded(5e-5, low=0.0)
    n_synthetic: int = bounded(2000, low=0)
    checkpoint_every: int = bounded(100, low=1)
    seed: int = 0
    log_every: int = bounded(10, low=1)


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


class MatrixDataset:
    """Real and synthesised (matrix, target) pairs; sample ``(epoch, index)`` is augmented with a
    generator seeded by (seed, epoch, index), so a batch is a pure function of the step."""

    def __init__(self, samples, canvas: int, seed: int):
        self.samples, self.canvas, self.seed = samples, canvas, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        sim, target = augment(*self.samples[index], rng)
        x, t = pad_to_canvas(sim, target, self.canvas)
        return torch.from_numpy(x)[None], torch.from_numpy(t)


def batch_keys(n: int, batch_size: int, seed: int, step: int, rank: int = 0, world: int = 1):
    """The (epoch, index) keys of the batch of global ``step`` on ``rank``: epochs are seeded
    permutations of the samples, cut into consecutive batches (rank r of w takes every w-th).
    Being a function of the step alone, a resumed run sees exactly the batches it would have."""
    per_epoch = max(n // batch_size, 1)
    epoch, k = divmod(step * world + rank, per_epoch)
    order = np.random.default_rng([seed, epoch, 7]).permutation(n)
    order = np.resize(order, max(n, batch_size))  # fewer samples than a batch: wrap around
    return [(epoch, int(i)) for i in order[k * batch_size : (k + 1) * batch_size]]


def build_samples(cfg: TrainConfig, real: list) -> list:
    rng = np.random.default_rng(cfg.seed)
    synth_cfg = SynthesisConfig(max_size=cfg.canvas)
    return list(real) + [synthesized_sample(rng, synth_cfg) for _ in range(cfg.n_synthetic)]


def _trim_log(path: Path, step: int) -> None:
    """Keep only log lines up to ``step`` (a killed run may have logged past its checkpoint)."""
    if not path.is_file():
        return
    lines = [ln for ln in path.read_text().splitlines() if json.loads(ln)["step"] <= step]
    atomic_text(path, "".join(ln + "\n" for ln in lines))


def train_sam(
    samples: list,
    cfg: TrainConfig,
    model_cfg: dict,
    out_dir: str | Path,
    cpu: bool | None = None,
) -> dict:
    """Train SAM-lite, resuming from the verified checkpoint unit in ``out_dir`` if there is one
    (a torn unit raises); returns final stats. Works single-process and under torchrun."""
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
    if read_state(out_dir) is not None:
        step = load_checkpoint(out_dir, model, optimizer)
    log_path = out_dir / "metrics.jsonl"
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        _trim_log(log_path, step)
    model, optimizer = accelerator.prepare(model, optimizer)
    dataset = MatrixDataset(samples, cfg.canvas, cfg.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    config = {"train": asdict(cfg), "model": model_cfg}
    bar = tqdm(
        total=cfg.steps, initial=step, desc="train SAM", disable=not accelerator.is_main_process
    )
    loss_value = float("nan")
    model.train()
    while step < cfg.steps:
        keys = batch_keys(len(dataset), cfg.batch_size, cfg.seed, step, rank, world)
        items = [dataset[key] for key in keys]
        x = torch.stack([a for a, _ in items]).to(accelerator.device)
        target = torch.stack([b for _, b in items]).to(accelerator.device)
        # Cosine decay computed from the step, so a resumed run follows the same schedule.
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * min(step / cfg.steps, 1.0)))
        # Sum over pixels (paper), divided by a constant canvas size to keep Adam's lr sane.
        loss = soft_cross_entropy_sum(model(x), target) / (cfg.canvas * cfg.canvas)
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        step += 1
        loss_value = float(loss.detach())
        bar.update(1)
        if accelerator.is_main_process and (step % cfg.log_every == 0 or step == cfg.steps):
            with log_path.open("a") as handle:
                handle.write(json.dumps({"step": step, "loss": loss_value}) + "\n")
        if step % cfg.checkpoint_every == 0 or step >= cfg.steps:
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                save_checkpoint(out_dir, accelerator.unwrap_model(model), optimizer, step, config)
    bar.close()
    checksum = float(
        sum(p.detach().double().sum() for p in accelerator.unwrap_model(model).parameters())
    )
    if world > 1:
        print(f"rank {rank} world {world} param_checksum {checksum:.10f}", flush=True)
    return {
        "step": step,
        "loss": loss_value,
        "param_checksum": checksum,
        "world_size": world,
        "pid": os.getpid(),
    }
