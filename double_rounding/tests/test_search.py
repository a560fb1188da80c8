"""ILP SubNet search: equals brute force, budgets hold, Pareto set is non-dominated (A4-11)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from double_rounding.search import (
    SearchProblem,
    brute_force,
    candidate_subnets,
    pareto_front,
    solve,
)


def random_problem(seed: int, layers: int, bits=(4, 3, 2)) -> SearchProblem:
    rng = np.random.default_rng(seed)
    sens = rng.gamma(1.0, 1.0, layers)
    # quantization error falls ~4x per extra bit, as for uniform quantizers
    err = np.array([[4.0 ** -b for b in bits] for _ in range(layers)]) * rng.uniform(0.5, 2,
                                                                                (layers, 1))
    return SearchProblem(list(bits), sens[:, None] * err, rng.integers(10, 1000, layers),
                         rng.integers(100, 10_000, layers))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6), st.sampled_from(["avg", "size", "bitops"]))
def test_ilp_equals_brute_force(seed, layers, budget):
    p = random_problem(seed, layers)
    rng = np.random.default_rng(seed + 1)
    kwargs = {}
    if budget == "avg":
        kwargs["avg_bits"] = rng.integers(2 * layers, 4 * layers + 1) / layers
    elif budget == "size":
        kwargs["size_bits"] = float(p.params.sum() * rng.uniform(2, 4))
    else:
        kwargs["bitops"] = float(p.macs.sum() * rng.uniform(4, 16))
    ilp = solve(p, **kwargs)
    ref = brute_force(p, **kwargs)
    assert (ilp is None) == (ref is None)
    if ilp is not None:
        assert p.feasible(ilp, kwargs.get("avg_bits"), kwargs.get("size_bits"),
                          kwargs.get("bitops"))
        assert p.metrics(ilp)["objective"] == pytest.approx(p.metrics(ref)["objective"])


def test_infeasible_budget_returns_none():
    p = random_problem(0, 4)
    assert solve(p, size_bits=1.0) is None


def test_sensitive_layers_get_more_bits():
    p = SearchProblem([4, 2], np.array([[1.0, 16.0], [0.01, 0.16]]), np.ones(2), np.ones(2))
    assert solve(p, avg_bits=3.0) == [4, 2]


def test_pareto_front_non_dominated():
    p = random_problem(5, 5)
    cands = candidate_subnets(p, [2.0, 2.6, 3.0, 3.4, 4.0])
    assert len(cands) > 5
    front = pareto_front(cands, "avg_bits")
    for a in front:
        for b in cands:
            assert not (b["avg_bits"] <= a["avg_bits"] and b["objective"] < a["objective"] - 1e-12
                        and b["avg_bits"] < a["avg_bits"] + 1e-12)
    # with accuracy (maximised) instead of objective
    pts = [{"bits": [i], "avg_bits": c, "acc": a}
           for i, (c, a) in enumerate([(2, 50), (3, 70), (3, 60), (4, 65), (4, 90)])]
    assert [q["acc"] for q in pareto_front(pts, "avg_bits", "acc", maximize=True)] == [50, 70, 90]
