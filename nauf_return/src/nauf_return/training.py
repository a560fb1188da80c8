"""Datasets and the one training loop used for knowledge injection and for unlearning.

The loop runs under ``accelerate`` (single process, torchrun or ``accelerate launch``; DDP with
gloo on CPU), logs JSON lines, shows tqdm progress, checkpoints and resumes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from nauf_return.checkpoint import load_checkpoint, save_checkpoint
from nauf_return.errors import ConfigError
from nauf_return.losses import Method, compute_loss, token_nll
from nauf_return.prompting import PromptFormat, pad_batch
from nauf_return.records import Person
from nauf_return.templates import check_refusal_template, render


@dataclass
class LoopConfig:
    lr: float = 1e-5
    epochs: int = 5
    max_steps: int = -1  # > 0 caps the number of optimizer steps
    batch_size: int = 8
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    log_every: int = 1
    save_every: int | None = None  # None: checkpoints at epoch ends only
    drop_last: bool = False  # unlearning: every step a full batch, so examples = steps x batch

    def __post_init__(self):
        for key in ("lr", "batch_size", "epochs", "log_every"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"trainer.{key} must be > 0, got {getattr(self, key)}")
        if self.save_every is not None and self.save_every <= 0:
            raise ConfigError(f"trainer.save_every must be >= 1 or null, got {self.save_every}")


class SFTDataset(Dataset):
    """Knowledge injection: every QA and every biography ("Tell me about X.") of each person."""

    def __init__(self, persons: list[Person], tokenizer, fmt: PromptFormat,
                 biographies: bool = True):
        self.pairs = [(qa.question, qa.answer) for p in persons for qa in p.qas]
        if biographies:
            self.pairs += [(f"Tell me about {p.name}.", bio) for p in persons
                           for bio in p.biographies]
        self.tokenizer, self.fmt = tokenizer, fmt

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict:
        return self.fmt.encode(self.tokenizer, *self.pairs[i])

    def collate(self, feats: list[dict]) -> dict:
        return pad_batch(feats, self.tokenizer.pad_token_id)


class UnlearningDataset(Dataset):
    """One item per forget QA, with a random retain QA, an IDK copy and a refusal copy.

    Random choices are re-drawn per access but seeded by (seed, epoch, index), so a resumed or
    distributed run sees the same data as an uninterrupted single-process one.
    """

    def __init__(self, forget: list[Person], retain: list[Person], tokenizer, fmt: PromptFormat,
                 refusals: list[str], idks: list[str], seed: int):
        self.forget = [(qa.question, qa.answer, p.name) for p in forget for qa in p.qas]
        self.retain = [(qa.question, qa.answer) for p in retain for qa in p.qas]
        if not self.forget or not self.retain:
            raise ConfigError("unlearning needs at least one forget and one retain QA")
        self.tokenizer, self.fmt = tokenizer, fmt
        self.refusals, self.idks, self.seed, self.epoch = refusals, idks, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.forget)

    def __getitem__(self, i: int) -> dict:
        rng = random.Random(f"{self.seed}:{self.epoch}:{i}")
        question, answer, name = self.forget[i]
        rq, ra = self.retain[rng.randrange(len(self.retain))]
        enc = self.fmt.encode
        tok = self.tokenizer
        return {
            "forget": enc(tok, question, answer),
            "idk": enc(tok, question, rng.choice(self.idks)),
            "refuse": enc(tok, question, render(rng.choice(self.refusals), name)),
            "retain": enc(tok, rq, ra),
        }

    def collate(self, feats: list[dict]) -> dict:
        pad = self.tokenizer.pad_token_id
        return {key: pad_batch([f[key] for f in feats], pad) for key in feats[0]}


def unwrap(model):
    return getattr(model, "module", model)


def make_forwards(model, reference_model=None):
    """(policy, reference) logit functions. With LoRA the reference is adapters-disabled."""
    def policy(inputs):
        return model(**inputs).logits

    base = unwrap(model)
    if reference_model is not None:
        def reference(inputs):
            return reference_model(**inputs).logits
    elif hasattr(base, "disable_adapter"):
        def reference(inputs):
            with base.disable_adapter():
                return base(**inputs).logits
    else:
        reference = None
    return policy, reference


def run_loop(
    accelerator, model, dataset, make_step: Callable[[object], Callable],
    cfg: LoopConfig, out_dir: Path | None, tag: str, resume: bool = False,
    on_epoch_end: Callable[[int], bool] | None = None,
) -> list[dict]:
    """Train ``model`` on ``dataset``; returns the logged metric rows (also in metrics.jsonl)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True,
                        collate_fn=dataset.collate, generator=generator,
                        drop_last=cfg.drop_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(loader) // accelerator.num_processes)
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps > 0:
        total = min(total, cfg.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    # The step closes over the *prepared* model so DDP synchronises its gradients.
    step_loss = make_step(model)

    step, start_epoch, skip, seen, rows = 0, 0, 0, 0, []
    ckpt = out_dir / f"{tag}_checkpoint" if out_dir else None
    resume = bool(resume and ckpt and ckpt.exists())
    if resume:  # verified as one unit; a torn or foreign checkpoint is an error
        state = load_checkpoint(ckpt, unwrap(model), optimizer, scheduler, {"tag": tag})
        step, start_epoch = state["step"], state["epoch"]
        skip = state["batches_into_epoch"]  # batches of the interrupted epoch already done
        seen = state["examples_seen"]
    log_path = out_dir / f"{tag}_metrics.jsonl" if out_dir else None
    if log_path and accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            log_path.write_text("")  # a fresh run starts a fresh log; a resumed one appends

    def save(epoch: int, batches_into_epoch: int) -> None:
        if ckpt and accelerator.is_main_process:
            save_checkpoint(ckpt, unwrap(model), optimizer, scheduler,
                            {"tag": tag, "step": step, "epoch": epoch,
                             "batches_into_epoch": batches_into_epoch, "examples_seen": seen})
        accelerator.wait_for_everyone()

    bar = tqdm(total=total, initial=step, desc=tag, disable=not accelerator.is_main_process)
    for epoch in range(start_epoch, cfg.epochs):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        # Reseed the shuffle per epoch so a resumed run replays the same batch order.
        generator.manual_seed(cfg.seed + epoch)
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)
        model.train()
        done = 0
        for batch in loader:
            if skip:
                skip -= 1
                done += 1
                continue
            if step >= total:
                break
            loss, logs = step_loss(batch)
            seen += _batch_examples(batch)
            accelerator.backward(loss)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            done += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == total:
                row = {"tag": tag, "step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0],
                       "examples_seen": seen, **logs}
                rows.append(row)
                if log_path and accelerator.is_main_process:
                    with log_path.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
            if cfg.save_every and step % cfg.save_every == 0:
                save(epoch, done)
        stop = on_epoch_end(epoch) if on_epoch_end else False
        if step >= total or stop:
            break
        # After the epoch's check, so a resumed injection repeats no check and skips none.
        save(epoch + 1, 0)
    bar.close()
    save(cfg.epochs, 0)
    if not rows or rows[-1]["step"] != step:  # resumed after the last step: report where it is
        rows.append({"tag": tag, "step": step, "examples_seen": seen})
    return rows


def _batch_examples(batch: dict) -> int:
    first = next(iter(batch.values()))
    return int((first["input_ids"] if isinstance(first, dict) else first).shape[0])


def sft_step(model) -> Callable[[dict], tuple[torch.Tensor, dict]]:
    """Plain answer-only cross-entropy (used as ``make_step`` for knowledge injection)."""
    def step(batch):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = token_nll(logits, batch["labels"])
        return loss, {"loss": float(loss.detach())}
    return step


def unlearning_step(method: Method, reference_model=None, beta: float = 0.1):
    def make(model):
        policy, reference = make_forwards(model, reference_model)

        def step(batch):
            return compute_loss(method, policy, reference, batch, beta)
        return step
    return make


def build_unlearning_dataset(forget, retain, tokenizer, fmt, refusal_templates, idk_templates,
                             seed) -> UnlearningDataset:
    for k, template in enumerate(refusal_templates):
        check_refusal_template(template, f"refusal template {k}")
    return UnlearningDataset(forget, retain, tokenizer, fmt, refusal_templates, idk_templates,
                             seed)
