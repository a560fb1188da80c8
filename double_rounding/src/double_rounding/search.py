"""SubNet search: per-layer bit-widths by an integer linear program (scipy.optimize.milp, HiGHS).

Objective (HAWQ-V3 style, a documented deviation from the printed Sum (t_l / n_l) * b_l, which
would push low bits onto sensitive layers):  minimise Sum_l Sum_b x_lb * t_l * ||Q_b(W_l) - W_l||^2
with t_l = Tr(H_l) / n_l, subject to one choice per layer and any of the budgets
  average bits  Sum x_lb * b = omega * L        (equality, as in the paper)
  model size    Sum x_lb * b * n_l <= size_bits
  BitOPs        Sum x_lb * b * b * MAC_l <= bitops (weights and activations share b).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import nn


@dataclass
class SearchProblem:
    bits: list[int]
    cost: np.ndarray  # (L, K) objective coefficient of layer l at bits[k]
    params: np.ndarray  # (L,) parameter counts n_l
    macs: np.ndarray  # (L,) multiply-accumulates per input

    def __post_init__(self) -> None:
        self.cost = np.asarray(self.cost, dtype=float)
        self.params = np.asarray(self.params, dtype=float)
        self.macs = np.asarray(self.macs, dtype=float)
        L, K = self.cost.shape
        if K != len(self.bits) or self.params.shape != (L,) or self.macs.shape != (L,):
            raise ValueError(f"search problem shapes disagree: cost {self.cost.shape}, bits "
                             f"{len(self.bits)}, params {self.params.shape}, macs {self.macs.shape}")

    def metrics(self, assignment: list[int]) -> dict[str, float]:
        b = np.asarray(assignment, dtype=float)
        idx = [self.bits.index(x) for x in assignment]
        return {"objective": float(self.cost[np.arange(len(idx)), idx].sum()),
                "avg_bits": float(b.mean()), "size_bits": float((b * self.params).sum()),
                "bitops": float((b * b * self.macs).sum())}

    def feasible(self, assignment: list[int], avg_bits: float | None, size_bits: float | None,
                 bitops: float | None, fixed: dict[int, int] | None = None) -> bool:
        m = self.metrics(assignment)
        L = len(assignment)
        return ((avg_bits is None or abs(m["avg_bits"] * L - avg_bits * L) < 1e-6)
                and (size_bits is None or m["size_bits"] <= size_bits + 1e-6)
                and (bitops is None or m["bitops"] <= bitops + 1e-6)
                and all(assignment[i] == b for i, b in (fixed or {}).items()))


def solve(problem: SearchProblem, avg_bits: float | None = None, size_bits: float | None = None,
          bitops: float | None = None, fixed: dict[int, int] | None = None) -> list[int] | None:
    """Optimal per-layer bits, or None when the budgets cannot be met."""
    L, K = problem.cost.shape
    bits = np.asarray(problem.bits, dtype=float)
    rows, lo, hi = [], [], []
    for layer in range(L):  # exactly one bit-width per layer
        row = np.zeros(L * K)
        row[layer * K:(layer + 1) * K] = 1
        rows.append(row)
        lo.append(1)
        hi.append(1)
    if avg_bits is not None:
        rows.append(np.tile(bits, L))
        lo.append(avg_bits * L - 1e-6)
        hi.append(avg_bits * L + 1e-6)
    if size_bits is not None:
        rows.append((problem.params[:, None] * bits[None, :]).reshape(-1))
        lo.append(-np.inf)
        hi.append(size_bits)
    if bitops is not None:
        rows.append((problem.macs[:, None] * bits[None, :] ** 2).reshape(-1))
        lo.append(-np.inf)
        hi.append(bitops)
    upper = np.ones(L * K)
    lower = np.zeros(L * K)
    for layer, b in (fixed or {}).items():
        upper[layer * K:(layer + 1) * K] = 0
        upper[layer * K + problem.bits.index(b)] = 1
        lower[layer * K + problem.bits.index(b)] = 1
    res = milp(problem.cost.reshape(-1), integrality=np.ones(L * K),
               bounds=Bounds(lower, upper), constraints=LinearConstraint(np.array(rows), lo, hi))
    if res.x is None:
        return None
    x = np.round(res.x).reshape(L, K)
    return [problem.bits[int(k)] for k in x.argmax(1)]


def brute_force(problem: SearchProblem, avg_bits: float | None = None,
                size_bits: float | None = None, bitops: float | None = None) -> list[int] | None:
    """Exhaustive reference for small problems (tests)."""
    best, best_obj = None, np.inf
    for assignment in itertools.product(problem.bits, repeat=problem.cost.shape[0]):
        if problem.feasible(list(assignment), avg_bits, size_bits, bitops):
            obj = problem.metrics(list(assignment))["objective"]
            if obj < best_obj - 1e-12:
                best, best_obj = list(assignment), obj
    return best


def pareto_front(points: list[dict], cost_key: str, value_key: str = "objective",
                 maximize: bool = False) -> list[dict]:
    """Points not dominated in (cost_key minimised, value_key min- or maximised), by cost."""
    sign = -1.0 if maximize else 1.0

    def dominates(q: dict, p: dict) -> bool:
        qv, pv = sign * q[value_key], sign * p[value_key]
        return (q[cost_key] <= p[cost_key] and qv <= pv
                and (q[cost_key] < p[cost_key] or qv < pv))

    front = []
    for p in points:
        if not any(dominates(q, p) for q in points) and not any(q["bits"] == p["bits"]
                                                                for q in front):
            front.append(p)
    return sorted(front, key=lambda p: p[cost_key])


def candidate_subnets(problem: SearchProblem, avg_targets: list[float]) -> list[dict]:
    """Algorithm 2: one solve per average-bit target, then re-solves with each layer fixed to
    each alternative bit-width. All distinct SubNets are returned; the Pareto set is taken after
    they are evaluated (pareto_front on accuracy)."""
    found: dict[tuple[int, ...], dict] = {}
    L = problem.cost.shape[0]
    for omega in avg_targets:
        base = solve(problem, avg_bits=omega)
        if base is None:
            continue
        candidates = [base]
        for layer in range(L):
            for b in problem.bits:
                if b != base[layer]:
                    alt = solve(problem, avg_bits=omega, fixed={layer: b})
                    if alt is not None:
                        candidates.append(alt)
        for c in candidates:
            found[tuple(c)] = {"bits": list(c), **problem.metrics(c)}
    return list(found.values())


def layer_macs(model: nn.Module, layers: list[nn.Module], example: torch.Tensor) -> list[float]:
    """Multiply-accumulates per input image of each conv / linear layer (forward hooks)."""
    macs: dict[int, float] = {}

    def hook(module, inputs, output, key):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels / module.groups
            macs[key] = output[0].numel() * k
        else:
            macs[key] = output[0].numel() * module.in_features

    handles = [layer.register_forward_hook(lambda m, i, o, k=j: hook(m, i, o, k))
               for j, layer in enumerate(layers)]
    with torch.no_grad():
        model.eval()
        model(example[:1])
    for h in handles:
        h.remove()
    return [macs[j] for j in range(len(layers))]
