"""Draft-head training on cached target features, single process or DDP through accelerate."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from jakiro.atomic import write_text_atomic
from jakiro.checkpoint import (
    RECOVER,
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_head,
)
from jakiro.checks import ConfigError, non_negative, positive
from jakiro.draft_head import DraftHead, HeadConfig
from jakiro.features import FeatureSeq, collate
from jakiro.llama import LlamaLM
from jakiro.losses import LossWeights, draft_loss


@dataclass
class TrainConfig:
    lr: float = 9e-5
    weight_decay: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 2000
    epochs: int = 20
    batch_size: int = 4
    max_steps: int = 0  # 0 = epochs * batches; otherwise stop early (budgeted runs)
    grad_clip_value: float = 0.5
    noise_std: float = 0.2
    ce_vocab: str = "full"  # "full" or "draft" (soft CE over the draft vocabulary only)
    seed: int = 0
    log_every: int = 10
    save_every: int = 200
    stop_at: int = 0  # stop after this many steps without changing the schedule (preemption)
    loss: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if self.ce_vocab not in ("full", "draft"):
            raise ConfigError(f"train.ce_vocab must be full|draft, got {self.ce_vocab!r}")
        positive("train", lr=self.lr, epochs=self.epochs, batch_size=self.batch_size,
                 log_every=self.log_every, save_every=self.save_every)
        non_negative("train", weight_decay=self.weight_decay, warmup_steps=self.warmup_steps,
                     max_steps=self.max_steps, grad_clip_value=self.grad_clip_value,
                     noise_std=self.noise_std, stop_at=self.stop_at)
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"train.betas must be two values in [0, 1), got {self.betas}")


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to zero (Jakiro's schedule)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(total - cfg.warmup_steps, 1)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))


def epoch_batches(n: int, cfg: TrainConfig, epoch: int) -> list[list[int]]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + epoch)).tolist()
    return [perm[i : i + cfg.batch_size] for i in range(0, n - cfg.batch_size + 1, cfg.batch_size)]


def truncate_log(path: Path, step: int) -> None:
    """Drop log rows past ``step``: a resumed run re-logs the steps after its checkpoint, and a
    fresh run (step 0) starts an empty log instead of appending to an old one."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines(keepends=True)
            if line.strip() and json.loads(line)["step"] <= step]
    write_text_atomic(path, "".join(keep))


def add_noise(x: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
    """EAGLE's uniform feature noise, scaled by 512 / sequence length."""
    u = torch.rand(x.shape, generator=gen, dtype=x.dtype)
    return x + (u - 0.5) * std * 512 / x.shape[1]


def train_head(
    target: LlamaLM,
    seqs: list[FeatureSeq],
    head_cfg: HeadConfig,
    vocab_ids: torch.Tensor,
    cfg: TrainConfig,
    out_dir: Path,
    meta: dict,
    accelerator=None,  # noqa: ANN001 - accelerate.Accelerator
    config_hash: str | None = None,
) -> dict:
    """Train (or resume) into ``out_dir``: ``checkpoints/step_N`` units, ``head/`` export for
    eval, ``metrics.jsonl``. ``config_hash`` is stored in every unit and checked on resume."""
    from accelerate import Accelerator

    acc = accelerator or Accelerator(cpu=not torch.cuda.is_available())
    torch.manual_seed(cfg.seed)
    head = DraftHead(target.cfg, head_cfg)
    names = [n for n, _ in head.named_parameters()]
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, betas=cfg.betas,
                            weight_decay=cfg.weight_decay)
    ckpt_dir, head_dir = out_dir / "checkpoints", out_dir / "head"
    log_path = out_dir / "metrics.jsonl"
    unit = latest_checkpoint(ckpt_dir)
    # Verified as one unit before use; a torn or foreign unit raises.
    resumed = load_checkpoint(unit, head, opt, names, config_hash) if unit else {}
    step = resumed.get("step", 0)
    if acc.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        truncate_log(log_path, step)
    head, opt = acc.prepare(head, opt)
    embed = target.embed_tokens.weight.detach()
    lm_head = target.lm_head.weight.detach()
    if cfg.ce_vocab == "draft":
        lm_head = lm_head[vocab_ids]
    per_epoch = len(epoch_batches(len(seqs), cfg, 0))
    if per_epoch == 0:
        raise ValueError(f"train: {len(seqs)} sequences are fewer than batch_size={cfg.batch_size}")
    total = cfg.max_steps or cfg.epochs * per_epoch
    if resumed and resumed.get("total") != total:
        raise CheckpointError(f"checkpoint {unit}: planned {resumed.get('total')} steps, this run "
                              f"plans {total} (other data or schedule); {RECOVER}")
    gen = torch.Generator()
    bar = tqdm(total=total, initial=step, desc=f"train {head_cfg.kind}",
               disable=not acc.is_main_process)
    t0 = time.perf_counter()
    logs: dict = {}
    end = min(total, cfg.stop_at) if cfg.stop_at else total
    while step < end:
        # Noise seeded per step and rank, so a resumed run replays the same stream.
        gen.manual_seed(cfg.seed * 1_000_003 + step * 1009 + acc.process_index)
        epoch, offset = divmod(step, per_epoch)
        batch_ids = epoch_batches(len(seqs), cfg, epoch)[offset]
        # Each process takes its slice of the global batch (DDP averages the gradients).
        mine = batch_ids[acc.process_index :: acc.num_processes] or batch_ids[:1]
        batch = collate([seqs[i] for i in mine])
        hidden, ids = batch["hidden"].to(acc.device), batch["input_ids"].to(acc.device)
        feats = add_noise(hidden[:, :-1], cfg.noise_std, gen) if cfg.noise_std else hidden[:, :-1]
        out = head(feats, embed[ids[:, 1:]], right=head_cfg.kind == "jakiro")
        loss, logs = draft_loss(out.left, out.right, hidden, batch["loss_mask"].to(acc.device),
                                lm_head, cfg.loss, out.balance_loss)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, cfg)
        opt.zero_grad()
        acc.backward(loss)
        if cfg.grad_clip_value:
            acc.clip_grad_value_(head.parameters(), cfg.grad_clip_value)
        opt.step()
        step += 1
        bar.update(1)
        if acc.is_main_process and (step % cfg.log_every == 0 or step == total):
            rec = {"step": step, "epoch": epoch, "lr": lr_at(step - 1, total, cfg),
                   "elapsed_s": round(time.perf_counter() - t0, 2), **logs}
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            bar.set_postfix(loss=f"{logs['loss']:.3f}")
        if step % cfg.save_every == 0 or step == end:
            acc.wait_for_everyone()
            if acc.is_main_process:
                plain = acc.unwrap_model(head)
                save_checkpoint(ckpt_dir, plain, opt, names,
                                {"step": step, "total": total, "config_hash": config_hash})
                save_head(head_dir, plain, vocab_ids, {**meta, "step": step, "total": total})
    bar.close()
    acc.wait_for_everyone()
    return {"steps": step, "final": logs, "seconds": time.perf_counter() - t0,
            "world_size": acc.num_processes}
