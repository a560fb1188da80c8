"""The proxy model: a copy of the target fine-tuned on (wrapped) pseudo-member texts.

Paper schedule: 2 epochs, the whole pseudo-member set as ONE batch, a large constant LR, AdamW,
loss on every token including the template -> exactly ``epochs`` optimizer steps, which imprint
the pseudo-members strongly. ``gentle``: mini-batches of ``batch_size`` (default 8) at the same
constant LR, i.e. epochs * ceil(n / batch_size) smaller steps. LoRA (peft) is an option.
"""

from __future__ import annotations

import copy
import math

import torch

from probing_mia.config import ProxyConfig
from probing_mia.model import encode
from probing_mia.training import batch_order, pad_batch, summed_nll

GENTLE_BATCH = 8


def proxy_batch_size(cfg: ProxyConfig, n: int) -> int:
    if cfg.batch_size is not None:
        return cfg.batch_size
    return n if cfg.schedule == "paper" else GENTLE_BATCH


def expected_steps(cfg: ProxyConfig, n: int) -> int:
    return cfg.epochs * math.ceil(n / proxy_batch_size(cfg, n))


def _with_lora(model, r: int):
    from peft import LoraConfig, get_peft_model  # optional extra: pip install '.[lora]'

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    return get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets,
                                            lora_dropout=0.0))


def finetune_proxy(target, tokenizer, texts: list[str], cfg: ProxyConfig, max_length: int,
                   seed: int) -> tuple[torch.nn.Module, int]:
    """(proxy, optimizer steps taken); ``texts`` are already wrapped in the template."""
    proxy = copy.deepcopy(target)
    if cfg.lora:
        proxy = _with_lora(proxy, cfg.lora_r)
    proxy.train()
    data = [encode(tokenizer, t, max_length) for t in texts]
    batch = proxy_batch_size(cfg, len(data))
    params = [p for p in proxy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)  # constant LR
    steps = 0
    for epoch in range(cfg.epochs):
        for indices in batch_order(len(data), batch, seed, epoch):
            ids, mask = pad_batch([data[i] for i in indices], tokenizer.pad_token_id)
            nll, count = summed_nll(proxy, ids, mask)
            optimizer.zero_grad(set_to_none=True)
            (nll / count).backward()
            optimizer.step()
            steps += 1
    if cfg.lora:
        proxy = proxy.merge_and_unload()
    proxy.eval()
    return proxy, steps
