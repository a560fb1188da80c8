"""Training run behind `ghostnetv3-train`: single process or `torchrun` (gloo on CPU, nccl on GPU).

Every piece of the paper's strategy is a config switch: re-parameterised branches (model.reparam),
KD (loss.kd_weight, teacher.*, loss.temperature), label smoothing, cosine schedule with warm-up,
EMA (ema.*), Mixup/CutMix (mix.*), optimizer (optim.name). Evaluation always scores the fused
(deploy) form of the evaluated model (EMA when enabled). Outputs in the run folder: config.yaml +
config_hash, summary.csv, metrics.jsonl, checkpoint/ (one unit), model_best / model_ema /
model_fused safetensors, result.json.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ghostnetv3 import checkpoint as ckpt
from ghostnetv3.config import TrainConfig, as_dict
from ghostnetv3.cost import count_macs, deploy_param_count, train_param_count
from ghostnetv3.data import augment, load_splits
from ghostnetv3.ema import ModelEma
from ghostnetv3.losses import smooth_targets, training_loss
from ghostnetv3.mix import mix_batch
from ghostnetv3.models import load_model
from ghostnetv3.optim import cosine_lr, make_optimizer, set_lr
from ghostnetv3.reparam import reparameterize_model
from ghostnetv3.run_folder import check, config_hash, prepare, write_json_atomic
from ghostnetv3.teacher import load_teacher


def setup_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def build_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    m = cfg.model
    if m.num_classes != num_classes:
        raise ValueError(f"model.num_classes is {m.num_classes} but data.name={cfg.data.name} has "
                         f"{num_classes} classes")
    return load_model(m.arch, m.width, m.num_classes, m.in_chans, m.reparam, m.conv_branches,
                      m.scale_branch, m.identity_branch, m.drop_rate)


@torch.no_grad()
def predict(model: nn.Module, data, batch_size: int, device: str = "cpu") -> torch.Tensor:
    model.eval()
    loader = DataLoader(data, batch_size=batch_size)
    return torch.cat([model(x.to(device)).float().cpu() for x, _ in loader])


def labels_of(data) -> torch.Tensor:
    return torch.cat([y for _, y in DataLoader(data, batch_size=4096)])


def fused_copy(model: nn.Module) -> nn.Module:
    return reparameterize_model(copy.deepcopy(model).eval())


def top1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean())


def distribute_bn(model: nn.Module, world: int) -> None:
    """Average BN running statistics over ranks so every rank (and the checkpoint) agrees."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            for buf in (m.running_mean, m.running_var):
                dist.all_reduce(buf)
                buf.div_(world)


