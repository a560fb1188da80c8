"""RETURN scores (paper Eq. 1-2) with the official code's two bugs fixed, plus CIs over persons.

Forget score FS = 1 - Acc_u(F_test)/Acc_o(F_test); retain score RS = Acc_u(R_test)/Acc_o(R_test);
average = (FS + RS)/2. The official ``src/eval.py`` divides RS by the *forget* pre-accuracy and
averages unclipped values while reporting clipped ones; :func:`official_scores` reproduces that
behaviour only so a regression test can show the difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nauf_return.errors import ConfigError


@dataclass(frozen=True)
class Scores:
    forget: float
    retain: float
    average: float

    def as_dict(self, scale: float = 100.0) -> dict[str, float]:
        return {"forget_score": self.forget * scale, "retain_score": self.retain * scale,
                "average_score": self.average * scale}


def _check_acc(**accs: float) -> None:
    for key, value in accs.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{key} must be an accuracy in [0, 1], got {value}")


def unlearning_scores(
    acc_o_forget: float, acc_u_forget: float, acc_o_retain: float, acc_u_retain: float,
    clip: bool = True,
) -> Scores:
    """Paper scores; ``clip`` bounds FS, RS to [0, 1] *before* averaging (consistently)."""
    _check_acc(acc_o_forget=acc_o_forget, acc_u_forget=acc_u_forget,
               acc_o_retain=acc_o_retain, acc_u_retain=acc_u_retain)
    if acc_o_forget == 0 or acc_o_retain == 0:
        raise ConfigError("original-model accuracy is 0 on forget or retain test: scores undefined")
    fs = 1.0 - acc_u_forget / acc_o_forget
    rs = acc_u_retain / acc_o_retain
    if clip:
        fs, rs = min(max(fs, 0.0), 1.0), min(max(rs, 0.0), 1.0)
    return Scores(fs, rs, (fs + rs) / 2)


def official_scores(
    acc_o_forget: float, acc_u_forget: float, acc_o_retain: float, acc_u_retain: float
) -> tuple[Scores, float]:
    """What the official code reports: (clipped FS/RS with the wrong denominator, its average).

    ``acc_o_retain`` is accepted and ignored on purpose: that is the bug.
    """
    del acc_o_retain
    fs = 1.0 - acc_u_forget / acc_o_forget
    rs = acc_u_retain / acc_o_forget
    return Scores(max(0.0, fs), min(1.0, rs), (fs + rs) / 2), (fs + rs) / 2


def bootstrap_average_ci(
    f_o: np.ndarray, f_u: np.ndarray, r_o: np.ndarray, r_u: np.ndarray,
    n_boot: int = 1000, seed: int = 0, level: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of the average score, resampling forget and retain *persons*.

    Inputs are per-person accuracies (original and unlearned model, aligned by person), so the
    interval reflects which persons happened to be chosen, the unit the paper samples.
    """
    rng = np.random.default_rng(seed)
    f_o, f_u, r_o, r_u = (np.asarray(x, dtype=float) for x in (f_o, f_u, r_o, r_u))
    values = []
    for _ in range(n_boot):
        fi = rng.integers(0, len(f_o), len(f_o))
        ri = rng.integers(0, len(r_o), len(r_o))
        ao_f, ao_r = f_o[fi].mean(), r_o[ri].mean()
        if ao_f == 0 or ao_r == 0:
            continue
        values.append(unlearning_scores(ao_f, f_u[fi].mean(), ao_r, r_u[ri].mean()).average)
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def mean_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of a mean over persons."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(n_boot)]
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)
