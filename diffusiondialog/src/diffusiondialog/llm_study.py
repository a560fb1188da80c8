"""The pretrained-backbone study (issue 21): training, latent diagnostics, decoding sweeps.

Both models (PrefixLM with and without the latent) see the same pairs in the same order for the
same steps, batch, optimizer and seed. Diagnostics answer "does the decoder use the latent?":
token NLL with the response's own z0 vs another example's (shuffled), the spread of z0, and an
InfoNCE estimate of I(z; response | context) with the decoder as the critic.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from diffusiondialog.chat_batching import collate_chat, prompt_ids, stop_id
from diffusiondialog.chat_decoding import ChatDecode, beam_one, sample_k
from diffusiondialog.data import Pair
from diffusiondialog.metrics import bleu_plato, response_suite
from diffusiondialog.model import token_nll
from diffusiondialog.prefix_lm import PrefixLM


def split_dialogues(pairs: Sequence[Pair], val: int) -> tuple[list[Pair], list[Pair]]:
    """(train, validation): the last ~`val` pairs, moved forward to a dialogue start (a pair
    whose context has one turn) so that no dialogue spans both parts."""
    cut = max(0, len(pairs) - val)
    while cut < len(pairs) and len(pairs[cut].context) != 1:
        cut += 1
    return list(pairs[:cut]), list(pairs[cut:])


def train_lm(model: PrefixLM, tok, pairs: list[Pair], steps: int, batch: int, lr: float,
             seed: int, lens: tuple[int, int], log: Path) -> float:
    """AdamW over the trainable parameters, linear warm-up (10 %) then constant; returns the
    wall time. Logs JSON lines to `log` (written fresh)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    warm = max(1, steps // 10)
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    t0 = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as f, tqdm(total=steps, desc=f"train latent={model.spec.use_latent}") as bar:
        for step in range(1, steps + 1):
            start = ((step - 1) * batch) % max(1, len(order) - batch)
            b = collate_chat(tok, [pairs[i] for i in order[start:start + batch]], *lens)
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, step / warm)
            losses = model(b, gen)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            rec = {"step": step, "elapsed_s": round(time.perf_counter() - t0, 1),
                   **{k: round(v.item(), 4) for k, v in losses.items()}}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{rec['loss']:.3f}")
    model.eval()
    return time.perf_counter() - t0


def _nll_given(model: PrefixLM, b: dict, latent: torch.Tensor | None) -> torch.Tensor:
    logits = model.logits(b["ids"], b["mask"], latent)
    return token_nll(logits[:, :-1], b["labels"][:, 1:])


def infonce_mi(log_lik: torch.Tensor) -> float:
    """InfoNCE lower bound on I(z; r | c) from log p(r_i | c_i, z_j) (rows i, columns j):
    mean_i [log p(r_i|z_i) - logsumexp_j log p(r_i|z_j) + log N]; at most log N."""
    n = log_lik.shape[0]
    return (log_lik.diag() - torch.logsumexp(log_lik, dim=1) + math.log(n)).mean().item()


@torch.no_grad()
def latent_diagnostics(model: PrefixLM, tok, pairs: list[Pair], lens: tuple[int, int],
                       n_mi: int = 16) -> dict:
    """NLL (nats/token) with own vs shuffled z0 and with a prior sample; z0 spread; the
    InfoNCE estimate over `n_mi` pairs (response-summed log-likelihoods); z0's max |value|
    (the scale a matched clamp uses)."""
    b = collate_chat(tok, pairs, *lens)
    _, _, z0 = model.encode(b["ids"], b["mask"], b["prompt_len"], b["last"])
    own, shuffled = _nll_given(model, b, z0), _nll_given(model, b, z0.roll(1, dims=0))
    m = min(n_mi, len(pairs))
    sub = {k: v[:m] for k, v in b.items()}
    lengths = (sub["labels"] != -100).sum(1).float()
    cols = []
    for j in range(m):  # column j: every response decoded with example j's latent
        nll = _nll_given(model, sub, z0[j:j + 1].expand(m, -1, -1))
        cols.append(-nll * lengths)
    log_lik = torch.stack(cols, dim=1)
    return {"pairs": len(pairs), "nll_own_z0": own.mean().item(),
            "nll_shuffled_z0": shuffled.mean().item(),
            "nll_gap_shuffled_minus_own": (shuffled - own).mean().item(),
            "nll_gap_se": (shuffled - own).std().item() / math.sqrt(len(pairs)),
            "z0_var_across_examples": z0.var(dim=0).mean().item(),
            "z0_abs_max": z0.abs().max().item(),
            "z0_abs_q999": z0.abs().flatten().quantile(0.999).item(),
            "infonce_mi_nats": infonce_mi(log_lik), "infonce_bound_log_n": math.log(m)}


@torch.no_grad()
def baseline_nll(model: PrefixLM, tok, pairs: list[Pair], lens: tuple[int, int]) -> float:
    return _nll_given(model, collate_chat(tok, pairs, *lens), None).mean().item()


@torch.no_grad()
def generate(model: PrefixLM, tok, contexts: list[tuple[str, ...]], k: int, s: ChatDecode,
             max_context: int, seed: int, latent_cfg: dict | None = None) -> list[list[str]]:
    """K responses per context. `latent_cfg` (DiffusionDialog): ddim_steps, clamp,
    latent_temperature; the K latents come from K different x_T."""
    gen = torch.Generator().manual_seed(seed)
    stop = stop_id(tok)
    out = []
    for ctx in contexts:
        p = prompt_ids(tok, ctx, max_context)
        latent = None
        if latent_cfg is not None:
            c = model.context(torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long))
            x_T = torch.randn((k, 1, model.d), generator=gen) * latent_cfg["latent_temperature"]
            latent = model.sample_latent(c.expand(k, -1, -1), torch.ones(k, len(p),
                                         dtype=torch.long), x_T, latent_cfg["ddim_steps"],
                                         "stride", latent_cfg["clamp"])
        if s.method == "beam":
            ids = [beam_one(model, p, stop, s, None if latent is None else latent[i:i + 1])
                   for i in range(k)]
        else:
            ids = sample_k(model, p, k, stop, s, latent, gen)
        out.append([tok.decode(x, skip_special_tokens=True).strip() for x in ids])
    return out


def score(samples: list[list[str]], refs: list[str]) -> dict:
    """response_suite plus the standard error of BLEU-1 over contexts (sentence-level)."""
    row = response_suite(samples, refs)
    per = [bleu_plato([s[0]], [r], 1) for s, r in zip(samples, refs, strict=True)]
    mean = sum(per) / len(per)
    var = sum((x - mean) ** 2 for x in per) / max(1, len(per) - 1)
    row["bleu1_se"] = math.sqrt(var / len(per))
    return row
