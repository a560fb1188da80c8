"""Training loop on `accelerate`: single process, torchrun/accelerate DDP, bf16 on GPU, resume."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from diffusiondialog.batching import collate
from diffusiondialog.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_train_state,
    save_checkpoint,
)
from diffusiondialog.config import build_spec, validate_train_config
from diffusiondialog.data import Pair, load_dataset
from diffusiondialog.model import DialogModel, load_bart_weights
from diffusiondialog.runfolder import check_run_folder, prepare_run_folder, trim_metrics
from diffusiondialog.tokenizer import load_tokenizer, train_bpe

CACHE_DIR = Path(os.environ.get("DIFFUSIONDIALOG_CACHE",
                                Path.home() / ".cache" / "diffusiondialog"))


def _tokenizer_for(cfg: DictConfig, train: list[Pair], out: Path):
    """Real BART: its own tokenizer. Tiny default: a BPE trained on the training split only.

    The trained BPE is cached under ~/.cache/diffusiondialog keyed by the data settings, since
    training it on all ~119k chitchat turns takes tens of seconds on this CPU.
    """
    if cfg.data.tokenizer:
        return load_tokenizer(cfg.data.tokenizer)
    if (out / "tokenizer.json").is_file():  # same config, no checkpoint yet: same vocabulary
        return load_tokenizer(out / "tokenizer.json")
    key = json.dumps([str(cfg.data.path), cfg.data.format, cfg.data.seed,
                      cfg.data.max_conversations, cfg.data.max_train_pairs, cfg.data.vocab_size,
                      len(train)])
    cached = CACHE_DIR / f"bpe-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    if cached.is_file():
        tok = load_tokenizer(cached)
    else:
        # Every turn but a conversation's first is some pair's response: train on responses.
        tok = train_bpe([p.response for p in train], int(cfg.data.vocab_size))
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + f".{os.getpid()}.tmp")
        tok.save(str(tmp))
        os.replace(tmp, cached)
    tok.save(str(out / "tokenizer.json"))
    return tok


def _init_from_bart(model: DialogModel, path: str) -> None:
    from transformers import BartForConditionalGeneration
    hf = BartForConditionalGeneration.from_pretrained(path, local_files_only=True)
    missing = load_bart_weights(model, hf.state_dict())
    print(f"initialised from {path}; {len(missing)} new tensors left at random init")


def _batches(pairs: list[Pair], batch_size: int, seed: int, epoch: int):
    order = list(range(len(pairs)))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    for i in range(0, len(order) - batch_size + 1, batch_size):
        yield [pairs[j] for j in order[i:i + batch_size]]


def _lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return max(0.0, (total - step) / max(total - warmup, 1))
    return f


def _optimizer(model: DialogModel, lr: float, weight_decay: float) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        # As in the official script: no weight decay on biases and LayerNorm weights.
        (no_decay if p.ndim < 2 or "norm" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def _restore_interrupted_save(ckpt: Path) -> None:
    """A kill between save_checkpoint's two renames leaves the previous committed checkpoint
    as `checkpoint.old` and none as `checkpoint`: put it back (it is verified on load)."""
    old = ckpt.with_name(ckpt.name + ".old")
    if not ckpt.exists() and old.is_dir():
        os.replace(old, ckpt)


def _resume_from(cfg: DictConfig, ckpt: Path):
    """(model, tokenizer, train state) of a verified checkpoint whose model is the one `cfg`
    describes; any missing or mismatched piece is an error, never a silent restart."""
    model, tok, meta = load_checkpoint(ckpt)
    state = load_train_state(ckpt)
    wanted = build_spec(cfg, tok.get_vocab_size()).to_dict()
    if model.spec.to_dict() != wanted:
        diff = [k for k in wanted if wanted[k] != model.spec.to_dict().get(k)]
        raise CheckpointError(f"checkpoint {ckpt}: its model spec differs from the run "
                              f"folder's config in {diff}; overwrite=true to start fresh")
    return model, tok, state, int(meta["step"])


def train(cfg: DictConfig) -> Path:
    """Train the model described by `cfg`; returns the folder of the final checkpoint."""
    cfg = validate_train_config(cfg)
    folder_state = check_run_folder(cfg)  # refusal happens here, before any work
    tc = cfg.trainer
    torch.set_num_threads(int(tc.threads))
    out = Path(tc.output_dir)
    unused = any(float(w) == 0 for w in cfg.model.loss_weights.values())
    acc = Accelerator(cpu=bool(tc.cpu), mixed_precision=tc.mixed_precision,
                      gradient_accumulation_steps=int(tc.grad_accum),
                      kwargs_handlers=[DistributedDataParallelKwargs(
                          find_unused_parameters=unused)])
    set_seed(int(tc.seed), device_specific=True)
    ckpt = out / "checkpoint"
    if acc.is_main_process:
        prepare_run_folder(cfg, folder_state)
        _restore_interrupted_save(ckpt)
    acc.wait_for_everyone()
    resuming = folder_state == "resume" and ckpt.exists()
    if resuming:
        model, tok, state, step = _resume_from(cfg, ckpt)
        acc.print(f"resuming from {ckpt} at step {step}")
        if step >= int(tc.steps):
            acc.print(f"run already finished ({step} of {tc.steps} steps): {ckpt}")
            return ckpt
    data = load_dataset(cfg.data.path, cfg.data.format, int(cfg.data.max_context_turns),
                        int(cfg.data.seed), cfg.data.max_conversations)
    train_pairs = data["train"][: cfg.data.max_train_pairs or None]
    if not resuming:
        if acc.is_main_process:
            tok = _tokenizer_for(cfg, train_pairs, out)
        acc.wait_for_everyone()
        tok = tok if acc.is_main_process else _tokenizer_for(cfg, train_pairs, out)
        state, step = None, 0
        model = DialogModel(build_spec(cfg, tok.get_vocab_size()))
        if cfg.model.init:
            _init_from_bart(model, cfg.model.init)
    if acc.is_main_process:
        trim_metrics(out, step)
    opt = _optimizer(model, float(tc.lr), float(tc.weight_decay))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(int(tc.warmup), int(tc.steps)))
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        # Restores the stream of timesteps, noise and dropout masks (single-process exact).
        torch.set_rng_state(state["rng"])
    # The scheduler is stepped by hand once per optimizer step: accelerate's wrapper would step
    # it once per process under DDP and shorten the schedule.
    model, opt = acc.prepare(model, opt)

    per_rank = int(tc.batch_size) // acc.num_processes
    if per_rank < 1:
        raise ValueError(f"trainer.batch_size {tc.batch_size} < number of processes "
                         f"{acc.num_processes}")
    micro_per_epoch = len(train_pairs) // int(tc.batch_size)
    if micro_per_epoch < 1:
        raise ValueError(f"data: {len(train_pairs)} training pairs, fewer than one batch of "
                         f"{tc.batch_size}")
    log = (out / "metrics.jsonl").open("a") if acc.is_main_process else None
    bar = tqdm(total=int(tc.steps), initial=step, disable=not acc.is_main_process,
               desc=f"train {cfg.model.kind}")
    micro = step * int(tc.grad_accum)
    # Optional slice of the schedule per invocation (time-limited jobs); resume continues it.
    stop_at = int(tc.steps) if not tc.get("stop_after") else min(int(tc.steps),
                                                                   step + int(tc.stop_after))
    t0 = time.perf_counter()
    while step < stop_at:
        epoch, skip = divmod(micro, micro_per_epoch)
        for i, batch_pairs in enumerate(_batches(train_pairs, int(tc.batch_size),
                                                 int(tc.seed), epoch)):
            if i < skip:
                continue  # resume mid-epoch at the exact batch
            mine = batch_pairs[acc.process_index * per_rank:(acc.process_index + 1) * per_rank]
            batch = {k: v.to(acc.device) for k, v in collate(
                tok, mine, int(cfg.data.max_source), int(cfg.data.max_target),
                int(cfg.model.max_turn)).items()}
            acc.unwrap_model(model).train_step = step  # KL annealing (CVAE); exact on resume
            with acc.accumulate(model), acc.autocast():
                losses = model(batch)
                acc.backward(losses["loss"])
                if acc.sync_gradients:
                    acc.clip_grad_value_(model.parameters(), float(tc.clip_value))
                opt.step()
                if acc.sync_gradients:
                    sched.step()
                opt.zero_grad()
            micro += 1
            if not acc.sync_gradients:
                continue
            step += 1
            bar.update(1)
            if not math.isfinite(losses["loss"].item()):
                raise FloatingPointError(f"loss is {losses['loss'].item()} at step {step}")
            if log is not None and (step % int(tc.log_every) == 0 or step == int(tc.steps)):
                rec = {"step": step, "lr": sched.get_last_lr()[0],
                       "elapsed_s": round(time.perf_counter() - t0, 2),
                       **{k: round(v.item(), 5) for k, v in losses.items()}}
                log.write(json.dumps(rec) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{rec['loss']:.3f}")
            if step % int(tc.save_every) == 0 or step in (int(tc.steps), stop_at):
                acc.wait_for_everyone()
                if acc.is_main_process:
                    save_checkpoint(ckpt, acc.unwrap_model(model), tok, step,
                                    {"optimizer": opt.state_dict(),
                                     "scheduler": sched.state_dict(), "step": step,
                                     "rng": torch.get_rng_state(),
                                     "config": OmegaConf.to_container(cfg, resolve=True)})
            if step >= stop_at:
                break
        if step >= stop_at:
            break
    bar.close()
    if log is not None:
        log.close()
    acc.wait_for_everyone()
    acc.end_training()
    return ckpt
