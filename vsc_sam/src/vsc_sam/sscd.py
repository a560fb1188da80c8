"""SSCD-style self-supervised copy-detection descriptor (Pizzi et al., CVPR 2022), at CPU scale.

Two independently edited views of the same training frame are positives, every other frame of the
batch is a negative (InfoNCE / NT-Xent over 2N embeddings), plus the KoLeo differential-entropy
regulariser ``-1/n sum_i log min_j ||z_i - z_j||`` that spreads descriptors apart (what SSCD adds
to SimCLR). The augmentation is the benchmark's own edit library (``edits.py``) with raised
probabilities, so the descriptor is trained to be invariant to exactly the copy edits.

The network is a small from-scratch CNN (four stride-2 conv blocks, GeM pooling, linear
projection, L2 normalisation). EfficientNet-Lite0 fine-tuning was measured at 2.6-3.7 s per
64-image step on one shared CPU thread versus 0.6-1.1 s for this CNN, too slow for the bench's
time budget (README Deviations).

Training uses frames of the TRAINING split only; ``train_sscd`` refuses any video id listed in
``forbidden_ids`` (the test split) and records the ids it used in ``state.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vsc_sam.checkpoint import load_model_weights, read_state, save_checkpoint
from vsc_sam.descriptors import preprocess
from vsc_sam.edits import EDIT_PROBABILITIES, sample_edit_chain
from vsc_sam.schema import bounded


@dataclass
class SSCDConfig:
    width: int = bounded(32, low=1)  # channels of the first block; doubled per block (max 8x)
    dim: int = bounded(128, low=1)  # output descriptor dimension
    input_size: int = bounded(64, low=16)
    steps: int = bounded(300, low=1)
    batch_size: int = bounded(48, low=2)  # frames per step -> 2 * batch_size views
    lr: float = bounded(2e-3, above=0.0)
    weight_decay: float = bounded(1e-4, low=0.0)
    temperature: float = bounded(0.1, above=0.0)
    koleo_weight: float = bounded(1.0, low=0.0)
    edit_boost: float = bounded(2.0, low=0.0)  # edit probability = min(0.9, boost * benchmark's)
    seed: int = 0
    log_every: int = bounded(20, low=1)


class GeM(nn.Module):
    """Generalised-mean pooling (p = 3), as in SSCD."""

    def __init__(self, p: float = 3.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=1e-6).pow(self.p).mean((2, 3)).pow(1 / self.p)


class SSCDNet(nn.Module):
    def __init__(self, width: int = 32, dim: int = 128):
        super().__init__()
        chans = [3] + [width * min(2**i, 8) for i in range(4)]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            layers += [
                nn.Conv2d(cin, cout, 3, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = GeM()
        self.head = nn.Linear(chans[-1], dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.pool(self.features(x))), dim=-1)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent over the 2N views: view i's positive is its twin, the other 2N - 2 are negatives.

    ``z1[i]`` and ``z2[i]`` are the two views of frame i; inputs are used as given (normalise
    first for cosine similarity)."""
    if z1.shape != z2.shape or len(z1) < 1:
        raise ValueError(f"info_nce needs two equal non-empty batches, got {z1.shape}, {z2.shape}")
    z = torch.cat([z1, z2])
    n = len(z1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


def koleo(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Kozachenko-Leonenko entropy regulariser: ``-mean_i log(min_{j != i} ||z_i - z_j|| + eps)``."""
    if len(z) < 2:
        raise ValueError(f"koleo needs >= 2 points, got {len(z)}")
    dist = torch.cdist(z, z)
    dist = dist + torch.diag(torch.full((len(z),), float("inf"), device=z.device))
    return -torch.log(dist.min(1).values + eps).mean()


def sscd_loss(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, koleo_weight: float
) -> tuple[torch.Tensor, dict]:
    nce = info_nce(z1, z2, temperature)
    kol = koleo(torch.cat([z1, z2]))
    return nce + koleo_weight * kol, {"info_nce": float(nce.detach()), "koleo": float(kol.detach())}


def training_edit_probabilities(boost: float) -> dict[str, float]:
    return {k: min(0.9, boost * p) for k, p in EDIT_PROBABILITIES.items()}


class ViewSampler:
    """Batches of (view1, view2) built from training frames with the benchmark edit library.

    One frame per distinct video per batch (neighbouring frames of a video are near-duplicates
    and would be false negatives)."""

    def __init__(self, videos: dict[str, np.ndarray], cfg: SSCDConfig, seed: int):
        if len(videos) < 2:
            raise ValueError(f"SSCD training needs >= 2 training videos, got {len(videos)}")
        self.ids = sorted(videos)
        self.videos = videos
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.probs = training_edit_probabilities(cfg.edit_boost)

    def _frame(self, vid: str) -> np.ndarray:
        frames = self.videos[vid]
        return frames[int(self.rng.integers(len(frames)))]

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = min(self.cfg.batch_size, len(self.ids))
        chosen = self.rng.choice(len(self.ids), n, replace=False)
        views: tuple[list, list] = ([], [])
        for idx in chosen:
            frame = self._frame(self.ids[idx])
            for out in views:
                background = self._frame(self.ids[int(self.rng.integers(len(self.ids)))])
                chain = sample_edit_chain(self.rng, self.probs)
                out.append(chain.apply(frame, background, int(self.rng.integers(1 << 20))))
        return (
            preprocess(views[0], self.cfg.input_size),
            preprocess(views[1], self.cfg.input_size),
        )


def check_no_leakage(train_ids, forbidden_ids) -> None:
    overlap = sorted(set(train_ids) & set(forbidden_ids))
    if overlap:
        raise ValueError(
            f"SSCD training videos overlap the held-out split ({len(overlap)} ids, e.g. "
            f"{overlap[:3]}); train on the training split only"
        )


def train_sscd(
    videos: dict[str, np.ndarray],
    cfg: SSCDConfig,
    out_dir: str | Path | None = None,
    forbidden_ids=(),
    progress: bool = True,
) -> tuple[SSCDNet, list[dict]]:
    """Train the descriptor on ``videos`` (training split only); returns the model (eval mode)
    and the logged metrics. Saves ``model.safetensors`` + ``state.json`` to ``out_dir``."""
    check_no_leakage(videos, forbidden_ids)
    torch.manual_seed(cfg.seed)
    model = SSCDNet(cfg.width, cfg.dim)
    optimizer = torch.optim.AdamW(model.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))
    )
    sampler = ViewSampler(videos, cfg, cfg.seed)
    log: list[dict] = []
    start = time.perf_counter()
    model.train()
    for step in range(1, cfg.steps + 1):
        v1, v2 = sampler.batch()
        z = model(torch.cat([v1, v2]))
        loss, parts = sscd_loss(z[: len(v1)], z[len(v1) :], cfg.temperature, cfg.koleo_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step == 1 or step % cfg.log_every == 0 or step == cfg.steps:
            entry = {
                "step": step,
                "loss": float(loss.detach()),
                **parts,
                "s": time.perf_counter() - start,
            }
            log.append(entry)
            if progress:
                print(f"[sscd] {json.dumps(entry)}", flush=True)
    model.eval()
    if out_dir is not None:
        config = {"sscd": asdict(cfg), "train_video_ids": sorted(videos), "log": log}
        save_checkpoint(out_dir, model, optimizer, cfg.steps, config)
    return model, log


def load_sscd(folder: str | Path) -> tuple[SSCDNet, SSCDConfig]:
    state = read_state(folder)
    if state is None:
        raise FileNotFoundError(f"{folder}: no SSCD checkpoint (state.json)")
    cfg = SSCDConfig(**state["config"]["sscd"])
    model = SSCDNet(cfg.width, cfg.dim)
    load_model_weights(folder, model)
    return model.eval(), cfg


@torch.no_grad()
def sscd_features(
    frames: np.ndarray, model: SSCDNet, input_size: int, batch_size: int = 128
) -> np.ndarray:
    model.eval()
    out = [
        model(preprocess(frames[i : i + batch_size], input_size)).numpy()
        for i in range(0, len(frames), batch_size)
    ]
    return np.concatenate(out).astype(np.float32)


def training_videos(bench) -> dict[str, np.ndarray]:
    """Training-split frames for SSCD: all references plus the queries without copies (frames of
    copied query segments would be unlabelled near-duplicates of reference frames)."""
    positive = {m.query_id for m in bench.ground_truth}
    return {
        **bench.refs,
        **{q: v for q, v in bench.queries.items() if q not in positive},
    }
