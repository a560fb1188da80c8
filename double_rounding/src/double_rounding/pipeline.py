"""End-to-end runs behind the console scripts: validate, build, (resume,) train, evaluate, export.

Works single-process and under `torchrun --nproc_per_node=N` (gloo on CPU, nccl on GPU): ranks
calibrate activation scales on the same batch before DDP wraps the model, so every rank starts
from identical parameters, and DDP's all-reduce keeps them identical (checked at the end).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from double_rounding.alrs import ALRS, ALRS_MODES
from double_rounding.checkpoint import export_int8, load_training, save_training
from double_rounding.convert import calibrate, quant_layers, set_precision
from double_rounding.data import load_dataset
from double_rounding.hasb import HASBSampler, model_traces
from double_rounding.models import load_model
from double_rounding.quantizer import validate_bits
from double_rounding.trainer import MultiPrecisionTrainer, evaluate

MODES = ("multi", "hasb")


def validate(cfg: DictConfig) -> None:
    """Every user-facing field checked before any data is read or model built."""
    validate_bits(list(cfg.quant.bits), "quant.bits")
    if cfg.train.alrs not in ALRS_MODES:
        raise ValueError(f"train.alrs {cfg.train.alrs!r} is unknown; expected one of {ALRS_MODES}")
    if cfg.train.mode not in MODES:
        raise ValueError(f"train.mode {cfg.train.mode!r} is unknown; expected one of {MODES}")
    for field in ("epochs", "batch_size"):
        if int(cfg.train[field]) < 1:
            raise ValueError(f"train.{field} must be >= 1, got {cfg.train[field]}")
    if float(cfg.train.lr) <= 0:
        raise ValueError(f"train.lr must be > 0, got {cfg.train.lr}")


def setup_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def build(cfg: DictConfig) -> torch.nn.Module:
    m = cfg.model
    return load_model(m.arch, list(cfg.quant.bits), m.num_classes, m.in_channels, m.width,
                      m.blocks_per_stage, m.get("pretrained"), cfg.quant.scheme, cfg.quant.rule,
                      cfg.quant.act_signed, cfg.quant.lsq_grad_scale,
                      transitional_bn=cfg.train.mode == "hasb")


def datasets(cfg: DictConfig):
    d = cfg.data
    train = load_dataset(d.name, "train", d.get("root"), d.get("train_limit"), cfg.seed,
                         d.image_size)
    test = load_dataset(d.name, "test", d.get("root"), d.get("test_limit"), cfg.seed, d.image_size)
    return train, test


def _append_jsonl(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def _param_checksum(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def hasb_sampler(cfg: DictConfig, model: torch.nn.Module, train_set) -> HASBSampler:
    """Hessian traces of the float model (per parameter), then the roulette sampler."""
    layers = [layer for _, layer in quant_layers(model)]
    set_precision(model, None)
    loader = DataLoader(Subset(train_set, range(min(len(train_set), cfg.hasb.trace_images))),
                        batch_size=cfg.train.batch_size)
    traces = model_traces(model, layers, loader, cfg.hasb.trace_samples, cfg.seed)
    per_param = [t / layer.weight.numel() for t, layer in zip(traces, layers, strict=True)]
    return HASBSampler(list(cfg.quant.bits), per_param, cfg.hasb.sigma0, cfg.train.epochs,
                       cfg.seed, uniform=cfg.hasb.uniform)


def run_training(cfg: DictConfig) -> dict:
    validate(cfg)
    rank, world = setup_distributed()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))  # 1 thread is fastest for small nets on 2 cores
    torch.manual_seed(cfg.seed)
    out = Path(cfg.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_set, test_set = datasets(cfg)
    model = build(cfg)
    bits = validate_bits(list(cfg.quant.bits))
    first = torch.stack([train_set[i][0] for i in range(min(len(train_set), 64))])
    calibrate(model, first, bits)
    sampler = hasb_sampler(cfg, model, train_set) if cfg.train.mode == "hasb" else None
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    dist_sampler = DistributedSampler(train_set, world, rank, seed=cfg.seed) if world > 1 else None
    g = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(train_set, batch_size=cfg.train.batch_size, shuffle=dist_sampler is None,
                        sampler=dist_sampler, generator=g, drop_last=True)
    # the mixed-precision SuperNet trains without ALRS (paper Algorithm A.3)
    alrs = ALRS("none" if cfg.train.mode == "hasb" else cfg.train.alrs, high=bits[0])
    trainer = MultiPrecisionTrainer(ddp_model, bits, cfg.train.lr, cfg.train.weight_decay, alrs,
                                    cfg.train.epochs * len(loader), cfg.train.kd_weight, sampler)
    ckpt = out / "last.safetensors"
    if cfg.resume and ckpt.is_file():
        load_training(ckpt, model, trainer)
    metrics = out / "metrics.jsonl"
    start = time.time()
    while trainer.epoch < cfg.train.epochs:
        if dist_sampler is not None:
            dist_sampler.set_epoch(trainer.epoch)
        g.manual_seed(cfg.seed + trainer.epoch)  # resumable shuffling order per epoch
        for x, y in tqdm(loader, desc=f"epoch {trainer.epoch}", disable=rank != 0 or
                         not cfg.progress, leave=False):
            stats = trainer.train_step(x, y)
            if rank == 0 and trainer.step_count % cfg.log_every == 0:
                _append_jsonl(metrics, {"step": trainer.step_count, "epoch": trainer.epoch,
                                        **stats})
        trainer.epoch += 1
        if rank == 0:
            save_training(ckpt, model, trainer, {"config": OmegaConf.to_container(cfg)})
    seconds = time.time() - start
    test_loader = DataLoader(test_set, batch_size=256)
    accuracy = {str(b): evaluate(model, test_loader, b) for b in bits}
    result = {"accuracy": accuracy, "train_seconds": seconds, "steps": trainer.step_count,
              "alrs_clamp_events": alrs.clamp_events, "alrs_calls": alrs.calls,
              "world_size": world, "param_checksum": _param_checksum(model)}
    if world > 1:
        sums = [None] * world
        dist.all_gather_object(sums, result["param_checksum"])
        result["ranks_agree"] = all(abs(s - sums[0]) < 1e-9 for s in sums)
    if rank == 0:
        if cfg.quant.scheme == "double_rounding":
            result["export"] = export_int8(model, out / "model_int8.safetensors")
        _write_json(out / "result.json", result)
    return result


def run_eval(cfg: DictConfig) -> dict:
    """Accuracy of an exported int8 checkpoint at every stored bit-width (shift path)."""
    from double_rounding.checkpoint import load_int8

    path = Path(cfg.checkpoint)
    model = load_int8(path, expected_arch=cfg.model.arch)
    _, test_set = datasets(cfg)
    bits = validate_bits(list(cfg.eval_bits or model.dr_spec.bits), "eval_bits")
    loader = DataLoader(test_set, batch_size=256)
    accuracy = {str(b): evaluate(model, loader, b) for b in bits}
    result = {"checkpoint": str(path), "accuracy": accuracy}
    _write_json(path.with_name("eval.json"), result)
    return result
