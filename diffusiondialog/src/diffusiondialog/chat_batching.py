"""Dialogue pairs -> chat-formatted token batches for the decoder-only backbone.

The context is the prompt: turns alternate user/assistant so that the turn being answered is
the user's, in the backbone's ChatML format (`<|im_start|>role\\ntext<|im_end|>\\n`), and the
response is the assistant turn that follows, ended by `<|im_end|>` (the stop token). Contexts
are cut from the oldest turn so the newest turns are kept (as the BART path's left truncation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

START, END = "<|im_start|>", "<|im_end|>"


def stop_id(tok) -> int:
    ids = tok.convert_tokens_to_ids([END])
    if not ids or ids[0] is None or ids[0] == tok.unk_token_id:
        raise ValueError(f"backbone tokenizer has no {END} token (a ChatML model is expected)")
    return ids[0]


def prompt_ids(tok, context: Sequence[str], max_tokens: int) -> list[int]:
    """Newest turns first until `max_tokens`; the oldest kept turn may be cut from the left."""
    kept: list[int] = []
    roles = ["user", "assistant"]
    for back, turn in enumerate(reversed(context)):
        role = roles[back % 2]
        ids = tok.encode(f"{START}{role}\n{turn}{END}\n", add_special_tokens=False)
        room = max_tokens - len(kept)
        if room <= 0:
            break
        kept = ids[-room:] + kept
    head = tok.encode(f"{START}assistant\n", add_special_tokens=False)
    return kept + head


def response_ids(tok, response: str, max_tokens: int) -> list[int]:
    return tok.encode(response, add_special_tokens=False)[: max_tokens - 1] + [stop_id(tok)]


def collate_chat(tok, pairs, max_context: int, max_response: int) -> dict[str, torch.Tensor]:
    """Right-padded prompt+response; labels -100 outside the response; `last` = index of the
    stop token (the posterior reads the state there); `prompt_len` per row."""
    rows = [(prompt_ids(tok, p.context, max_context), response_ids(tok, p.response,
                                                                   max_response)) for p in pairs]
    width = max(len(a) + len(b) for a, b in rows)
    pad = tok.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (a, b) in enumerate(rows):
        seq = torch.tensor(a + b)
        ids[i, :len(seq)] = seq
        mask[i, :len(seq)] = 1
        labels[i, len(a):len(seq)] = torch.tensor(b)
    return {"ids": ids, "mask": mask, "labels": labels,
            "prompt_len": torch.tensor([len(a) for a, _ in rows]),
            "last": torch.tensor([len(a) + len(b) - 1 for a, b in rows])}
