"""Pairs -> padded tensors: context ids with role/turn ids, shifted response, labels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tokenizers import Tokenizer

from diffusiondialog.data import Pair
from diffusiondialog.tokenizer import BOS, EOS, PAD, encode

IGNORE = -100


def context_features(turn_ids: Sequence[list[int]], max_len: int, max_turn: int):
    """`<s> u1 </s> u2 </s> ... un </s>` with role/turn ids counted from the newest turn.

    Newest utterance: turn 2, role 1; older ones count up (capped at max_turn-1) and alternate
    roles 2/1. Special tokens get 0. Long contexts keep the *newest* tokens (the official code
    truncates on the right and so drops the newest turns; we deliberately do not).
    """
    if not turn_ids or not any(turn_ids):
        raise ValueError("context is empty: expected at least one non-empty utterance")
    ids, roles, turns = [], [], []
    n = len(turn_ids)
    for k, utt in enumerate(turn_ids):
        dist = n - 1 - k  # 0 for the newest utterance
        ids += utt + [EOS]
        roles += [1 + dist % 2] * len(utt) + [0]
        turns += [min(2 + dist, max_turn - 1)] * len(utt) + [0]
    keep = max_len - 1
    return [BOS] + ids[-keep:], [0] + roles[-keep:], [0] + turns[-keep:]


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def encode_contexts(tok: Tokenizer, contexts: Sequence[Sequence[str]], max_len: int,
                    max_turn: int) -> dict[str, torch.Tensor]:
    feats = [context_features([encode(tok, u) for u in ctx], max_len, max_turn)
             for ctx in contexts]
    ids = [f[0] for f in feats]
    return {"context_ids": _pad(ids, PAD), "context_mask": _pad([[1] * len(i) for i in ids], 0),
            "roles": _pad([f[1] for f in feats], 0), "turns": _pad([f[2] for f in feats], 0)}


def collate(tok: Tokenizer, pairs: Sequence[Pair], max_source: int, max_target: int,
            max_turn: int) -> dict[str, torch.Tensor]:
    batch = encode_contexts(tok, [p.context for p in pairs], max_source, max_turn)
    resp = [encode(tok, p.response)[: max_target - 1] for p in pairs]
    batch["decoder_input_ids"] = _pad([[EOS] + r for r in resp], PAD)
    batch["decoder_mask"] = _pad([[1] * (len(r) + 1) for r in resp], 0)
    batch["labels"] = _pad([r + [EOS] for r in resp], IGNORE)
    return batch
