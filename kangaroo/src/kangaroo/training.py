"""Adapter training: target features once, then AdamW steps with exact resume and DDP.

Each sample contributes the mean loss over its assistant tokens and a batch is the mean over its
samples, so a batch split across DDP ranks (rank r takes samples r, r+W, ...) averages to the
same gradient as one process on the whole batch (tests/test_training.py). The batch of step s
depends only on (seed, s), which makes a resumed run equal an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from kangaroo.adapter import Adapter, save_adapter
from kangaroo.checkpoint import load_state, save_state
from kangaroo.data import Sample
from kangaroo.llama import LlamaLM
from kangaroo.losses import expected_acceptance, feature_regression, soft_cross_entropy
from kangaroo.run_folder import write_text_atomic
from kangaroo.schema import TrainConfig


@dataclass
class Features:
    exit: torch.Tensor  # [T, d] target feature after layers [0, l)
    final: torch.Tensor  # [T, d] target's final feature after its last norm
    mask: torch.Tensor  # [T] bool, assistant tokens


@torch.no_grad()
def target_features(model: LlamaLM, samples: list[Sample], exit_layer: int) -> list[Features]:
    out = []
    for s in tqdm(samples, desc="target features", unit="seq", leave=False):
        ids = s.input_ids[None]
        pos = torch.arange(ids.shape[1])
        h = model.run_layers(model.embed_tokens(ids), 0, exit_layer, pos)
        f = model.run_layers(h, exit_layer, model.num_layers, pos)
        out.append(Features(h[0].float(), model.norm(f)[0].float(), s.loss_mask))
    return out


def batch_indices(n: int, batch: int, seed: int, step: int) -> list[int]:
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randperm(n, generator=gen)[: min(batch, n)].tolist()


def sample_loss(adapter: torch.nn.Module, head: torch.Tensor, feats: Features,
                feature_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, expected acceptance) averaged over one sample's assistant tokens."""
    t = feats.exit.shape[0]
    z = adapter(feats.exit[None], torch.arange(t))[0][feats.mask]
    target = feats.final[feats.mask]
    draft_logits, target_logits = F.linear(z, head), F.linear(target, head)
    loss = soft_cross_entropy(draft_logits, target_logits).mean()
    if feature_weight > 0:
        loss = loss + feature_weight * feature_regression(z, target).mean()
    with torch.no_grad():
        acc = expected_acceptance(draft_logits, target_logits).mean()
    return loss, acc


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def make_optimizer(adapter: Adapter, tc: TrainConfig) -> tuple[torch.optim.Optimizer,
                                                             torch.optim.lr_scheduler.LambdaLR]:
    opt = torch.optim.AdamW(adapter.parameters(), lr=tc.lr, betas=tuple(tc.betas),
                            weight_decay=tc.weight_decay)
    warm = tc.warmup_steps
    # Linear warm-up, then constant (the official schedule is effectively constant).
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / (warm + 1)))
    return opt, sched


def train_adapter(adapter: Adapter, head: torch.Tensor, data: list[Features], tc: TrainConfig,
                  out_dir: Path, config_hash: str, meta: dict,
                  stop_after: int | None = None) -> dict:
    """Train (or resume) into ``out_dir``; ``stop_after`` simulates an interruption (tests)."""
    rank, world = _world()
    model = adapter
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(adapter)
    opt, sched = make_optimizer(adapter, tc)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_dir, metrics = out_dir / "state", out_dir / "metrics.jsonl"
    step = 0
    if state_dir.exists() or (out_dir / "state.tmp").exists():
        step = load_state(state_dir, adapter, opt, sched, config_hash)
        if rank == 0 and metrics.exists():  # drop rows logged after the checkpoint
            rows = [r for r in metrics.read_text().splitlines() if json.loads(r)["step"] <= step]
            write_text_atomic(metrics, "".join(r + "\n" for r in rows))
    head = head.detach()
    t0 = time.perf_counter()
    bar = tqdm(total=tc.max_steps, initial=step, desc="train", unit="step", disable=rank != 0)
    last = {}
    while step < tc.max_steps:
        idx = batch_indices(len(data), tc.batch_size * world, tc.seed, step)[rank::world]
        pairs = [sample_loss(model, head, data[i], tc.feature_loss_weight) for i in idx]
        losses, accs = [x for x, _ in pairs], [y for _, y in pairs]
        loss = torch.stack(losses).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_value_(adapter.parameters(), tc.grad_clip_value)
        opt.step()
        sched.step()
        step += 1
        bar.update(1)
        last = {"step": step, "loss": float(loss.detach()), "expected_acceptance":
                float(torch.stack(accs).mean()), "lr": sched.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - t0, 3)}
        if rank == 0 and (step % tc.log_every == 0 or step == tc.max_steps):
            with metrics.open("a") as fh:
                fh.write(json.dumps(last) + "\n")
            bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{last['expected_acceptance']:.3f}")
        if rank == 0 and (step % tc.save_every == 0 or step == tc.max_steps):
            save_state(state_dir, adapter, opt, sched, step, config_hash)
        if stop_after is not None and step >= stop_after:
            break
    bar.close()
    summary = {"step": step, "finished": step >= tc.max_steps, **meta, "last": last}
    if rank == 0 and step >= tc.max_steps:
        save_adapter(out_dir / "adapter", adapter, {"train": meta})
        write_text_atomic(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary
