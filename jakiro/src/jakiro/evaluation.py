"""Benchmark runner: every method on the same prompts, interleaved per question.

Turn k > 1 of a multi-turn question (MT-bench) is built from vanilla's own answers to the
previous turns, so all methods see identical prompts (at T=0 lossless methods would produce
those answers anyway; at T>0 this keeps the prompt set fixed across methods).
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import torch

from jakiro.data import Question
from jakiro.decode import DecodeConfig, DecodeResult, generate
from jakiro.drafters import Drafter


@dataclass
class Method:
    name: str
    make: Callable[[], Drafter]  # a fresh drafter per generation
    tree_tokens: int = 1


@dataclass
class MethodStats:
    results: list[DecodeResult] = field(default_factory=list)
    identical: list[bool] = field(default_factory=list)
    divergences: list[dict] = field(default_factory=list)  # greedy only, see first_divergence

    def summary(self, max_depth: int = 8) -> dict:
        rs = self.results
        cycles = sum(r.cycles for r in rs)
        emitted = sum(a + 1 for r in rs for a in r.accepted)
        total_s = sum(r.total_s for r in rs)
        tps = [len(r.tokens) / r.total_s for r in rs if r.total_s > 0]
        alpha = []
        for k in range(1, max_depth + 1):
            # alpha_k: P(depth k accepted | depth k-1 accepted and the tree reached depth k).
            den = sum(1 for r in rs for a, d in zip(r.accepted, r.tree_depth, strict=True)
                      if a >= k - 1 and d >= k)
            num = sum(1 for r in rs for a, d in zip(r.accepted, r.tree_depth, strict=True)
                      if a >= k and d >= k)
            if den:
                alpha.append(num / den)
        return {
            "generations": len(rs),
            "new_tokens": sum(len(r.tokens) for r in rs),
            "cycles": cycles,
            "tau": emitted / cycles if cycles else None,
            "tokens_per_s": statistics.mean(tps) if tps else None,
            "tokens_per_s_pooled": sum(len(r.tokens) for r in rs) / total_s if total_s else None,
            "alpha_k": alpha,
            "mean_tree_size": statistics.mean(s for r in rs for s in r.tree_size)
            if cycles else None,
            "draft_forwards_per_cycle": sum(r.draft_forwards for r in rs) / cycles if cycles
            else None,
            "time_split": {
                "prefill": sum(r.prefill_s for r in rs) / total_s if total_s else None,
                "draft": sum(r.draft_s for r in rs) / total_s if total_s else None,
                "verify": sum(r.verify_s for r in rs) / total_s if total_s else None,
                "overhead": sum(r.overhead_s for r in rs) / total_s if total_s else None,
            },
            "divergences": self.divergences,
            "identity_rate": (sum(self.identical) / len(self.identical)) if self.identical
            else None,
        }


def chat_prompt(tokenizer, history: list[dict]) -> torch.Tensor:  # noqa: ANN001
    enc = tokenizer.apply_chat_template(history, add_generation_prompt=True, return_tensors="pt")
    ids = enc if torch.is_tensor(enc) else enc["input_ids"]
    return ids[0]


def answer_turns(
    tokenizer,  # noqa: ANN001 - a HF tokenizer with a chat template
    turns: list[str],
    respond: Callable[[int, torch.Tensor], list[int]],
    eos_ids: Collection[int],
    strip: bool = False,
) -> list[dict]:
    """The chat history of ``turns``, each answered by ``respond(turn_index, prompt)`` (the
    generated ids): a turn's prompt holds the answers to the earlier turns, stop ids dropped."""
    eos = set(eos_ids)
    history: list[dict] = []
    for ti, turn in enumerate(turns):
        history.append({"role": "user", "content": turn})
        tokens = respond(ti, chat_prompt(tokenizer, history))
        text = tokenizer.decode([t for t in tokens if t not in eos], skip_special_tokens=True)
        history.append({"role": "assistant", "content": text.strip() if strip else text})
    return history


@torch.no_grad()
def first_divergence(model, prompt: torch.Tensor, ref: list[int],  # noqa: ANN001 - LlamaLM
                     other: list[int]) -> dict | None:
    """Where a greedy output first differs from vanilla's, and the top-1 - top-2 logit margin
    of one fresh forward of vanilla's prefix there (same precision), plus the gap from the top
    logit to the token the other method emitted. In bf16 a divergence at a margin of zero or
    one rounding step is a near-tie broken differently by another summation order (a 1-token
    step, a tree forward, this fresh forward), not a bug."""
    i = next((j for j, (a, b) in enumerate(zip(ref, other, strict=False)) if a != b), None)
    if i is None:
        return None if len(ref) == len(other) else {"index": min(len(ref), len(other)),
                                                     "margin": None, "reason": "length"}
    ids = torch.cat([prompt.flatten().cpu(), torch.tensor(ref[:i], dtype=torch.long)])
    dev = model.embed_tokens.weight.device
    _, logits = model(ids[None].to(dev), logits="last")
    top = logits[0, -1].float().topk(2)
    return {"index": i, "ref_token": ref[i], "token": other[i],
            "margin": float(top.values[0] - top.values[1]),
            "logit_gap_to_token": float(top.values[0] - logits[0, -1, other[i]].float())}