class Run:
    """State of one training run (model, EMA, teacher, optimizer, counters)."""

    def __init__(self, cfg: TrainConfig, resolved: dict, rank: int, world: int) -> None:
        self.cfg, self.resolved, self.rank, self.world = cfg, resolved, rank, world
        self.out = Path(cfg.out_dir)
        self.hash = config_hash(resolved)
        self.device = cfg.trainer.device
        self.splits = load_splits(cfg.data, cfg.model.in_chans)
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, self.splits.num_classes).to(self.device)
        if cfg.trainer.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.teacher = load_teacher(cfg.teacher, self.splits.num_classes, cfg.model.in_chans)
        if self.teacher is not None:
            self.teacher = self.teacher.to(self.device)
        self.ema = ModelEma(self.model, cfg.ema.decay) if cfg.ema.enabled else None
        o = cfg.optim
        self.opt = make_optimizer(o.name, self.model, o.lr, o.momentum, o.weight_decay)
        self.net = self.model
        if world > 1:
            self.net = nn.parallel.DistributedDataParallel(self.model)
        per_rank = len(self.splits.train) // world
        self.steps_per_epoch = per_rank // o.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"optim.batch_size {o.batch_size} exceeds the {per_rank} training "
                             f"images per process; lower it or raise data.train_limit")
        self.total_steps = self.steps_per_epoch * o.epochs
        self.warmup_steps = round(o.warmup_epochs * self.steps_per_epoch)
        self.step, self.epoch, self.best = 0, 0, -1.0

    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def lr_at(self, step: int) -> float:
        o = self.cfg.optim
        return cosine_lr(step, self.total_steps, self.warmup_steps, o.lr, o.warmup_lr, o.min_lr)

    def batches(self):
        """This rank's shuffled batches of the epoch; order depends only on (seed, epoch)."""
        g = torch.Generator().manual_seed(self.cfg.seed * 100003 + self.epoch)
        order = torch.randperm(len(self.splits.train), generator=g)[self.rank::self.world]
        bs = self.cfg.optim.batch_size
        subset = Subset(self.splits.train, order[: self.steps_per_epoch * bs].tolist())
        return DataLoader(subset, batch_size=bs, num_workers=self.cfg.data.workers)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> dict[str, float]:
        cfg = self.cfg
        if self.splits.in_memory:
            x = augment(x, cfg.data.crop_padding, cfg.data.hflip, g)
        target = smooth_targets(y, self.splits.num_classes, cfg.loss.label_smoothing)
        x, target = mix_batch(x, target, cfg.mix.mixup_alpha, cfg.mix.cutmix_alpha, cfg.mix.prob,
                              cfg.mix.switch_prob, g)
        x, target = x.to(self.device), target.to(self.device)
        if cfg.trainer.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        lr = self.lr_at(self.step)
        set_lr(self.opt, lr)
        self.net.train()
        with torch.autocast(self.device, torch.bfloat16, enabled=cfg.trainer.bf16):
            logits = self.net(x)
            teacher_logits = None
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_logits = self.teacher(x)
        loss, parts = training_loss(logits.float(), target,
                                    None if teacher_logits is None else teacher_logits.float(),
                                    cfg.loss.ce_weight, cfg.loss.kd_weight, cfg.loss.temperature)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.optim.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.opt.step()
        self.step += 1
        if self.ema is not None and self.step % cfg.ema.every == 0:
            self.ema.update(self.model)
        return {"loss": float(loss.detach()), "lr": lr, **parts}

    def unit_state(self) -> dict[str, Any]:
        return {"step": self.step, "epoch": self.epoch, "best_val_top1": self.best,
                "config_hash": self.hash, "scheduler": {"name": "cosine_warmup",
                                                        "step": self.step}}

    def resume(self) -> bool:
        folder = self.out / "checkpoint"
        if not folder.exists():
            torn = sorted(self.out.glob(".checkpoint.tmp*"))
            if torn and self.rank == 0:
                raise ckpt.CheckpointError(f"{torn[0]} is a checkpoint whose write was interrupted "
                                           f"and no complete checkpoint exists; {ckpt.RECOVERY}")
            return False
        state = ckpt.load_unit(folder, self.model, None if self.ema is None else self.ema.module,
                               self.opt, self.hash)
        self.step, self.epoch, self.best = state["step"], state["epoch"], state["best_val_top1"]
        if self.ema is not None:
            self.ema.updates = self.step // self.cfg.ema.every
        return True

    def log(self, name: str, record: dict) -> None:
        if self.rank == 0:
            with (self.out / name).open("a") as f:
                f.write(json.dumps(record) + "\n")

    def summary_row(self, row: dict) -> None:
        if self.rank != 0:
            return
        path = self.out / "summary.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def evaluate(self, split: str) -> dict[str, float]:
        data = getattr(self.splits, split)
        labels = labels_of(data)
        fused = fused_copy(self.eval_model())
        return {f"{split}_top1": top1(predict(fused, data, self.cfg.trainer.eval_batch_size,
                                              self.device), labels)}

    def train_epoch(self) -> dict[str, float]:
        cfg = self.cfg
        g = torch.Generator().manual_seed((cfg.seed * 100003 + self.epoch) * 7 + self.rank)
        totals: dict[str, float] = {}
        bar = tqdm(self.batches(), desc=f"epoch {self.epoch}", leave=False,
                   disable=self.rank != 0 or not cfg.progress)
        for x, y in bar:
            stats = self.train_step(x, y, g)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v
            if self.step % cfg.trainer.log_every == 0:
                self.log("metrics.jsonl", {"step": self.step, "epoch": self.epoch, **stats})
        if self.world > 1 and cfg.trainer.distribute_bn:
            distribute_bn(self.model, self.world)
            if self.ema is not None:
                distribute_bn(self.ema.module, self.world)
        return {k: v / self.steps_per_epoch for k, v in totals.items()}


def hardware() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads")


