"""Teacher-forced target features, cached as resumable fp16 safetensors shards."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from jakiro.atomic import write_text_atomic
from jakiro.data import Sample
from jakiro.llama import LlamaLM


@dataclass
class FeatureSeq:
    input_ids: torch.Tensor  # [T]
    loss_mask: torch.Tensor  # [T]
    hidden: torch.Tensor  # [T, d] final post-norm features (fp16 on disk)


def store_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


@torch.no_grad()
def build_feature_store(
    target: LlamaLM, samples: list[Sample], out: Path, shard_size: int = 32
) -> Path:
    """Run the target over ``samples`` and write shards; finished shards are skipped (resume).

    Each shard also records how often each token is the target's argmax, which gives the
    frequency order for the draft-time vocabulary subset.
    """
    out.mkdir(parents=True, exist_ok=True)
    shards = [samples[i : i + shard_size] for i in range(0, len(samples), shard_size)]
    bar = tqdm(total=sum(x.input_ids.numel() for x in samples), desc="target features",
               unit="tok")
    for s, shard in enumerate(shards):
        path = out / f"shard_{s:05d}.safetensors"
        if path.exists():
            bar.update(sum(x.input_ids.numel() for x in shard))
            continue
        counts = torch.zeros(target.cfg.vocab_size, dtype=torch.long)
        ids, masks, hids, lens = [], [], [], []
        for smp in shard:
            h, logits = target(smp.input_ids[None])
            counts += torch.bincount(logits[0].argmax(-1), minlength=counts.numel())
            ids.append(smp.input_ids)
            masks.append(smp.loss_mask)
            hids.append(h[0].half())
            lens.append(smp.input_ids.numel())
            bar.update(smp.input_ids.numel())
        _atomic_save(
            {"input_ids": torch.cat(ids), "loss_mask": torch.cat(masks),
             "hidden": torch.cat(hids), "lengths": torch.tensor(lens), "argmax_counts": counts},
            path,
        )
    bar.close()
    write_text_atomic(out / "done.json", json.dumps({"shards": len(shards)}))
    return out


def load_feature_store(path: Path) -> tuple[list[FeatureSeq], torch.Tensor]:
    files = sorted(path.glob("shard_*.safetensors"))
    if not files:
        raise FileNotFoundError(f"feature store {path}: no shard_*.safetensors files")
    seqs: list[FeatureSeq] = []
    counts = None
    for f in files:
        try:
            t = load_file(str(f))
        except (SafetensorError, OSError) as e:
            raise ValueError(f"{f}: unreadable feature shard ({e}); delete the folder {path} "
                             "and rerun to recompute the features") from e
        missing = {"input_ids", "loss_mask", "hidden", "lengths", "argmax_counts"} - set(t)
        if missing:
            raise ValueError(f"{f}: feature shard lacks {sorted(missing)}; delete the folder "
                             f"{path} and rerun to recompute the features")
        counts = t["argmax_counts"] if counts is None else counts + t["argmax_counts"]
        start = 0
        for n in t["lengths"].tolist():
            sl = slice(start, start + n)
            seqs.append(FeatureSeq(t["input_ids"][sl], t["loss_mask"][sl], t["hidden"][sl]))
            start += n
    return seqs, counts


def draft_vocab(counts: torch.Tensor, token_counts: torch.Tensor, size: int) -> torch.Tensor:
    """The ``size`` tokens most often predicted or seen, sorted by id (0 = full vocabulary)."""
    if size <= 0 or size >= counts.numel():
        return torch.arange(counts.numel())
    score = counts.double() + 0.5 * token_counts.double()
    return torch.sort(score.topk(size).indices).values


def collate(seqs: list[FeatureSeq]) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padded positions get loss_mask 0 (causal attention ignores them)."""
    t = max(s.input_ids.numel() for s in seqs)
    b, d = len(seqs), seqs[0].hidden.shape[-1]
    ids = torch.zeros(b, t, dtype=torch.long)
    mask = torch.zeros(b, t)
    hid = torch.zeros(b, t, d)
    for i, s in enumerate(seqs):
        n = s.input_ids.numel()
        ids[i, :n], mask[i, :n], hid[i, :n] = s.input_ids, s.loss_mask.float(), s.hidden.float()
    return {"input_ids": ids, "loss_mask": mask, "hidden": hid}