def _run_turn(
    target,  # noqa: ANN001 - assets.Target
    prompt: torch.Tensor,
    methods: list[Method],
    extra: dict[str, Callable[[torch.Tensor], tuple[list[int], float]]],
    stats: dict[str, MethodStats],
    dcfg: DecodeConfig,
    seed: int,
) -> list[int]:
    """Every method and peer on one prompt; returns the first method's (vanilla's) tokens."""
    ref: list[int] = []
    for i, m in enumerate(methods):
        res = generate(target.model, m.make(), prompt, dcfg, m.tree_tokens, seed=seed)
        stats[m.name].results.append(res)
        if i == 0:
            ref = res.tokens
        stats[m.name].identical.append(res.tokens == ref)
        if res.tokens != ref and dcfg.sampling.greedy:
            stats[m.name].divergences.append(first_divergence(target.model, prompt, ref,
                                                              res.tokens))
    for name, fn in extra.items():
        toks, secs = fn(prompt)
        stats[name].results.append(DecodeResult(tokens=toks, total_s=secs))
        stats[name].identical.append(toks == ref)
        if toks != ref and dcfg.sampling.greedy:
            stats[name].divergences.append(first_divergence(target.model, prompt, ref, toks))
    return ref


def run_benchmark(
    target,  # noqa: ANN001 - assets.Target
    questions: list[Question],
    methods: list[Method],
    dcfg: DecodeConfig,
    seed: int = 0,
    extra: dict[str, Callable[[torch.Tensor], tuple[list[int], float]]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, MethodStats]:
    """Run vanilla first (it defines later turns), then every method, question by question.

    ``extra`` peers (HF generate, prompt lookup) get the same prompts and return
    (tokens, seconds). Identity is measured against vanilla per generation.
    """
    if methods[0].name != "vanilla":
        raise ValueError("run_benchmark: the first method must be 'vanilla' (the reference)")
    stats = {m.name: MethodStats() for m in methods}
    extra = extra or {}
    stats.update({name: MethodStats() for name in extra})
    for qi, q in enumerate(questions):

        def respond(ti: int, prompt: torch.Tensor, qi: int = qi) -> list[int]:
            ref = _run_turn(target, prompt, methods, extra, stats, dcfg, seed + 1000 * qi + ti)
            if progress:
                progress(f"q{qi} turn{ti}: {len(ref)} tokens")
            return ref

        answer_turns(target.tokenizer, q.turns, respond, dcfg.eos_ids)
    return stats


def hf_peers(model_dir: str, max_new_tokens: int, eos_ids: list[int], lookup_tokens: int = 10,
             dtype: torch.dtype = torch.float32) -> dict[str, Callable]:
    """HF ``generate`` greedy and HF prompt-lookup decoding on the same weights and precision."""
    from transformers import LlamaForCausalLM

    hf = LlamaForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()

    def run(kwargs: dict) -> Callable:
        @torch.no_grad()
        def fn(prompt: torch.Tensor) -> tuple[list[int], float]:
            t0 = time.perf_counter()
            out = hf.generate(prompt[None], max_new_tokens=max_new_tokens, do_sample=False,
                              eos_token_id=eos_ids, pad_token_id=eos_ids[0] if eos_ids else 0,
                              **kwargs)
            secs = time.perf_counter() - t0
            return out[0, prompt.numel():].tolist(), secs
        return fn

    return {"hf_generate": run({}),
            "hf_prompt_lookup": run({"prompt_lookup_num_tokens": lookup_tokens})}


def int8_vanilla(model_fp32: torch.nn.Module, dcfg: DecodeConfig,
                 seed: int) -> Callable[[torch.Tensor], tuple[list[int], float]]:
    """Vanilla decoding on an int8 dynamic-quantized copy of the target (every nn.Linear): a
    lossy reference row, as fast CPU inference would be served without speculation."""
    with warnings.catch_warnings():  # torch.ao quantization is deprecated, still in torch 2.14
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        q = torch.ao.quantization.quantize_dynamic(model_fp32, {torch.nn.Linear},
                                                   dtype=torch.qint8)

    def fn(prompt: torch.Tensor) -> tuple[list[int], float]:
        res = generate(q, Drafter(), prompt, dcfg, seed=seed)
        return res.tokens, res.total_s

    return fn
