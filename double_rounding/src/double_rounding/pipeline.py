"""End-to-end runs behind the console scripts: validate, build, (resume,) train, evaluate, export.

Works single-process and under `torchrun --nproc_per_node=N` (gloo on CPU, nccl on GPU): ranks
calibrate activation scales on the same batch before DDP wraps the model, so every rank starts
from identical parameters, and DDP's all-reduce keeps them identical (checked at the end).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from omegaconf import DictConfig
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from double_rounding import runfolder
from double_rounding.alrs import ALRS
from double_rounding.checkpoint import (
    CheckpointError,
    export_int8,
    latest_unit,
    load_training,
    save_training,
)
from double_rounding.convert import calibrate, quant_layers, set_precision
from double_rounding.data import load_dataset
from double_rounding.hasb import HASBSampler, model_traces
from double_rounding.models import load_model
from double_rounding.quantizer import validate_bits
from double_rounding.runfolder import config_hash
from double_rounding.schema import (
    ConfigError,
    EvalConfig,
    TrainConfig,
    as_dict,
    parse_eval,
    parse_train,
)
from double_rounding.trainer import MultiPrecisionTrainer, evaluate


def validate(cfg: DictConfig | dict) -> TrainConfig:
    """Every key, type and range checked before any data is read or model built."""
    return parse_train(cfg)


def setup_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def build(cfg: TrainConfig) -> torch.nn.Module:
    m = cfg.model
    return load_model(m.arch, list(cfg.quant.bits), m.num_classes, m.in_channels, m.width,
                      m.blocks_per_stage, m.pretrained, cfg.quant.scheme, cfg.quant.rule,
                      cfg.quant.act_signed, cfg.quant.lsq_grad_scale,
                      transitional_bn=cfg.train.mode == "hasb")


def datasets(cfg: TrainConfig | EvalConfig):
    d = cfg.data
    train = load_dataset(d.name, "train", d.root, d.train_limit, cfg.seed, d.image_size)
    test = load_dataset(d.name, "test", d.root, d.test_limit, cfg.seed, d.image_size)
    return train, test


def _append_jsonl(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _write_json(path: Path, obj: dict) -> None:
    runfolder.write_atomic(path, json.dumps(obj, indent=2))


def _param_checksum(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def hasb_sampler(cfg: TrainConfig, model: torch.nn.Module, train_set) -> HASBSampler:
    """Hessian traces of the float model (per parameter), then the roulette sampler."""
    layers = [layer for _, layer in quant_layers(model)]
    set_precision(model, None)
    loader = DataLoader(Subset(train_set, range(min(len(train_set), cfg.hasb.trace_images))),
                        batch_size=cfg.train.batch_size)
    traces = model_traces(model, layers, loader, cfg.hasb.trace_samples, cfg.seed)
    per_param = [t / layer.weight.numel() for t, layer in zip(traces, layers, strict=True)]
    return HASBSampler(list(cfg.quant.bits), per_param, cfg.hasb.sigma0, cfg.train.epochs,
                       cfg.seed, uniform=cfg.hasb.uniform)


def _resume(out: Path, model, trainer, alrs: ALRS, sampler, digest: str, resume: bool) -> None:
    """Continue from the newest verified checkpoint unit; refuse a torn or foreign one."""
    if (out / "last.safetensors").exists():
        raise CheckpointError(f"{out / 'last.safetensors'} is a checkpoint of the old two-file "
                              "format, which cannot be verified; pass overwrite=true")
    unit = latest_unit(out / "checkpoints")
    if unit is None:
        return
    if not resume:
        raise ConfigError(f"resume=false, but {unit} holds a checkpoint of this run; pass "
                          "overwrite=true to start fresh, or resume=true to continue")
    meta = load_training(unit, model, trainer, digest)
    alrs.load_state_dict(meta["alrs"])
    if sampler is not None:
        sampler.rng.bit_generator.state = meta["sampler_rng"]


def _trim_metrics(path: Path, step: int) -> None:
    """Drop metric lines past the resumed step (they were logged but never checkpointed)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line)["step"] <= step]
    runfolder.write_atomic(path, "".join(line + "\n" for line in keep))


def _checkpoint_extra(digest: str, alrs: ALRS, sampler) -> dict:
    extra = {"config_hash": digest, "alrs": alrs.state_dict()}
    if sampler is not None:
        extra["sampler_rng"] = sampler.rng.bit_generator.state
    return extra


