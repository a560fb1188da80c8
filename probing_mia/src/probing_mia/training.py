"""Causal-LM training of the target (and of the true reference model): single process or DDP
(gloo on CPU), resumable from one-unit checkpoints, deterministic data order per (seed, epoch)."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from probing_mia import checkpoint
from probing_mia.config import TrainerConfig
from probing_mia.model import encode


def world() -> tuple[int, int]:
    """(rank, world size); initialises gloo once when launched by torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def pad_batch(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and the attention mask."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
    return ids, mask


def summed_nll(model, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Sum of next-token negative log-likelihoods over real tokens, and their count."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target = ids[:, 1:]
    keep = mask[:, 1:].bool()
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                            target.reshape(-1), reduction="none")
    return (nll * keep.reshape(-1)).sum(), int(keep.sum())


def batch_order(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=generator).tolist()
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def schedule(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 10 % of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_lm(model, tokenizer, texts: list[str], cfg: TrainerConfig, max_length: int,
             run_dir: Path, seed: int, config_hash: str, stop_at: int | None = None,
             log_name: str = "train") -> dict:
    """Train ``model`` on ``texts`` into ``run_dir`` (ckpt/, final/, log.jsonl).

    Resumes from ``run_dir/ckpt`` when present (verified, same config hash). ``stop_at`` ends
    after that many steps with a checkpoint, as an interruption would (used by the tests).
    Returns the summary also written to ``run_dir/summary.json``.
    """
    run_dir = Path(run_dir)
    if (run_dir / "summary.json").is_file():
        return json.loads((run_dir / "summary.json").read_text())
    rank, size = world()
    run_dir.mkdir(parents=True, exist_ok=True)
    data = [encode(tokenizer, t, max_length) for t in texts]
    spe = math.ceil(len(data) / cfg.batch_size)
    total = cfg.max_steps or cfg.epochs * spe
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: schedule(s, cfg.warmup_steps, total))
    step = 0
    if (run_dir / "ckpt").exists():
        step = checkpoint.load(run_dir / "ckpt", model, optimizer, scheduler,
                               {"config_hash": config_hash})["step"]
    net = torch.nn.parallel.DistributedDataParallel(model) if size > 1 else model
    pad = tokenizer.pad_token_id
    log = run_dir / "log.jsonl"
    bar = tqdm(total=total, initial=step, desc=log_name, disable=rank != 0, mininterval=5)
    start = time.time()
    while step < total and (stop_at is None or step < stop_at):
        epoch, offset = divmod(step, spe)
        indices = batch_order(len(data), cfg.batch_size, seed, epoch)[offset]
        ids, mask = pad_batch([data[i] for i in indices], pad)
        global_tokens = int(mask[:, 1:].sum())
        mine = slice(rank, None, size)  # this rank's rows of the global batch
        nll, _ = summed_nll(net, ids[mine], mask[mine])
        # DDP averages gradients over ranks: scale so the result is the global token mean.
        loss = nll * size / global_tokens
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        bar.update(1)
        if rank == 0 and (step % cfg.log_every == 0 or step == total):
            record = {"phase": log_name, "step": step, "epoch": epoch,
                      "loss": float(loss.detach()) / size, "lr": scheduler.get_last_lr()[0],
                      "seconds": round(time.time() - start, 1)}
            with log.open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        if rank == 0 and (step % cfg.save_every == 0 or step == total or step == stop_at):
            checkpoint.save(run_dir / "ckpt", model, optimizer, scheduler,
                            {"step": step, "config_hash": config_hash})
    bar.close()
    summary = {"steps": step, "total_steps": total, "texts": len(data), "world_size": size,
               "finished": step >= total}
    if rank == 0 and step >= total:
        _save_final(model, tokenizer, run_dir / "final")
        checkpoint_path = run_dir / "summary.json"
        tmp = checkpoint_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, checkpoint_path)
    if size > 1:
        dist.barrier()
    return summary


def _save_final(model, tokenizer, directory: Path) -> None:
    tmp = directory.with_name(f".{directory.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)