def final_result(run: Run, seconds: float) -> dict[str, Any]:
    """Test accuracy of the fused final model, plus fused-vs-multi-branch agreement and cost."""
    cfg, model = run.cfg, run.eval_model()
    test = run.splits.test
    labels = labels_of(test)
    multi = predict(model, test, cfg.trainer.eval_batch_size, run.device)
    fused_model = fused_copy(model)
    fused = predict(fused_model, test, cfg.trainer.eval_batch_size, run.device)
    if run.rank == 0:  # raw outputs beside the numbers, so they can be re-scored
        write_json_atomic(run.out / "test_predictions.json",
                          {"labels": labels.tolist(), "fused_argmax": fused.argmax(1).tolist()})
    shape = (1, cfg.model.in_chans, cfg.data.image_size, cfg.data.image_size)
    return {
        "test_top1_fused": top1(fused, labels), "test_top1_multibranch": top1(multi, labels),
        "fused_vs_multibranch_max_rel": float((fused - multi).abs().max() / multi.abs().max()),
        "best_val_top1": run.best, "epochs": cfg.optim.epochs, "steps": run.step,
        "world_size": run.world, "train_seconds": seconds,
        "deploy_params": deploy_param_count(fused_model),
        "train_params": train_param_count(model),
        "deploy_macs": count_macs(fused_model, shape), "input_shape": list(shape),
        "evaluated": "ema" if run.ema is not None else "model",
        "config": run.resolved, "config_hash": run.hash, "seed": cfg.seed,
        "command": " ".join(sys.argv), "hardware": hardware(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def run_training(cfg: TrainConfig, stop_after_epochs: int | None = None) -> dict[str, Any]:
    """Train (or resume, or report the finished run). `stop_after_epochs` simulates an
    interruption after that many epochs (tests of resume)."""
    resolved = as_dict(cfg)
    rank, world = setup_distributed()
    out = Path(cfg.out_dir)
    check(out, resolved, cfg.overwrite)  # every rank refuses before any barrier or write
    if rank == 0:
        prepare(out, resolved, cfg.overwrite)
    if world > 1:
        dist.barrier()
    if (out / "result.json").is_file():
        result = json.loads((out / "result.json").read_text())
        if rank == 0:
            print(f"{out} already holds the finished run (config {config_hash(resolved)}); "
                  f"reporting its result", file=sys.stderr)
        return result
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(cfg, resolved, rank, world)
    resumed = run.resume()
    if rank == 0 and not resumed:
        for name in ("summary.csv", "metrics.jsonl"):
            (out / name).unlink(missing_ok=True)  # a run that died before its first checkpoint
    start = time.time()
    while run.epoch < cfg.optim.epochs:
        if stop_after_epochs is not None and run.epoch >= stop_after_epochs:
            return {"interrupted_at_epoch": run.epoch}
        train_stats = run.train_epoch()
        run.epoch += 1
        row = {"epoch": run.epoch, "step": run.step, **train_stats}
        if run.epoch % cfg.trainer.eval_every == 0 or run.epoch == cfg.optim.epochs:
            row.update(run.evaluate("val"))
            if rank == 0 and row["val_top1"] > run.best:
                run.best = row["val_top1"]
                ckpt.export_model(run.eval_model(), out / "model_best.safetensors", fused=False,
                                  extra={"epoch": run.epoch, "val_top1": run.best})
        row["seconds"] = round(time.time() - start, 2)
        run.summary_row(row)
        run.log("metrics.jsonl", {"event": "epoch", **row})
        if rank == 0 and (run.epoch % cfg.trainer.checkpoint_every == 0
                          or run.epoch == cfg.optim.epochs):
            ckpt.save_unit(out, run.model, None if run.ema is None else run.ema.module, run.opt,
                           run.unit_state())
    result = final_result(run, time.time() - start)
    if world > 1:
        sums = [None] * world
        dist.all_gather_object(sums, float(sum(p.double().sum() for p in run.model.parameters())))
        result["ranks_agree"] = all(abs(s - sums[0]) < 1e-6 for s in sums)
    if rank == 0:
        if run.ema is not None:
            ckpt.export_model(run.ema.module, out / "model_ema.safetensors", fused=False)
        ckpt.export_model(fused_copy(run.eval_model()), out / "model_fused.safetensors",
                          fused=True)
        write_json_atomic(out / "result.json", result)
    return result