def run_training(cfg: DictConfig | dict) -> dict:
    tc = validate(cfg)
    rank, world = setup_distributed()
    out = Path(tc.out_dir)
    resolved = as_dict(tc)
    digest = runfolder.prepare(out, resolved, tc.overwrite) if rank == 0 else config_hash(
        runfolder.recorded_config(resolved))
    if world > 1:
        dist.barrier()  # rank 0 has created (or wiped) the folder
    if (out / "result.json").is_file():  # finished run with the same config: report it
        return {**json.loads((out / "result.json").read_text()), "finished_before": True}
    if tc.threads:
        torch.set_num_threads(tc.threads)  # 1 thread is fastest for small nets on 2 cores
    torch.manual_seed(tc.seed)
    train_set, test_set = datasets(tc)
    model = build(tc)
    bits = validate_bits(list(tc.quant.bits))
    first = torch.stack([train_set[i][0] for i in range(min(len(train_set), 64))])
    calibrate(model, first, bits)
    sampler = hasb_sampler(tc, model, train_set) if tc.train.mode == "hasb" else None
    ddp_model = model
    if world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    dist_sampler = DistributedSampler(train_set, world, rank, seed=tc.seed) if world > 1 else None
    g = torch.Generator().manual_seed(tc.seed)
    loader = DataLoader(train_set, batch_size=tc.train.batch_size, shuffle=dist_sampler is None,
                        sampler=dist_sampler, generator=g, drop_last=True)
    # the mixed-precision SuperNet trains without ALRS (paper Algorithm A.3)
    alrs = ALRS("none" if tc.train.mode == "hasb" else tc.train.alrs, high=bits[0])
    trainer = MultiPrecisionTrainer(ddp_model, bits, tc.train.lr, tc.train.weight_decay, alrs,
                                    tc.train.epochs * len(loader), tc.train.kd_weight, sampler)
    _resume(out, model, trainer, alrs, sampler, digest, tc.resume)
    metrics = out / "metrics.jsonl"
    if rank == 0:
        _trim_metrics(metrics, trainer.step_count)
    start = time.time()
    while trainer.epoch < tc.train.epochs:
        if dist_sampler is not None:
            dist_sampler.set_epoch(trainer.epoch)
        g.manual_seed(tc.seed + trainer.epoch)  # resumable shuffling order per epoch
        for x, y in tqdm(loader, desc=f"epoch {trainer.epoch}", disable=rank != 0 or
                         not tc.progress, leave=False):
            stats = trainer.train_step(x, y)
            if rank == 0 and trainer.step_count % tc.log_every == 0:
                _append_jsonl(metrics, {"step": trainer.step_count, "epoch": trainer.epoch,
                                        **stats})
        trainer.epoch += 1
        if rank == 0:
            save_training(out / "checkpoints", model, trainer,
                          _checkpoint_extra(digest, alrs, sampler))
    seconds = time.time() - start
    test_loader = DataLoader(test_set, batch_size=256)
    accuracy = {str(b): evaluate(model, test_loader, b) for b in bits}
    result = {"accuracy": accuracy, "train_seconds": seconds, "steps": trainer.step_count,
              "alrs": alrs.summary(), "world_size": world, "config_hash": digest,
              "command": " ".join([sys.executable, *sys.argv]),
              "param_checksum": _param_checksum(model)}
    if world > 1:
        sums = [None] * world
        dist.all_gather_object(sums, result["param_checksum"])
        result["ranks_agree"] = all(abs(s - sums[0]) < 1e-9 for s in sums)
    if rank == 0:
        if tc.quant.scheme == "double_rounding":
            result["export"] = export_int8(model, out / "model_int8.safetensors")
        _write_json(out / "result.json", result)
    return result


def run_eval(cfg: DictConfig | dict) -> dict:
    """Accuracy of an exported int8 checkpoint at every stored bit-width (shift path)."""
    from double_rounding.checkpoint import load_int8

    ec = parse_eval(cfg)
    path = Path(ec.checkpoint)
    model = load_int8(path, expected_arch=ec.model.arch)
    _, test_set = datasets(ec)
    bits = validate_bits(list(ec.eval_bits or model.dr_spec.bits), "eval_bits")
    loader = DataLoader(test_set, batch_size=256)
    accuracy = {str(b): evaluate(model, loader, b) for b in bits}
    result = {"checkpoint": str(path), "accuracy": accuracy}
    _write_json(path.with_name("eval.json"), result)
    return result
