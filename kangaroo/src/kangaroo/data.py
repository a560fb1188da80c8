"""Conversations for adapter training and question files for evaluation.

Training sequences are conversations in the target's chat template with a loss mask on the
assistant tokens (the adapter learns to draft what the target writes, not the user's words).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class Sample:
    input_ids: torch.Tensor  # [T]
    loss_mask: torch.Tensor  # [T] bool, True on assistant tokens


def chitchat_conversations(limit: int, seed: int) -> list[list[dict]]:
    """Human chit-chat dialogues (``chitchat-dataset`` wheel) as alternating user/assistant."""
    import chitchat_dataset

    data = chitchat_dataset.Dataset()
    keys = sorted(data)
    random.Random(seed).shuffle(keys)
    convs = []
    for key in keys:
        turns = [" ".join(u["text"] for u in msg).strip() for msg in data[key]["messages"]]
        turns = [t for t in turns if t]
        if len(turns) >= 2:
            convs.append([{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                          for i, t in enumerate(turns)])
        if len(convs) >= limit:
            break
    return convs


ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
         "chatgpt": "assistant", "bing": "assistant", "bard": "assistant", "system": "system"}


def load_sharegpt(path: str | Path, limit: int, seed: int) -> list[list[dict]]:
    """ShareGPT JSON: a list of {"conversations": [{"from": human|gpt, "value": str}, ...]}."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data.conversations: {path} does not exist (expected "
                                "'chitchat', 'synthetic' or a ShareGPT JSON file)")
    try:
        rows = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON at line {e.lineno} ({e.msg}); expected a "
                         "ShareGPT list of conversations") from None
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a JSON list of conversations (ShareGPT format)")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    convs = []
    for i in order[:limit]:
        turns = rows[i].get("conversations") if isinstance(rows[i], dict) else None
        if not isinstance(turns, list) or not all(
                isinstance(t, dict) and t.get("from") in ROLES and isinstance(t.get("value"), str)
                for t in turns):
            raise ValueError(f"{path}: conversation {i} needs a 'conversations' list of "
                             f"{{'from': one of {sorted(ROLES)}, 'value': str}}")
        convs.append([{"role": ROLES[t["from"]], "content": t["value"]} for t in turns])
    return convs


def encode_conversation(tokenizer, conv: list[dict], max_len: int) -> Sample:  # noqa: ANN001
    """Chat template, then mask the tokens inside assistant contents plus the end-of-turn token
    right after each (the model must also learn to draft the end of its turn)."""
    text = tokenizer.apply_chat_template(conv, tokenize=False)
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    spans, cursor = [], 0
    for turn in conv:
        at = text.find(turn["content"], cursor)
        if at < 0:
            continue
        cursor = at + len(turn["content"])
        if turn["role"] == "assistant":
            spans.append((at, cursor))
    offsets = enc["offset_mapping"][:max_len]
    ids = torch.tensor(enc["input_ids"][:max_len])
    mask = torch.zeros(len(ids), dtype=torch.bool)
    for a, b in spans:
        inside = [i for i, (s, e) in enumerate(offsets) if e > s and s >= a and e <= b]
        if inside:
            mask[inside[0]: min(inside[-1] + 2, len(ids))] = True
    return Sample(ids, mask)


def synthetic_samples(vocab_size: int, count: int, length: int, seed: int) -> list[Sample]:
    """Token sequences for tokenizer-less targets (smoke runs): random 'user' half, loss on the
    second half."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        ids = torch.randint(0, vocab_size, (length,), generator=gen)
        mask = torch.zeros(length, dtype=torch.bool)
        mask[length // 2:] = True
        out.append(Sample(ids, mask))
    return out


# -- benchmark questions -------------------------------------------------------------------------
@dataclass
class Question:
    question_id: object
    category: str
    turns: list[str]


def load_questions(path: str | Path, limit: int | None = None) -> list[Question]:
    """``question.jsonl`` (MT-bench / Spec-Bench layout: question_id, category, turns);
    every row is validated, errors name the file and line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"eval.benchmarks: {path} does not exist")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e.msg}); expected one question object "
                             "per line") from None
        turns = row.get("turns") if isinstance(row, dict) else None
        if (not isinstance(turns, list) or not turns or "question_id" not in row
                or not all(isinstance(t, str) for t in turns)):
            raise ValueError(f"{path}:{n}: expected an object with 'question_id' and 'turns' "
                             "(a non-empty list of strings), as in question.jsonl")
        out.append(Question(row["question_id"], str(row.get("category", "")), turns))
        if limit and len(out) >= limit:
            break
    if not out:
        raise ValueError(f"{path}: no questions in the file")
    return out
