"""Reference decoding, scripted drafters and a small trained adapter for the tests."""

from __future__ import annotations

import math

import torch
from kangaroo.adapter import AdapterSpec, init_adapter
from kangaroo.data import Sample
from kangaroo.drafters import Drafter
from kangaroo.llama import LlamaLM
from kangaroo.schema import TrainConfig
from kangaroo.training import batch_indices, make_optimizer, sample_loss, target_features

_MEMO: dict[tuple, list[int]] = {}


@torch.no_grad()
def reference_greedy(model: LlamaLM, prompt: list[int], max_new: int,
                     eos: list[int] | None = None) -> list[int]:
    """Greedy decoding by full recomputation (no cache): the ground truth. Memoised per model
    object and prompt (a shorter request is a prefix of a longer one)."""
    key = (id(model), tuple(prompt))
    known = _MEMO.get(key, [])
    ids = list(prompt) + known
    while len(known) < max_new:
        tok = int(model(torch.tensor([ids]))[0, -1].argmax())
        known.append(tok)
        ids.append(tok)
    _MEMO[key] = known
    out = known[:max_new]
    if eos:
        cut = next((i for i, t in enumerate(out) if t in eos), None)
        out = out if cut is None else out[: cut + 1]
    return out


def peaked(tokens: list[int], vocab: int, conf: list[float] | float = 1.0) -> torch.Tensor:
    """Logits whose softmax puts probability ``conf`` on each token (rest spread evenly)."""
    confs = conf if isinstance(conf, list) else [conf] * len(tokens)
    rows = []
    for t, c in zip(tokens, confs, strict=True):
        c = min(c, 1 - 1e-6)
        row = torch.full((vocab,), math.log((1 - c) / (vocab - 1)))
        row[t] = math.log(c)
        rows.append(row)
    return torch.stack(rows)


class OracleDrafter(Drafter):
    """Replays the target's own greedy continuation: every draft is accepted."""

    def __init__(self, model: LlamaLM, prompt: list[int], max_new: int) -> None:
        self.seq = list(prompt) + reference_greedy(model, prompt, max_new + 16)
        self.vocab = model.cfg.vocab_size

    def _next(self, path: list[int]) -> int:
        n = len(path)
        if path == self.seq[:n] and n < len(self.seq):
            return self.seq[n]
        return 0

    def logits(self, feats, positions, tree, paths):  # noqa: ANN001, ANN201
        return peaked([self._next(p) for p in paths], self.vocab)


class WrongDrafter(OracleDrafter):
    """Always proposes a token the target will not pick (tau must be exactly 1)."""

    def _next(self, path: list[int]) -> int:
        return (super()._next(path) + 1) % self.vocab

    def logits(self, feats, positions, tree, paths):  # noqa: ANN001, ANN201
        rows = super().logits(feats, positions, tree, paths)
        for row, p in zip(rows, paths, strict=True):  # the right token is last, so no top-K sibling hits it
            row[OracleDrafter._next(self, p)] = -1e9
        return rows


class ScriptedConfidence(Drafter):
    """Top-1 confidences follow a script (the oracle's tokens), for the early-exit rule."""

    def __init__(self, oracle: OracleDrafter, confidences: list[float]) -> None:
        self.oracle, self.confs, self.calls = oracle, confidences, 0

    def logits(self, feats, positions, tree, paths):  # noqa: ANN001, ANN201
        c = self.confs[min(self.calls, len(self.confs) - 1)]
        self.calls += 1
        return peaked([self.oracle._next(p) for p in paths], self.oracle.vocab, c)


def greedy_corpus(model: LlamaLM, n: int, length: int, seed: int) -> list[Sample]:
    """The target's greedy continuations of random prompts (its 'own answers')."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        prompt = torch.randint(0, model.cfg.vocab_size, (4,), generator=gen).tolist()
        cont = reference_greedy(model, prompt, length)
        ids = torch.tensor(prompt + cont)
        mask = torch.zeros(len(ids), dtype=torch.bool)
        mask[len(prompt) - 1:] = True
        out.append(Sample(ids, mask))
    return out


def train_small_adapter(model: LlamaLM, exit_layer: int, steps: int = 60):  # noqa: ANN201
    data = target_features(model, greedy_corpus(model, 12, 16, seed=1), exit_layer)
    spec = AdapterSpec.for_target(model, "tiny", exit_layer)
    adapter = init_adapter(spec, model, seed=0)
    tc = TrainConfig(lr=3e-3, warmup_steps=0, max_steps=steps, batch_size=4)
    opt, sched = make_optimizer(adapter, tc)
    for step in range(steps):
        idx = batch_indices(len(data), 4, 0, step)
        loss = torch.stack([sample_loss(adapter, model.head_weight, data[i], 0.0)[0]
                            for i in idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return adapter.eval()
