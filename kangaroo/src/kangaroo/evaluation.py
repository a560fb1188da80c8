"""Benchmark runs: every method on the same prompts, interleaved per turn, one process.

Methods: ``vanilla`` (our AR loop), ``kangaroo`` / ``kangaroo_tree`` (adapter, chain / tree),
``early_exit`` / ``early_exit_tree`` (no adapter: exit feature -> final norm -> LM head),
``hf_generate`` and ``prompt_lookup`` (HF transformers on the same weights). Later turns of a
question are asked after vanilla's answer, so every method sees the same prompts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from kangaroo.adapter import Adapter
from kangaroo.assets import Target
from kangaroo.chat import answer_turns
from kangaroo.data import Question
from kangaroo.decode import Generation, generate
from kangaroo.drafters import AdapterDrafter, EarlyExitDrafter
from kangaroo.llama import LlamaLM
from kangaroo.schema import DecodeConfig

SPEC_METHODS = {"kangaroo": ("adapter", "chain"), "kangaroo_tree": ("adapter", "tree"),
                "early_exit": ("exit", "chain"), "early_exit_tree": ("exit", "tree")}


def to_hf(model: LlamaLM):  # noqa: ANN201 - transformers type, imported lazily
    """The same weights in HF ``LlamaForCausalLM`` (for the HF peers)."""
    from transformers import LlamaConfig as HFConfig
    from transformers import LlamaForCausalLM

    c = model.cfg
    rope = {"rope_type": "default", "rope_theta": c.rope_theta, **(c.rope_scaling or {})}
    hf_cfg = HFConfig(vocab_size=c.vocab_size, hidden_size=c.hidden_size,
                      intermediate_size=c.intermediate_size,
                      num_hidden_layers=c.num_hidden_layers,
                      num_attention_heads=c.num_attention_heads,
                      num_key_value_heads=c.num_key_value_heads, head_dim=c.head_dim,
                      rms_norm_eps=c.rms_norm_eps, rope_parameters=rope,
                      tie_word_embeddings=c.tie_word_embeddings,
                      max_position_embeddings=c.max_position_embeddings,
                      attention_bias=c.attention_bias, mlp_bias=c.mlp_bias,
                      eos_token_id=c.eos_token_id, bos_token_id=c.bos_token_id)
    hf = LlamaForCausalLM(hf_cfg).to(model.embed_tokens.weight.dtype).eval()
    state = {("model." + k if not k.startswith("lm_head") else k): v
             for k, v in model.state_dict().items()}
    hf.load_state_dict(state, strict=False)
    if c.tie_word_embeddings:
        hf.tie_weights()
    return hf


@dataclass
class MethodStats:
    tokens: int = 0
    seconds: float = 0.0
    cycles: int = 0
    drafted: int = 0
    draft_s: float = 0.0
    verify_s: float = 0.0
    identical: int = 0
    turns: int = 0
    outputs: list = field(default_factory=list)

    def add(self, g: Generation, same_as_vanilla: bool | None) -> None:
        self.tokens += len(g.tokens)
        self.seconds += g.total_s
        self.cycles += len(g.accepted)
        self.drafted += sum(g.drafted)
        self.draft_s += g.draft_s
        self.verify_s += g.verify_s
        self.turns += 1
        self.identical += int(bool(same_as_vanilla))

    def summary(self) -> dict:
        tau = self.tokens / self.cycles if self.cycles else None
        draft_len = self.drafted / self.cycles if self.cycles else None
        return {
            "tokens": self.tokens, "seconds": round(self.seconds, 3),
            "tokens_per_s": round(self.tokens / self.seconds, 3) if self.seconds else None,
            "tau": round(tau, 4) if tau else None,
            "compression_rate": round(tau, 4) if tau else None,
            "mean_draft_length": round(draft_len, 4) if draft_len is not None else None,
            "draft_acceptance": round((tau - 1) / draft_len, 4) if draft_len else None,
            "time_split": {"draft": round(self.draft_s / self.seconds, 4),
                           "verify": round(self.verify_s / self.seconds, 4),
                           "other": round(1 - (self.draft_s + self.verify_s) / self.seconds, 4)}
            if self.seconds and self.cycles else None,
            "identity_rate": round(self.identical / self.turns, 4) if self.turns else None,
            "turns": self.turns,
        }


class Runner:
    def __init__(self, target: Target, exit_layer: int, adapter: Adapter | None,
                 dc: DecodeConfig, hf_peers: bool) -> None:
        self.target, self.exit, self.adapter, self.dc = target, exit_layer, adapter, dc
        self.hf = to_hf(target.model) if hf_peers else None

    def run(self, method: str, prompt: list[int], dc: DecodeConfig,
            seed: int) -> Generation:
        model, eos = self.target.model, self.target.eos_ids
        gen = torch.Generator().manual_seed(seed)
        if method == "vanilla":
            return generate(model, self.exit, None, prompt, dc, eos_ids=eos, generator=gen)
        if method in SPEC_METHODS:
            kind, mode = SPEC_METHODS[method]
            drafter = AdapterDrafter(self.adapter, model) if kind == "adapter" \
                else EarlyExitDrafter(model)
            return generate(model, self.exit, drafter, prompt, dc, mode, eos, gen)
        return self._hf(method, prompt, dc, seed)

    @torch.no_grad()
    def _hf(self, method: str, prompt: list[int], dc: DecodeConfig, seed: int) -> Generation:
        torch.manual_seed(seed)
        kw = {"max_new_tokens": dc.max_new_tokens, "do_sample": dc.temperature > 0,
              "eos_token_id": self.target.eos_ids or None, "pad_token_id": 0}
        if dc.temperature > 0:
            kw.update(temperature=dc.temperature, top_k=dc.top_k or None, top_p=dc.top_p)
        if method == "prompt_lookup":
            kw["prompt_lookup_num_tokens"] = 10
        t0 = time.perf_counter()
        out = self.hf.generate(torch.tensor([prompt]), **kw)
        seconds = time.perf_counter() - t0
        g = Generation(out[0, len(prompt):].tolist())
        g.total_s = seconds
        return g


def evaluate(runner: Runner, questions: list[Question], methods: list[str], dc: DecodeConfig,
             max_turns: int, seed: int, progress=None) -> dict[str, MethodStats]:  # noqa: ANN001
    stats = {m: MethodStats() for m in methods}
    tok = runner.target.tokenizer
    if tok is None:
        raise ValueError(f"model.spec {runner.target.name!r} has no tokenizer; questions need "
                         "a chat template")
    for qi, q in enumerate(questions):
        def respond(turn: int, ids: list[int], q=q, qi=qi) -> list[int]:  # noqa: ANN001
            s = seed * 100_003 + qi * 101 + turn
            results = {m: runner.run(m, ids, dc, s) for m in methods}
            ref = results["vanilla"].tokens
            for m, g in results.items():
                same = g.tokens == ref if dc.temperature == 0 else None
                stats[m].add(g, same)
                stats[m].outputs.append({"question_id": q.question_id, "turn": turn,
                                         "tokens": g.tokens, "tau": round(g.tau, 4)})
            if progress is not None:
                progress.update(1)
            return ref

        answer_turns(tok, q.turns[:max_turns], respond, runner.target.eos_ids)
    return stats
