"""Second-rounding rules shared by the integer (deployment) path and the float (training) path.

The second rounding divides a stored integer by 2^delta, so exact .5 ties are common (every odd
value ties when delta = 1). The tie rule is therefore part of the algorithm: both paths below
implement the same rule, and tests check them against each other exhaustively.
"""

from __future__ import annotations

import torch

TIE_RULES = ("half_up", "half_even", "floor")


def check_rule(rule: str) -> str:
    if rule not in TIE_RULES:
        raise ValueError(f"rounding rule {rule!r} is unknown; expected one of {TIE_RULES}")
    return rule


def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """Integer clip range [n, p] of a `bits`-bit grid."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def round_float(x: torch.Tensor, rule: str = "half_up") -> torch.Tensor:
    """Round a float tensor to integers (values stay float) with the given tie rule."""
    if rule == "half_up":
        return torch.floor(x + 0.5)
    if rule == "half_even":
        return torch.round(x)  # torch.round is round-half-to-even
    if rule == "floor":
        return torch.floor(x)
    raise ValueError(f"rounding rule {rule!r} is unknown; expected one of {TIE_RULES}")


def shift_round_int(q: torch.Tensor, delta: int, rule: str = "half_up") -> torch.Tensor:
    """Divide integers by 2^delta with the tie rule, using only integer adds and shifts."""
    if delta < 0:
        raise ValueError(f"delta must be >= 0, got {delta}")
    q = q.to(torch.int32)  # room for the rounding offset without int8 overflow
    if delta == 0:
        return q
    if rule == "half_up":
        return (q + (1 << (delta - 1))) >> delta  # >> is an arithmetic (floor) shift
    if rule == "floor":
        return q >> delta
    if rule == "half_even":
        floor = q >> delta
        rem = q - (floor << delta)
        half = 1 << (delta - 1)
        up = (rem > half) | ((rem == half) & (floor % 2 == 1))
        return floor + up.to(torch.int32)
    raise ValueError(f"rounding rule {rule!r} is unknown; expected one of {TIE_RULES}")


def second_round_int(q_high: torch.Tensor, high: int, low: int, rule: str) -> torch.Tensor:
    """Integer path: stored `high`-bit integers -> `low`-bit integers (int32 result)."""
    n, p = int_range(low)
    return shift_round_int(q_high, high - low, rule).clamp(n, p)


def second_round_float(q_high: torch.Tensor, high: int, low: int, rule: str) -> torch.Tensor:
    """Float path of the same second rounding, as used inside fake quantization."""
    n, p = int_range(low)
    return round_float(q_high / 2 ** (high - low), rule).clamp(n, p)
