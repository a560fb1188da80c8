"""K responses per context: sample K latents with DDIM, decode each; timed per stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer

from diffusiondialog.batching import encode_contexts
from diffusiondialog.decoding import beam_search, greedy
from diffusiondialog.model import DialogModel
from diffusiondialog.schema import DecodeSchema
from diffusiondialog.tokenizer import decode

# The eval.decode section's schema is the decoding settings object itself.
DecodeSettings = DecodeSchema


@dataclass
class Timing:
    latent_s: float = 0.0
    decode_s: float = 0.0
    responses: int = 0
    extra: dict = field(default_factory=dict)

    def per_response(self) -> dict[str, float]:
        n = max(self.responses, 1)
        return {"latent_ms_per_response": 1000 * self.latent_s / n,
                "decode_ms_per_response": 1000 * self.decode_s / n}


def _decode(model, enc, mask, latent, s: DecodeSettings, generator):
    if s.method == "beam":
        return beam_search(model, enc, mask, latent, s.beams, s.max_len, s.min_len)
    top_p = s.top_p if s.method == "nucleus" else None
    return greedy(model, enc, mask, latent, s.max_len, s.min_len, top_p, generator)


@torch.no_grad()
def generate(model: DialogModel, tok: Tokenizer, contexts: list[list[str]], k: int,
             settings: DecodeSettings, seed: int, max_source: int = 64, batch_size: int = 32,
             timing: Timing | None = None) -> list[list[str]]:
    """Returns, per context, k responses. Without a latent, diversity comes only from sampling
    (nucleus); with one, from the K different x_T."""
    model.eval()
    timing = timing if timing is not None else Timing()
    gen = torch.Generator().manual_seed(seed)
    out: list[list[str]] = []
    spec = model.spec
    for start in range(0, len(contexts), batch_size):
        chunk = contexts[start:start + batch_size]
        feats = encode_contexts(tok, chunk, max_source, spec.max_turn)
        enc = model.encode_context(feats["context_ids"], feats["context_mask"], feats["roles"],
                                   feats["turns"])
        # Repeat each context K times so the K samples are decoded in one batch.
        enc_k = enc.repeat_interleave(k, 0)
        mask_k = feats["context_mask"].repeat_interleave(k, 0)
        latent = None
        t0 = time.perf_counter()
        if spec.use_latent:
            x_T = torch.randn(model.latent_shape(enc_k.shape[0]), generator=gen)
            latent = model.sample_latent(enc_k, mask_k, x_T, settings.ddim_steps,
                                         settings.spacing, settings.clamp)
        t1 = time.perf_counter()
        ids = _decode(model, enc_k, mask_k, latent, settings, gen)
        timing.latent_s += t1 - t0
        timing.decode_s += time.perf_counter() - t1
        timing.responses += len(ids)
        texts = [decode(tok, row) for row in ids]
        out += [texts[i * k:(i + 1) * k] for i in range(len(chunk))]
    return out
